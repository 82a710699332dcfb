// Package mailauth is how Airut proves who it is to a mail server: a
// password (SASL PLAIN), or an OAuth2 access token (SASL XOAUTH2) from
// Microsoft's identity platform for a Microsoft 365 mailbox, fetched with
// the client-credentials flow and cached until shortly before it expires.
// A connection asks for its SASL client when it authenticates, so each
// gets a token that is good then.
//
// It speaks SASL only; the IMAP and SMTP connections are the callers'.
package mailauth
