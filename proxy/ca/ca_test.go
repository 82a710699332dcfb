package ca

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func pool(t *testing.T, c *CA) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(c.CertPEM()) {
		t.Fatal("bad CA PEM")
	}
	return p
}

func TestLoadOrCreate(t *testing.T) {
	dir1 := filepath.Join(t.TempDir(), "ca")
	dir2 := filepath.Join(t.TempDir(), "ca")
	a, err := LoadOrCreate(dir1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir2)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.CertPEM(), b.CertPEM()) {
		t.Fatal("two installs produced the same CA")
	}
	if a.Certificate().Subject.CommonName == b.Certificate().Subject.CommonName {
		t.Fatal("CNs should carry a random suffix")
	}
	if !strings.HasPrefix(a.Certificate().Subject.CommonName, "Airut sandbox CA ") {
		t.Fatalf("CN = %q", a.Certificate().Subject.CommonName)
	}
	ca := a.Certificate()
	if !ca.IsCA || ca.NotAfter.Before(time.Now().Add(9*365*24*time.Hour)) {
		t.Fatalf("bad CA: isCA=%v notAfter=%v", ca.IsCA, ca.NotAfter)
	}
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{KeyFile, 0o600}, {CertFile, 0o644}} {
		st, err := os.Stat(filepath.Join(dir1, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s mode = %v, want %v", f.name, st.Mode().Perm(), f.mode)
		}
	}
	if bytes.Contains(a.CertPEM(), []byte("PRIVATE")) {
		t.Fatal("CertPEM leaks key")
	}
	again, err := LoadOrCreate(dir1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.CertPEM(), a.CertPEM()) {
		t.Fatal("reload produced a different CA")
	}
	// A leaf from the reloaded CA verifies against the original's pool.
	leaf, err := again.Leaf("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool(t, a)}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateHalfState(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CertFile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("want error for cert without key")
	}
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, CertFile), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir2, KeyFile), []byte("junk"), 0o600)
	if _, err := LoadOrCreate(dir2); err == nil {
		t.Fatal("want error for garbage files")
	}
}

// Tasks starting at once on a fresh install (or two processes sharing the
// state dir) all get the one CA, none an error.
func TestLoadOrCreateConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := filepath.Join(t.TempDir(), "ca")
		const n = 8
		certs := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				c, err := LoadOrCreate(dir)
				errs[i] = err
				if err == nil {
					certs[i] = c.CertPEM()
				}
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d caller %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(certs[i], certs[0]) {
				t.Fatalf("round %d: callers got different CAs", round)
			}
		}
	}
}

func TestLeaf(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sni     string
		verify  string
		wantErr bool
	}{
		{"dns", "api.github.com", "api.github.com", false},
		{"dns upper + dot", "API.GitHub.com.", "api.github.com", false},
		{"ipv4", "10.199.1.100", "10.199.1.100", false},
		{"ipv6", "2001:db8::1", "2001:db8::1", false},
		{"empty", "", "", true},
		{"slash", "a/b", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leaf, err := c.Leaf(tc.sni)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: tc.verify, Roots: pool(t, c)}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: tc.verify, Roots: pool(t, other)}); err == nil {
				t.Fatal("leaf verified against a foreign CA")
			}
			if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: pool(t, c)}); err == nil {
				t.Fatal("leaf verified for another name")
			}
			if d := time.Until(leaf.Leaf.NotAfter); d > 7*24*time.Hour || d < 6*24*time.Hour {
				t.Fatalf("leaf validity %v", d)
			}
			again, _ := c.Leaf(tc.sni)
			if again != leaf {
				t.Fatal("leaf not cached")
			}
		})
	}
}

func TestLeafCacheBoundedAndRenewed(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.SetCacheSize(3)
	first, _ := c.Leaf("a.example")
	for _, n := range []string{"b.example", "c.example", "d.example", "e.example"} {
		if _, err := c.Leaf(n); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.cacheLen(); got != 3 {
		t.Fatalf("cache len %d, want 3", got)
	}
	if again, _ := c.Leaf("a.example"); again == first {
		t.Fatal("evicted entry still returned")
	}
	// Renewal near expiry.
	cur, _ := c.Leaf("e.example")
	c.mu.Lock()
	c.now = func() time.Time { return time.Now().Add(6*24*time.Hour + time.Hour) }
	c.mu.Unlock()
	if renewed, _ := c.Leaf("e.example"); renewed == cur {
		t.Fatal("near-expiry leaf not renewed")
	}
}

func TestLeafConcurrent(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.SetCacheSize(4)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := []string{"a.x", "b.x", "c.x", "d.x", "e.x", "f.x"}[i%6]
			if _, err := c.Leaf(name); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if c.cacheLen() > 4 {
		t.Fatal("cache exceeded bound")
	}
}
