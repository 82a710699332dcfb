package allowlist

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const sample = `
domains: ["*.githubusercontent.com", "pypi.org"]
url_prefixes:
  - host: api.github.com
    path: /repos/org/repo*
    methods: [GET, post]
    graphql:
      queries: ["*"]
      mutations: [createPullRequest]
      subscriptions: []
  - host: "*.example.com"
    path: ""
  - host: api.anthropic.com
    path: /v1/messages
    methods: [POST]
  - host: exact.test
    path: /api
    methods: [GET]
  - host: exact.test
    path: /api
    methods: [DELETE]
  - host: issues.test
    path: /repos/*/issues
    methods: [POST]
    websocket: true
`

func mustParse(t testing.TB, s string) *List {
	t.Helper()
	l, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return l
}

func TestParse(t *testing.T) {
	l := mustParse(t, sample)
	want := &List{
		Domains: []string{"*.githubusercontent.com", "pypi.org"},
		URLPrefixes: []Prefix{
			{Host: "api.github.com", Path: "/repos/org/repo*", Methods: []string{"GET", "POST"},
				GraphQL: &GraphQL{Queries: []string{"*"}, Mutations: []string{"createPullRequest"}, Subscriptions: []string{}}},
			{Host: "*.example.com"},
			{Host: "api.anthropic.com", Path: "/v1/messages", Methods: []string{"POST"}},
			{Host: "exact.test", Path: "/api", Methods: []string{"GET"}},
			{Host: "exact.test", Path: "/api", Methods: []string{"DELETE"}},
			{Host: "issues.test", Path: "/repos/*/issues", Methods: []string{"POST"}, WebSocket: true},
		},
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("Parse =\n%#v\nwant\n%#v", l, want)
	}
}

