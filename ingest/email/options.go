package email

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

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

// tlsWithCA returns a TLS config trusting the system roots plus caFile, or
// nil when no CA file is configured.
func tlsWithCA(server, caFile string, log *slog.Logger) *tls.Config {
	if caFile == "" {
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(caFile)
	if err == nil && !pool.AppendCertsFromPEM(pem) {
		err = fmt.Errorf("no PEM certificates in %s", caFile)
	}
	if err != nil {
		// The connection then fails verification with a message that
		// names the server; say why here too.
		log.Error("ca_file not usable", "file", caFile, "error", err)
	}
	return &tls.Config{ServerName: server, RootCAs: pool, MinVersion: tls.VersionTLS12}
}
