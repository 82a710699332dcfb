package email

import (
	"crypto/tls"
	"log/slog"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/imapbox"
)

// IMAPOptions turns a repo's email config into mailbox options.
func IMAPOptions(e config.Email, log *slog.Logger) imapbox.Options {
	return imapbox.Options{
		Server: e.IMAP.Server, Port: e.IMAP.Port,
		Username: e.Account.Username, Password: e.Account.Password,
		TLS: e.IMAP.TLS, TLSConfig: tlsWithCA(e.IMAP.Server, e.IMAP.CAFile, log),
		ConnectRetries: e.IMAP.ConnectRetries, Logger: log,
	}
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
