package sandbox

import (
	"errors"
	"fmt"
	"os"
)

// The sandbox CA in the agent container, and the system CA bundles around
// it. The proxy signs the agent's TLS connections with the CA, so the
// agent must trust it: the certificate is mounted at CACertPath, named in
// the variables common TLS stacks read (Apply), and appended to the
// image's system bundle by the overlay's entrypoint (Images).
const (
	// CACertPath is where the sandbox CA certificate is mounted.
	CACertPath = "/usr/local/share/ca-certificates/airut-ca.crt"

	// The system CA bundles of Debian, Fedora and Alpine.
	bundleDebian = "/etc/ssl/certs/ca-certificates.crt"
	bundleFedora = "/etc/pki/tls/certs/ca-bundle.crt"
	bundleAlpine = "/etc/ssl/cert.pem"
)

// systemBundles are where the common distributions keep the system CAs,
// in the order they are looked for.
func systemBundles() []string { return []string{bundleDebian, bundleFedora, bundleAlpine} }

// caEnv are the variables that point common TLS stacks (Node, OpenSSL,
// Python requests, curl, git) at a CA file.
func caEnv() []string {
	return []string{"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"}
}

// TrustBundle is what the proxy verifies upstream servers against: the
// host's system CA bundle plus extraCAFile (network.upstream_ca_file, a
// private GitHub Enterprise or TLS gateway), if set.
func TrustBundle(extraCAFile string) ([]byte, error) {
	var out []byte
	for _, p := range systemBundles() {
		if data, err := os.ReadFile(p); err == nil {
			out = append(out, data...)
			break
		}
	}
	if extraCAFile != "" {
		data, err := os.ReadFile(extraCAFile)
		if err != nil {
			return nil, fmt.Errorf("network.upstream_ca_file: %w", err)
		}
		out = append(append(out, '\n'), data...)
	}
	if len(out) == 0 {
		return nil, errors.New("no system CA bundle found (install ca-certificates) and no network.upstream_ca_file set")
	}
	return out, nil
}
