package email

import (
	"crypto/tls"
	"log/slog"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/imapbox"
	"github.com/airut-go/airut/internal/mailauth"
)

// IMAPOptions turns a repo's email config into mailbox options; logins
// of a Microsoft 365 mailbox take their tokens from auths (kept there, so
// that the connections of a process share them).
func IMAPOptions(e config.Email, auths *mailauth.Cache, log *slog.Logger) imapbox.Options {
	o := imapbox.Options{
		Server: e.IMAP.Server, Port: e.IMAP.Port,
		Username: e.Account.Username, Password: e.Account.Password,
		TLS: e.IMAP.TLS, TLSConfig: tlsWithCA(e.IMAP.Server, e.IMAP.CAFile, log),
		ConnectRetries: e.IMAP.ConnectRetries, Logger: log,
	}
	if ms := e.Microsoft(); ms != nil {
		o.Auth = auths.For(e.Account.Username, "", ms)
	}
	return o
}

// tlsWithCA trusts the system roots plus caFile; a file that cannot be
// used is logged (the connection then fails verification, naming the
// server).
func tlsWithCA(server, caFile string, log *slog.Logger) *tls.Config {
	tc, err := config.TLSWithCA(server, caFile)
	if err != nil {
		log.Error("ca_file not usable", "file", caFile, "error", err)
	}
	return tc
}
