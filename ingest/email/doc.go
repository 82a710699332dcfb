// Package email is the email channel's inbound side: it parses and
// authenticates mail (DMARC via the first Authentication-Results header of
// the trusted server, then the sender allowlist), finds the conversation a
// message continues, and runs the per-repo mailbox Listener that hands each
// accepted message to its workflow before deleting it from the mailbox.
//
// Parsing, authentication and threading are pure functions; only the
// Listener does I/O (IMAP, Temporal, the attachments directory).
package email
