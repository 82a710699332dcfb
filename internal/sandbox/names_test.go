package sandbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/proxy"
)

// Names and labels are how a restarted worker finds what a previous one
// left: they must stay what earlier releases wrote.
func TestNamesAndLabels(t *testing.T) {
	if got := sandbox.ConversationName("MyRepo", "0123abcd"); got != "myrepo-0123abcd" {
		t.Errorf("ConversationName = %q", got)
	}
	l := sandbox.Labels("h1", "MyRepo", "0123abcd", "t1")
	want := map[string]string{"airut.host": "h1", "airut.repo": "MyRepo", "airut.conversation": "0123abcd", "airut.task": "t1"}
	if len(l) != len(want) {
		t.Errorf("Labels = %v, want %v", l, want)
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("Labels[%s] = %q, want %q", k, l[k], v)
		}
	}
}

// Each run gets fresh surrogates; the real values never become one.
func TestSurrogates(t *testing.T) {
	in := proxy.Credentials{Masked: []proxy.Secret{
		{Name: "Z_TOKEN", Value: "real-z-value-123", Scopes: []string{"z.example"}},
		{Name: "EMPTY"},
		{Name: "A_TOKEN", Value: "real-a-value-456"},
	}}
	firstC, secondC := sandbox.Surrogates(in), sandbox.Surrogates(in)
	first, second := firstC.Masked, secondC.Masked
	if len(first) != 2 || first[0].Name != "A_TOKEN" || first[1].Name != "Z_TOKEN" {
		t.Fatalf("Surrogates = %+v, want A_TOKEN and Z_TOKEN in order, EMPTY left out", first)
	}
	for i, s := range first {
		if s.Surrogate == "" || s.Surrogate == s.Value || strings.Contains(s.Surrogate, s.Value) {
			t.Errorf("%s surrogate %q gives the value away", s.Name, s.Surrogate)
		}
		if s.Surrogate == second[i].Surrogate {
			t.Errorf("%s got the same surrogate twice", s.Name)
		}
	}
	if first[1].Value != "real-z-value-123" || first[1].Scopes[0] != "z.example" {
		t.Errorf("Z_TOKEN = %+v, want its value and scopes kept for the proxy", first[1])
	}
}

// The proxy trusts the host's CAs plus the configured extra one; a
// configured file that is missing is reported by its key.
func TestTrustBundle(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "corp.pem")
	if err := os.WriteFile(extra, []byte("CORP CA"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := sandbox.TrustBundle(extra)
	if err != nil || !strings.HasSuffix(string(got), "\nCORP CA") {
		t.Errorf("TrustBundle(extra) = …%q, %v; want the extra CA appended", tail(got), err)
	}
	if _, err := sandbox.TrustBundle(filepath.Join(t.TempDir(), "missing.pem")); err == nil || !strings.HasPrefix(err.Error(), "network.upstream_ca_file: ") {
		t.Errorf("TrustBundle(missing) error = %v, want one naming network.upstream_ca_file", err)
	}
}

func tail(b []byte) string {
	if len(b) > 20 {
		b = b[len(b)-20:]
	}
	return string(b)
}

// A configured proxy binary must exist; without one, airut-proxy on PATH
// is found.
func TestProxyBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "airut-proxy")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := sandbox.ProxyBinary(bin); err != nil || got != bin {
		t.Errorf("ProxyBinary(configured) = %q, %v", got, err)
	}
	if _, err := sandbox.ProxyBinary(filepath.Join(dir, "nope")); !errors.Is(err, sandbox.ErrNoProxyBinary) || !strings.Contains(err.Error(), filepath.Join(dir, "nope")) {
		t.Errorf("ProxyBinary(missing) error = %v, want ErrNoProxyBinary naming the path", err)
	}
	t.Setenv("PATH", dir)
	if got, err := sandbox.ProxyBinary(""); err != nil || got != bin {
		t.Errorf("ProxyBinary(\"\") with it on PATH = %q, %v", got, err)
	}
}
