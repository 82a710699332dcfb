// Package mailout is the outbound side of the email channel: it turns the
// agent's Markdown reply into an RFC 5322 message ([Compose], with the HTML
// alternative from [RenderHTML]) and hands it to an SMTP server ([Send]).
// It is also the one home of the threading rules of a reply
// ([ReplySubject], [NewMessageID], [ThreadHeaders]): the listener in
// ingest/email only recognises what they write.
//
// It must not decide anything about conversations, retries or what to do
// when delivery fails: [Send] reports a [SendError] that says whether the
// failure is permanent, and the caller decides. It never reads mail, never
// removes the files it attaches, never passes HTML from the Markdown through
// to the HTML part (raw HTML is shown as text), and never sends a password
// over a connection that is not encrypted unless the configuration says
// TLS "none" (tests only).
package mailout
