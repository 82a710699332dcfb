// Package mrkdwn turns the coding agent's Markdown replies into Slack
// mrkdwn, and splits long mrkdwn into message-sized chunks.
//
// Render parses CommonMark plus the GitHub extensions (tables,
// strikethrough, task lists, bare-URL autolinks) with goldmark and walks the
// resulting syntax tree with a renderer of its own; it does no regular
// expression rewriting of the source. The mapping:
//
//	**b** / __b__         *b*
//	*i* / _i_             _i_
//	~~s~~                 ~s~
//	`code`                `code`
//	fenced/indented code  ``` block, language hint dropped
//	# Heading             *Heading* on its own line
//	[text](url)           <url|text>, or <url> when text equals url
//	![alt](url)           <url|alt>
//	- item / 1. item      • item / 1. item; nested lists indented four
//	                      spaces per level with ◦ bullets
//	- [ ] / - [x]         • ☐ item / • ☑ item
//	table                 column-aligned plain-text table in a ``` block
//	---                   ———
//	> quote               every line prefixed "> "
//	raw HTML              shown as literal text
//
// Paragraphs and other blocks are separated by a blank line. Emphasis is
// reapplied on every line it spans (Slack formatting does not cross line
// breaks) and the same kind of emphasis is never nested. Emphasis that
// Markdown allows inside a word (foo**bar**baz) keeps its literal asterisks,
// because Slack only formats at word boundaries.
//
// What the package must not do:
//
//   - emit any entity but Slack's three (&amp; &lt; &gt;): every '&', '<'
//     and '>' coming from the reply is escaped, in text, code and URLs
//     alike; named and numeric Markdown entities are decoded first;
//   - emit a raw '<' except to open a link it built itself, and only for
//     http, https and mailto URLs, so that nothing the agent writes
//     (<!channel>, <!here>, <@U123>, <#C123>, <javascript:…>) can become a
//     live mention, broadcast or link; other URLs are shown as plain text;
//   - emit "```" except as the fences of a code block it opened and will
//     close: runs of three or more backticks in the content are broken
//     with a zero-width space, and backticks inside inline code are
//     replaced with ˋ (U+02CB), as Slack cannot escape them;
//   - emit invalid UTF-8 (invalid input bytes become U+FFFD).
//
// Slack itself turns plain "@channel"/"@here" into broadcasts only when a
// message is posted with link_names or parse=full; callers must not set
// them for rendered text.
//
// Split cuts rendered text into chunks no longer than a rune limit,
// preferring paragraph boundaries, then line boundaries, then hard slices,
// and closes and reopens a ``` fence around any cut it has to make inside a
// code block. Neither function does any I/O; both are safe for concurrent
// use.
package mrkdwn
