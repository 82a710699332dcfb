package testcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/airut-go/airut/internal/testing/testcert"
)

func TestCertServesLoopbackTLS(t *testing.T) {
	c, err := testcert.New("example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		t.Fatalf("PEM pair does not load: %v", err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	tests := []struct {
		name string
		pool *x509.CertPool
		ok   bool
	}{
		{"trusted through Pool", c.Pool, true},
		{"untrusted without it", x509.NewCertPool(), false},
	}
	for _, tt := range tests {
		conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: tt.pool, ServerName: "127.0.0.1"})
		if (err == nil) != tt.ok {
			t.Errorf("%s: handshake error = %v", tt.name, err)
		}
		if conn != nil {
			conn.Close()
		}
	}
}
