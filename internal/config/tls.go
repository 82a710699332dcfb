package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSWithCA is the client TLS configuration for server that trusts the
// system roots plus the PEM certificates in caFile (a private CA, as the
// email ca_file keys allow). It returns nil, nil when caFile is empty. An
// unreadable or empty file is an error; the configuration returned with it
// still trusts the system roots, so the caller can log and go on.
func TLSWithCA(server, caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	cfg := &tls.Config{ServerName: server, RootCAs: pool, MinVersion: tls.VersionTLS12}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return cfg, fmt.Errorf("ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return cfg, fmt.Errorf("ca_file %s: no PEM certificates found", caFile)
	}
	return cfg, nil
}