func TestParseEmptyAndNull(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n", "null", "domains:\nurl_prefixes:\n", "{}"} {
		l, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if ok, _ := l.Allowed("example.com", "/", "GET"); ok {
			t.Errorf("Parse(%q) allows example.com", in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[a, b]", "must be a mapping"},
		{"domain: [a]", "domain: unknown key"},
		{"domains: a.com", "domains: must be a list of strings"},
		{"domains: [a.com, 3]", "domains[1]: must be a string"},
		{"domains: [a.com, [b]]", "domains[1]: must be a string"},
		{"domains: ['']", "domains[0]: must not be empty"},
		{"domains: [a]\ndomains: [b]", "domains: duplicate key"},
		{"url_prefixes: {host: a}", "url_prefixes: must be a list"},
		{"url_prefixes: [a.com]", "url_prefixes[0]: must be a mapping"},
		{"url_prefixes: [{host: a}, {host: b}, {path: /x}]", "url_prefixes[2].host: required"},
		{"url_prefixes: [{host: ''}]", "url_prefixes[0].host: required"},
		{"url_prefixes: [{host: 12}]", "url_prefixes[0].host: must be a string"},
		{"url_prefixes: [{host: a, hots: b}]", "url_prefixes[0].hots: unknown key"},
		{"url_prefixes: [{host: a, path: [x]}]", "url_prefixes[0].path: must be a string"},
		{"url_prefixes: [{host: a, methods: GET}]", "url_prefixes[0].methods: must be a list of strings"},
		{"url_prefixes: [{host: a, methods: [GET, 1]}]", "url_prefixes[0].methods[1]: must be a string"},
		{"url_prefixes: [{host: a, methods: ['']}]", "url_prefixes[0].methods[0]: must not be empty"},
		{"url_prefixes: [{host: a, host: b}]", "url_prefixes[0].host: duplicate key"},
		{"url_prefixes: [{host: a, graphql: [x]}]", "url_prefixes[0].graphql: must be a mapping"},
		{"url_prefixes: [{host: a, websocket: yes}]", "url_prefixes[0].websocket: must be true or false"},
		{"url_prefixes: [{host: a, websocket: [true]}]", "url_prefixes[0].websocket: must be true or false"},
		{"url_prefixes: [{host: a, graphql: {query: [x]}}]", "url_prefixes[0].graphql.query: unknown key"},
		{"url_prefixes: [{host: a, graphql: {mutations: x}}]", "url_prefixes[0].graphql.mutations: must be a list"},
		{"base: &b {host: a}\n", "base: unknown key"},
		{"url_prefixes: [{<<: {host: a}}]", "url_prefixes[0]"},
		{"domains: [a]\n---\ndomains: [b]\n", "more than one YAML document"},
		{"domains: [a", "network allowlist: yaml"},
		{"1: [a]", "keys must be strings"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	l := mustParse(t, sample)
	tests := []struct {
		host, path, method string
		ok                 bool
		reason             string
	}{
		// domains: any path, any method, case-insensitive host
		{"raw.githubusercontent.com", "/x", "DELETE", true, ReasonDomain},
		{"RAW.GitHubUserContent.com", "/x", "PATCH", true, ReasonDomain},
		{"githubusercontent.com", "/x", "GET", false, ReasonHostPath}, // *.x does not match x
		{"pypi.org", "/simple/", "GET", true, ReasonDomain},
		{"pypi.org.evil.com", "/", "GET", false, ReasonHostPath},
		// url_prefixes
		{"api.github.com", "/repos/org/repo", "GET", true, ReasonURLPrefix},
		{"api.github.com", "/repos/org/repo/pulls?state=open", "get", true, ReasonURLPrefix},
		{"API.GITHUB.COM", "/repos/org/repo-other/x", "POST", true, ReasonURLPrefix},
		{"api.github.com", "/repos/org/repo", "DELETE", false, ReasonMethod},
		{"api.github.com", "/Repos/org/repo", "GET", false, ReasonHostPath}, // path case-sensitive
		{"api.github.com", "/repos/other", "GET", false, ReasonHostPath},
		{"a.example.com", "/anything", "PUT", true, ReasonURLPrefix},
		{"example.com", "/", "GET", false, ReasonHostPath},
		// exact path: no normalisation; the query is not matched
		{"api.anthropic.com", "/v1/messages", "POST", true, ReasonURLPrefix},
		{"api.anthropic.com", "/v1/messages/", "POST", false, ReasonHostPath},
		{"api.anthropic.com", "/v1/messages?beta=true", "POST", true, ReasonURLPrefix},
		// a query or a fragment never satisfies a path rule
		{"issues.test", "/repos/o/r/issues", "POST", true, ReasonURLPrefix},
		{"issues.test", "/repos/o/r/git/refs?x=/issues", "POST", false, ReasonHostPath},
		{"issues.test", "/repos/o/r/git/refs#/issues", "POST", false, ReasonInvalidPath},
		{"issues.test", "/repos/o/r/issues#", "POST", false, ReasonInvalidPath},
		{"issues.test", "/repos/o/r/git/refs%3F/issues", "POST", true, ReasonURLPrefix}, // an encoded '?' is part of the path
		// a traversal after a second decoding
		{"api.github.com", "/repos/org/repo/%252e%252e/x", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/a%255Cb", "GET", false, ReasonInvalidPath},
		{"api.anthropic.com", "/v1/messages", "GET", false, ReasonMethod},
		// later entry with the same host/path supplies the method
		{"exact.test", "/api", "DELETE", true, ReasonURLPrefix},
		{"exact.test", "/api", "PUT", false, ReasonMethod},
		// unquote before matching and checks
		{"api.anthropic.com", "/v1/%6Dessages", "POST", true, ReasonURLPrefix},
		{"api.github.com", "/repos/org/repo/%2e%2e/%2e%2e/other", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/../x", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/..", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/%2E%2E", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/a%5Cb", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/a\\b", "GET", false, ReasonInvalidPath},
		{"api.github.com", "/repos/org/repo/a%00b", "GET", false, ReasonInvalidPath},
		{"raw.githubusercontent.com", "/x/../y", "GET", false, ReasonInvalidPath}, // even for domains
		{"api.github.com", "/repos/org/repo/..x", "GET", true, ReasonURLPrefix},
		{"api.github.com", "/repos/org/repo/x..", "GET", true, ReasonURLPrefix},
	}
	for _, tt := range tests {
		ok, reason := l.Allowed(tt.host, tt.path, tt.method)
		if ok != tt.ok || reason != tt.reason {
			t.Errorf("Allowed(%q, %q, %q) = %v, %q; want %v, %q", tt.host, tt.path, tt.method, ok, reason, tt.ok, tt.reason)
		}
	}
}

func TestCheckEntry(t *testing.T) {
	l := mustParse(t, sample)
	if d := l.Check("exact.test", "/api", "DELETE"); d.Entry != 4 || !d.Allowed {
		t.Errorf("Check = %+v, want entry 4", d)
	}
	if d := l.Check("api.github.com", "/repos/org/repo", "GET"); d.Entry != 0 || l.URLPrefixes[d.Entry].GraphQL == nil {
		t.Errorf("Check = %+v, want entry 0 with graphql", d)
	}
	if d := l.Check("pypi.org", "/", "GET"); d.Entry != -1 {
		t.Errorf("Check = %+v, want entry -1 for domains", d)
	}
}

func TestExactPatternsAreExact(t *testing.T) {
	// '[' alone is not a wildcard: compared literally, like the reference.
	l := mustParse(t, `url_prefixes: [{host: "[ab].com", path: "/x[0-9]"}]`)
	for _, tt := range []struct {
		host, path string
		ok         bool
	}{
		{"[ab].com", "/x[0-9]", true},
		{"a.com", "/x[0-9]", false},
		{"[ab].com", "/x1", false},
	} {
		if ok, _ := l.Allowed(tt.host, tt.path, "GET"); ok != tt.ok {
			t.Errorf("Allowed(%q, %q) = %v, want %v", tt.host, tt.path, ok, tt.ok)
		}
	}
}

func TestNilAndEmptyList(t *testing.T) {
	var l *List
	if ok, r := l.Allowed("a.com", "/", "GET"); ok || r != ReasonHostPath {
		t.Errorf("nil list: %v %q", ok, r)
	}
	if ok, _ := (&List{}).Allowed("a.com", "/", "GET"); ok {
		t.Error("empty list allowed a request")
	}
}

func TestUnquote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain", "/plain"},
		{"/a%20b", "/a b"},
		{"/a+b", "/a+b"},
		{"/%zz%4", "/%zz%4"},
		{"/%", "/%"},
		{"/%2f%2F", "///"},
		{"/%C3%A9", "/é"},
		{"/%ff", "/\uFFFD"},
		{"/%41%ffx%42", "/A\uFFFDxB"},
		{"/é%", "/é%"},
	}
	for _, tt := range tests {
		if got := Unquote(tt.in); got != tt.want {
			t.Errorf("Unquote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBlockedMessage(t *testing.T) {
	l := mustParse(t, sample)
	tests := []struct {
		host, path, method string
		contains           []string
	}{
		{"api.github.com", "/repos/org/repo", "DELETE", []string{"method DELETE is not allowed", "methods", ".airut/network-allowlist.yaml", "pull request"}},
		{"evil.com", "/x?a=<b>&c", "GET", []string{"not in the network allowlist", ".airut/network-allowlist.yaml", "pull request"}},
		{"api.github.com", "/repos/org/repo/../x", "GET", []string{"'..'"}},
	}
	for _, tt := range tests {
		body := l.BlockedMessage(tt.host, tt.path, tt.method)
		var got map[string]string
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("BlockedMessage not JSON: %v: %s", err, body)
		}
		if got["error"] != "blocked_by_network_allowlist" || got["host"] != tt.host || got["path"] != tt.path || got["method"] != tt.method {
			t.Errorf("BlockedMessage fields = %v", got)
		}
		if len(got) != 5 {
			t.Errorf("BlockedMessage has %d keys, want 5: %s", len(got), body)
		}
		for _, c := range tt.contains {
			if !strings.Contains(got["message"], c) {
				t.Errorf("message %q lacks %q", got["message"], c)
			}
		}
		if !strings.HasPrefix(body, `{"error":"blocked_by_network_allowlist","host":`) || strings.HasSuffix(body, "\n") {
			t.Errorf("unexpected body shape: %q", body)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("domains: [a]\n---\nx: 1"))
	f.Add([]byte("a: &x [*x]"))
	f.Add([]byte("url_prefixes: [&e {host: a, methods: [GET]}, *e, *e]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			if l != nil {
				t.Fatal("non-nil list with error")
			}
			return
		}
		for _, p := range l.URLPrefixes {
			if p.Host == "" {
				t.Fatal("empty host accepted")
			}
		}
		l.Allowed("a.com", "/x", "GET")
	})
}

func FuzzAllowed(f *testing.F) {
	f.Add("api.github.com", "/repos/org/repo", "GET", "api.github.com", "/repos/org/repo")
	f.Add("A.com", "/%2e%2e", "get", "a.COM", "/x")
	f.Add("[a].com", "/x[0]", "POST", "[A].com", "/x[0]")
	star := &List{Domains: []string{"*"}}
	f.Fuzz(func(t *testing.T, host, path, method, hostPat, pathPat string) {
		// A "*" domain allows every host, unless the path is rejected.
		ok, reason := star.Allowed(host, path, method)
		if reason != ReasonInvalidPath && !ok {
			t.Fatalf("domains [*] blocked %q %q %q: %s", host, path, method, reason)
		}
		if ok && reason != ReasonDomain {
			t.Fatalf("unexpected reason %q", reason)
		}
		if HasWildcard(hostPat) || HasWildcard(pathPat) || hostPat == "" || pathPat == "" {
			return
		}
		// Exact patterns behave like string equality.
		l := &List{URLPrefixes: []Prefix{{Host: hostPat, Path: pathPat}}}
		d := l.Check(host, path, method)
		if d.Reason == ReasonInvalidPath {
			return
		}
		// The query string is not matched (as in the reference): only
		// the path before '?' must equal the pattern.
		target, _, _ := strings.Cut(path, "?")
		want := foldASCII(hostPat) == foldASCII(host) && pathPat == Unquote(target)
		if d.Allowed != want {
			t.Fatalf("exact %q %q vs %q %q: allowed=%v want %v", hostPat, pathPat, host, path, d.Allowed, want)
		}
		dl := &List{Domains: []string{hostPat}}
		if got, _ := dl.Allowed(host, path, method); got != (foldASCII(hostPat) == foldASCII(host)) {
			t.Fatalf("exact domain %q vs %q: %v", hostPat, host, got)
		}
		_ = l.BlockedMessage(host, path, method)
		if !utf8.ValidString(l.BlockedMessage(host, path, method)) {
			t.Fatal("BlockedMessage not valid UTF-8")
		}
	})
}

func TestParseAnchors(t *testing.T) {
	l := mustParse(t, "url_prefixes:\n  - &e {host: a.com, methods: &m [GET]}\n  - *e\n  - {host: b.com, methods: *m}\n")
	if len(l.URLPrefixes) != 3 || l.URLPrefixes[1].Host != "a.com" || l.URLPrefixes[2].Methods[0] != "GET" {
		t.Fatalf("anchors: %+v", l.URLPrefixes)
	}
}

// foldASCII is the test's own byte-wise ASCII lower-casing.
func foldASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func TestHostFoldingIsASCIIOnly(t *testing.T) {
	l := mustParse(t, `domains: ["github.com", "*.example.com", "ä.test"]`)
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"GitHub.COM", true},
		{"g\u0130thub.com", false},     // U+0130 would fold to 'i' with unicode.ToLower
		{"\u212Aey.example.com", true}, // wildcard still matches
		{"ä.test", true},
		{"Ä.test", false}, // Python would allow; fails closed here
		{"\xff.com", false},
	} {
		if ok, _ := l.Allowed(tt.host, "/", "GET"); ok != tt.ok {
			t.Errorf("Allowed(%q) = %v, want %v", tt.host, ok, tt.ok)
		}
	}
}
