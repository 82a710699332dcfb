package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/sandbox"
)

// The reply footer counts what the sandbox refused after the run's start
// offset: HTTP requests and raw connections, not DNS, not allowed ones.
func TestCountSince(t *testing.T) {
	before := `{"kind":"http","method":"GET","host":"old.test","path":"/","allowed":false}` + "\n"
	run := strings.Join([]string{
		`{"kind":"http","method":"POST","host":"api.test","path":"/v1","allowed":true}`,
		`{"kind":"http","method":"GET","host":"blocked.test","path":"/x","allowed":false}`,
		`{"kind":"dns","method":"AAAA","host":"api.test.","allowed":false}`,
		`{"kind":"tcp","host":"203.0.113.5:22","allowed":false}`,
		`{"kind":"http","method":"GET","host":"blocked.test","path":"/x","allowed":false}`,
		`{"kind":"udp","host":"203.0.113.5:5353","allowed":false}`,
		`{"kind":"http","method":"PUT","host":"fourth.test","path":"/","allowed":false}`,
		`not json`,
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "network.log")
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	start := sandbox.LogOffset(path)
	if start != int64(len(before)) {
		t.Fatalf("LogOffset = %d, want the log's size %d", start, len(before))
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(run)
	f.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name     string
		path     string
		offset   int64
		allowed  int
		n        int
		examples []string
	}{
		{"this run", path, start, 1, 5, []string{"GET blocked.test/x", "raw TCP to 203.0.113.5:22 (never allowed)", "raw UDP to 203.0.113.5:5353 (never allowed)"}},
		{"whole log", path, 0, 1, 6, []string{"GET old.test/", "GET blocked.test/x", "raw TCP to 203.0.113.5:22 (never allowed)"}},
		{"no log", missing, sandbox.LogOffset(missing), 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sandbox.CountSince(tt.path, tt.offset)
			if c.Allowed != tt.allowed || c.Blocked != tt.n || strings.Join(c.Examples, "|") != strings.Join(tt.examples, "|") {
				t.Errorf("CountSince = %+v, want %d allowed, %d blocked %q", c, tt.allowed, tt.n, tt.examples)
			}
		})
	}
}
