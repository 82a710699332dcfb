// Package smtptest is an in-process SMTP sink for tests, built on
// go-smtp's server. [NewServer] listens on 127.0.0.1, keeps every message
// it accepts in memory for the test to inspect ([Server.Messages],
// [Server.WaitFor]), and can require AUTH PLAIN, offer STARTTLS (or speak
// implicit TLS) with a throwaway self-signed certificate, and fail DATA
// with chosen SMTP codes so that retry and error paths can be exercised.
//
// It is a test double and nothing else: production code must not import
// it, it never relays or delivers anything, and it listens only on
// loopback.
package smtptest
