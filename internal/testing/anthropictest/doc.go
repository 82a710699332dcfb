// Package anthropictest is a scripted stand-in for the Anthropic Messages API,
// for tests only; it is never used in production code.
//
// It lets a test run the real Claude Code CLI (claude -p --output-format
// stream-json …) without a real model: [NewServer] starts an HTTP server on
// 127.0.0.1 and [ClientEnv] gives the environment that points the CLI at it.
// The "model" is driven by directives written in the prompt, one per line
// (leading spaces are ignored; <system-reminder> blocks that the CLI adds
// around the prompt are not searched):
//
//	TODO: a; b; c            first turn: a TodoWrite tool_use with these items
//	                         (TaskCreate tool_uses, one per item, when the
//	                         request offers TaskCreate but not TodoWrite)
//	RUN: <shell command>     a Bash tool_use for the command; one per model
//	                         turn, in order; the next one after each tool_result
//	REPLY: <text>            the final assistant text (several REPLY lines are
//	                         joined by newlines); default "Done." followed by
//	                         the last tool output, trimmed and bounded
//	RECALL                   (the whole line) the final text is "I remember: p1 | p2 | …", the
//	                         first line of every earlier prompt of the
//	                         conversation that the request carries
//	FAIL: prompt-too-long    HTTP 400 invalid_request_error "prompt is too
//	                         long: N tokens > M maximum", as the real API says
//	FAIL: <status>           that HTTP status with the real API's error body
//	                         (500 api_error, 529 overloaded_error, 429 …)
//
// The script is stateless: every request is answered from the conversation it
// carries. The newest user message with text of its own and no tool results
// is the prompt; the tool calls after it tell how far the script has got. So
// retries, resumed sessions and parallel CLIs all work against one server.
//
// Requests that carry no tools (the CLI's side calls: titles, summaries,
// memory selection, hook prompts, quota probes) are answered with a short
// text, or with a minimal JSON instance of the requested json_schema output
// format. Other paths (HEAD /, count_tokens, models, /api/… ) get quick,
// plausible answers and are recorded by [Server.OtherRequests].
package anthropictest
