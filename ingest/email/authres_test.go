package email

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseAuthResults shows how comments, quoted strings and keywords
// are read.
func TestParseAuthResults(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  authResults
		err   string
	}{
		{name: "results with properties",
			value: "mx.example.com 1; spf=pass smtp.mailfrom=pat@example.org; dmarc=pass (p=REJECT) header.from=example.org",
			want: authResults{id: "mx.example.com", hasID: true, results: []authResult{
				{method: "spf", result: "pass", props: map[string]string{"smtp.mailfrom": "pat@example.org"}},
				{method: "dmarc", result: "pass", props: map[string]string{"header.from": "example.org"}},
			}}},
		{name: "no authserv-id", value: "spf=pass smtp.mailfrom=example.org;dmarc=pass action=none header.from=example.org",
			want: authResults{results: []authResult{
				{method: "spf", result: "pass", props: map[string]string{"smtp.mailfrom": "example.org"}},
				{method: "dmarc", result: "pass", props: map[string]string{"action": "none", "header.from": "example.org"}},
			}}},
		{name: "comments anywhere, nested and escaped",
			value: `(a) mx.example.com (b; c) ; (d (e; f) \) g) DKIM/1 (h) = (i) Pass (j) reason = "x; (y)" header.d=(k)example.org(l)`,
			want: authResults{id: "mx.example.com", hasID: true, results: []authResult{
				{method: "dkim", result: "pass", props: map[string]string{"reason": "x; (y)", "header.d": "example.org"}},
			}}},
		{name: "quoted local part stays in its word",
			value: `mx.example.com; spf=pass smtp.mailfrom="a;dmarc=pass \"b"@evil.example`,
			want: authResults{id: "mx.example.com", hasID: true, results: []authResult{
				{method: "spf", result: "pass", props: map[string]string{"smtp.mailfrom": `"a;dmarc=pass \"b"@evil.example`}},
			}}},
		{name: "quoted authserv-id", value: `"mx.example.com"; none`, want: authResults{id: "mx.example.com", hasID: true}},
		{name: "empty results", value: "mx.example.com;; dmarc=none header.from=example.org;",
			want: authResults{id: "mx.example.com", hasID: true, results: []authResult{
				{method: "dmarc", result: "none", props: map[string]string{"header.from": "example.org"}},
			}}},
		{name: "unsupported version", value: "mx.example.com 2; dmarc=pass", err: `unsupported version "2"`},
		{name: "word after authserv-id", value: "mx.example.com x=y dmarc=pass", err: "expected ';' after authserv-id"},
		{name: "unterminated quoted string", value: `mx.example.com; spf=pass smtp.helo="x`, err: "unterminated quoted string"},
		{name: "unbalanced parenthesis", value: "mx.example.com; spf=pass) dmarc=pass", err: "unbalanced ')'"},
		{name: "value that is a result", value: "mx.example.com; spf=pass smtp.helo=dmarc=pass", err: "expected spf property"},
		{name: "property without value", value: "mx.example.com; dmarc=pass header.from=", err: "header.from has no value"},
		{name: "bare word", value: "mx.example.com; dmarc=pass example.org", err: "expected '=' after example.org"},
		{name: "quoted method", value: `mx.example.com; "dmarc"=pass`, err: "expected method"},
		{name: "quoted result", value: `mx.example.com; dmarc="pass"`, err: "expected dmarc result"},
		{name: "empty method", value: "mx.example.com; /1=pass", err: "empty method"},
		{name: "empty", value: " (only a comment) ", err: "no authserv-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthResults(tt.value)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// formatAuthResults writes ar back as a header value, every value quoted.
func formatAuthResults(ar authResults) string {
	var b strings.Builder
	if ar.hasID {
		b.WriteString(quoteAR(ar.id))
	}
	for i, r := range ar.results {
		if ar.hasID || i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.method + "=" + r.result)
		for _, k := range slices.Sorted(maps.Keys(r.props)) {
			b.WriteString(" " + k + "=" + quoteAR(r.props[k]))
		}
	}
	return b.String()
}

func quoteAR(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// FuzzAuthResults checks the Authentication-Results parser: it reads back
// what it parsed, and no text inside a comment or a quoted string ever
// becomes a result, which is what injection would need.
func FuzzAuthResults(f *testing.F) {
	for _, v := range []string{
		"mx.example.com; spf=pass smtp.mailfrom=pat@example.org; dmarc=pass (p=REJECT) header.from=example.org",
		"spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=example.org; dkim=pass (signature was verified) header.d=example.org;dmarc=pass action=none header.from=example.org;compauth=pass reason=100",
		`mx.example.com; spf=pass (domain of "x;dmarc=pass"@evil.example designates 192.0.2.1) smtp.mailfrom="x;dmarc=pass"@evil.example`,
		`mx.example.com 1; dkim/1=pass (a (b\) c); d) reason="e\"f" header.i=@example.org`,
		"mx.example.com; none",
		"x; dmarc=pass header.from=",
		`"id"; a=b c=d e=f; ;`,
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if ar, err := parseAuthResults(v); err == nil {
			again, err := parseAuthResults(formatAuthResults(ar))
			if err != nil {
				t.Fatalf("%q parsed as %+v, which formats as %q, unparsable: %v", v, ar, formatAuthResults(ar), err)
			}
			if !reflect.DeepEqual(ar, again) {
				t.Fatalf("%q parsed as %+v, but its formatting %q as %+v", v, ar, formatAuthResults(ar), again)
			}
		}
		comment := "(" + strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`).Replace(v) + ")"
		inComment, err := parseAuthResults("mx.example.com; spf=pass " + comment + " smtp.helo=x " + comment)
		if err != nil || len(inComment.results) != 1 || inComment.results[0].props["smtp.helo"] != "x" {
			t.Fatalf("comment %q changed the results: %+v, %v", comment, inComment, err)
		}
		inQuotes, err := parseAuthResults("mx.example.com; spf=pass smtp.helo=" + quoteAR(v) + " smtp.mailfrom=" + quoteAR(v) + "@evil.example")
		if err != nil || len(inQuotes.results) != 1 || inQuotes.results[0].props["smtp.helo"] != v {
			t.Fatalf("quoted %q changed the results: %+v, %v", v, inQuotes, err)
		}
	})
}
