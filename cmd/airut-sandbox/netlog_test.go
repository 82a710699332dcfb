package main

import (
	"testing"
	"time"
)

func TestFormatLogLine(t *testing.T) {
	for line, want := range map[string]string{
		`{"kind":"http","method":"GET","host":"evil.example","path":"/up","status":403,"allowed":false,"reason":"host/path not allowed"}`: "[net] BLOCKED GET evil.example/up -> 403 (host/path not allowed)",
		`{"kind":"http","method":"POST","host":"api.github.com","path":"/graphql","status":200,"allowed":true,"swapped":["GH_TOKEN"]}`:    "[net] ALLOWED POST api.github.com/graphql -> 200 (masked secret swapped in: GH_TOKEN)",
		`{"kind":"tcp","host":"10.0.0.5:22","allowed":false,"reason":"raw_tcp_blocked"}`:                                                  "[net] BLOCKED raw TCP to 10.0.0.5:22 (only HTTP and HTTPS leave the sandbox)",
		`not json`: "[net] not json",
	} {
		got, ok := formatLogLine([]byte(line))
		if !ok || got != want {
			t.Errorf("formatLogLine(%s) = %q, %v; want %q", line, got, ok, want)
		}
	}
	if got, ok := formatLogLine([]byte(`{"kind":"dns","method":"A","host":"x.","allowed":true}`)); ok {
		t.Errorf("DNS lines are left out, got %q", got)
	}
}

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "90": 90 * time.Second, "2s": 2 * time.Second, "1h30m": 90 * time.Minute} {
		if got, err := parseTimeout(in); err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "soon", "-3s"} {
		if _, err := parseTimeout(in); err == nil {
			t.Errorf("parseTimeout(%q) accepted", in)
		}
	}
}
