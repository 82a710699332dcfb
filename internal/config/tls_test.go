package config_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/testing/testcert"
)

func TestTLSWithCA(t *testing.T) {
	dir := t.TempDir()
	c, err := testcert.New("ca")
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, c.CertPEM, 0o644)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o644)
	tests := []struct {
		name, file, errHas string
		nilConfig          bool
	}{
		{"no ca_file", "", "", true},
		{"valid CA", good, "", false},
		{"missing file", filepath.Join(dir, "nope.pem"), "no such file", false},
		{"no PEM in file", junk, "no PEM certificates", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := config.TLSWithCA("mail.example.com", tt.file)
			if (tc == nil) != tt.nilConfig {
				t.Fatalf("config = %v, want nil: %v", tc, tt.nilConfig)
			}
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("err = %v, want %q", err, tt.errHas)
			}
			if tc != nil && tc.ServerName != "mail.example.com" {
				t.Errorf("ServerName = %q", tc.ServerName)
			}
			if tt.name == "valid CA" {
				if _, err := c.TLS.Leaf.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "127.0.0.1"}); err != nil {
					t.Errorf("the CA's certificate is not trusted: %v", err)
				}
			}
		})
	}
}
