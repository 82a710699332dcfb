package masking

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/airut-go/airut/proxy/allowlist"
)

func TestSurrogateShape(t *testing.T) {
	tests := []struct {
		name, real, prefix, classes string
	}{
		{"github pat", "github_pat_11ABCDEFG0abcdefghij_KLMNOPQRSTUVWXYZ0123456789abcdef", "github_pat_", upper + lower + digits + other},
		{"ghp", "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", "ghp_", upper + lower + digits},
		{"gho", "gho_abc123", "gho_", lower + digits},
		{"ghs", "ghs_ABCDEF", "ghs_", upper},
		{"ghr", "ghr_x", "ghr_", lower},
		{"sk-ant before sk-", "sk-ant-api03-AbC_dEf-123", "sk-ant-", upper + lower + digits + other},
		{"sk-", "sk-proj-abcDEF123", "sk-", upper + lower + digits + other},
		{"xoxb", "xoxb-1234-5678-abcd", "xoxb-", lower + digits + other},
		{"xoxp", "xoxp-1234", "xoxp-", digits},
		{"AKIA", "AKIAIOSFODNN7EXAMPLE", "AKIA", upper + digits},
		{"ASIA", "ASIAIOSFODNN7EXAMPLE", "ASIA", upper + digits},
		{"no prefix", "hunter2", "", lower + digits},
		{"digits only", "123456789", "", digits},
		{"symbols only", "!!!@@@", "", other},
		{"prefix case matters", "GHP_abc", "", upper + lower + other},
		{"unicode", "pässwörd", "", lower},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for i := 0; i < 20; i++ {
				s := Surrogate(tt.real, nil)
				if !strings.HasPrefix(s, tt.prefix) {
					t.Fatalf("Surrogate(%q) = %q, lost prefix %q", tt.real, s, tt.prefix)
				}
				if utf8.RuneCountInString(s) != utf8.RuneCountInString(tt.real) {
					t.Fatalf("Surrogate(%q) = %q, length %d want %d", tt.real, s, utf8.RuneCountInString(s), utf8.RuneCountInString(tt.real))
				}
				if s == tt.real {
					t.Fatalf("Surrogate(%q) equals the real value", tt.real)
				}
				for _, r := range s[len(tt.prefix):] {
					if !strings.ContainsRune(tt.classes, r) {
						t.Fatalf("Surrogate(%q) = %q has %q outside %q", tt.real, s, r, tt.classes)
					}
				}
				seen[s] = true
			}
			// Each case has at least 2^6 possible surrogates; 20 draws
			// all alike would mean randomness is not used.
			if len(seen) < 2 {
				t.Errorf("Surrogate(%q) not random: %d distinct of 20", tt.real, len(seen))
			}
		})
	}
}

func TestSurrogateUsesAllClasses(t *testing.T) {
	// Over many draws every class of the original shows up.
	real := "ghp_Ab1-" + strings.Repeat("x", 60)
	var u, l, d, o bool
	for i := 0; i < 20; i++ {
		for _, r := range Surrogate(real, nil)[4:] {
			u = u || unicode.IsUpper(r)
			l = l || unicode.IsLower(r)
			d = d || unicode.IsDigit(r)
			o = o || r == '-' || r == '_'
		}
	}
	if !u || !l || !d || !o {
		t.Errorf("classes missing: upper=%v lower=%v digit=%v other=%v", u, l, d, o)
	}
}

func TestSurrogateEdgeCases(t *testing.T) {
	if s := Surrogate("", nil); s != "" {
		t.Errorf("Surrogate(\"\") = %q", s)
	}
	if s := Surrogate("ghp_", nil); s != "ghp_" {
		t.Errorf("bare prefix: %q", s)
	}
	// A reader that always yields zero bytes picks 'a'; the collision with
	// the real value must still be avoided.
	zero := bytes.NewReader(make([]byte, 1<<12))
	if s := Surrogate("aaaa", zero); s == "aaaa" || len(s) != 4 {
		t.Errorf("collision not avoided: %q", s)
	}
	// A failing reader falls back to crypto/rand.
	if s := Surrogate("secretvalue", errReader{}); len(s) != 11 || s == "secretvalue" {
		t.Errorf("failing reader: %q", s)
	}
}

func TestSurrogateReaders(t *testing.T) {
	// Readers that are short, exhausted or produce only rejected bytes must
	// not hang: Surrogate falls back to crypto/rand.
	readers := map[string]func() *bytes.Reader{
		"empty":      func() *bytes.Reader { return bytes.NewReader(nil) },
		"short":      func() *bytes.Reader { return bytes.NewReader([]byte{1, 2, 3}) },
		"all 0xff":   func() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{0xff}, 4096)) },
		"all 0x00":   func() *bytes.Reader { return bytes.NewReader(make([]byte, 4096)) },
		"long input": func() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{7}, 64)) },
	}
	for name, mk := range readers {
		for _, real := range []string{"a", "ghp_" + strings.Repeat("Ab1", 300), "!!", strings.Repeat("z", 5000)} {
			s := Surrogate(real, mk())
			if len(s) != len(real) || s == real {
				t.Errorf("%s: Surrogate(len %d) = len %d, equal=%v", name, len(real), len(s), s == real)
			}
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

const (
	realGH = "ghp_REALrealREAL0123456789realREAL012345"
	surrGH = "ghp_SURRsurrSURR0123456789surrSURR012345"
	realAK = "sk-ant-REAL-real-0123"
	surrAK = "sk-ant-SURR-surr-0123"
)

func secrets() []Secret {
	return []Secret{
		{Name: "GH_TOKEN", Real: realGH, Surrogate: surrGH, Scopes: []string{"api.github.com", "*.githubusercontent.com", "github.com"}, Headers: []string{"Authorization"}},
		{Name: "ANTHROPIC_API_KEY", Real: realAK, Surrogate: surrAK, Scopes: []string{"api.anthropic.com"}, Headers: []string{"x-api-key", "X-Extra-*"}},
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name         string
		host         string
		plain        bool // plain HTTP
		in           http.Header
		secrets      []Secret
		want         http.Header
		wantSwapped  []string
		wantStripped []string
		wantWithheld []string
	}{
		{
			name:         "plain HTTP never gets the real value",
			host:         "api.github.com",
			plain:        true,
			in:           http.Header{"Authorization": {"Bearer " + surrGH}},
			want:         http.Header{"Authorization": {"Bearer " + surrGH}},
			wantWithheld: []string{"GH_TOKEN"},
		},
		{
			name:         "plain HTTP basic auth withheld too",
			host:         "github.com",
			plain:        true,
			in:           http.Header{"Authorization": {basic("x-access-token", surrGH)}},
			want:         http.Header{"Authorization": {basic("x-access-token", surrGH)}},
			wantWithheld: []string{"GH_TOKEN"},
		},
		{
			name:         "plain HTTP still strips a foreign credential",
			host:         "api.github.com",
			plain:        true,
			in:           http.Header{"Authorization": {"Bearer ghp_attackers"}},
			want:         http.Header{},
			wantStripped: []string{"Authorization"},
		},
		{
			name:         "foreign Authorization stripped where the secret is listed under x-api-key",
			host:         "api.anthropic.com",
			in:           http.Header{"Authorization": {"Bearer sk-ant-attackers"}, "Accept": {"*/*"}},
			want:         http.Header{"Accept": {"*/*"}},
			wantStripped: []string{"Authorization"},
		},
		{
			name:         "foreign x-api-key stripped where the secret is listed under Authorization",
			host:         "api.github.com",
			in:           http.Header{"X-Api-Key": {"attackers"}, "Authorization": {"Bearer " + surrGH}},
			want:         http.Header{"Authorization": {"Bearer " + realGH}},
			wantSwapped:  []string{"GH_TOKEN"},
			wantStripped: []string{"X-Api-Key"},
		},
		{
			name:        "bearer in scope",
			host:        "api.github.com",
			in:          http.Header{"Authorization": {"Bearer " + surrGH}, "Accept": {"*/*"}},
			want:        http.Header{"Authorization": {"Bearer " + realGH}, "Accept": {"*/*"}},
			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name:        "scope host case-insensitive and wildcard",
			host:        "RAW.GitHubUserContent.com",
			in:          http.Header{"Authorization": {"token " + surrGH}},
			want:        http.Header{"Authorization": {"token " + realGH}},
			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name: "out of scope leaves surrogate",
			host: "evil.com",
			in:   http.Header{"Authorization": {"Bearer " + surrGH}},
			want: http.Header{"Authorization": {"Bearer " + surrGH}},
		},
		{
			name: "wildcard scope does not match bare domain",
			host: "githubusercontent.com",
			in:   http.Header{"Authorization": {"Bearer " + surrGH}},
			want: http.Header{"Authorization": {"Bearer " + surrGH}},
		},
		{
			name: "header not in secret's headers is untouched",
			host: "api.github.com",
			in:   http.Header{"Authorization": {"Bearer " + surrGH}, "X-Other": {surrGH}},
			want: http.Header{"Authorization": {"Bearer " + realGH}, "X-Other": {surrGH}},

			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name:        "basic auth git push",
			host:        "github.com",
			in:          http.Header{"Authorization": {basic("x-access-token", surrGH)}},
			want:        http.Header{"Authorization": {basic("x-access-token", realGH)}},
			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name:        "basic auth surrogate as user",
			host:        "github.com",
			in:          http.Header{"Authorization": {basic(surrGH, "x-oauth-basic")}},
			want:        http.Header{"Authorization": {basic(realGH, "x-oauth-basic")}},
			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name:         "basic auth with foreign credential is stripped",
			host:         "github.com",
			in:           http.Header{"Authorization": {basic("x-access-token", "ghp_someoneelse")}},
			want:         http.Header{},
			wantStripped: []string{"Authorization"},
		},
		{
			name:        "duplicates collapsed to the rewritten value",
			host:        "api.github.com",
			in:          http.Header{"Authorization": {"Bearer foreign", "Bearer " + surrGH, "Bearer other"}},
			want:        http.Header{"Authorization": {"Bearer " + realGH}},
			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name:        "non-canonical key variants merged",
			host:        "api.github.com",
			in:          http.Header{"Authorization": {"Bearer x"}, "authorization": {"Bearer " + surrGH}},
			want:        http.Header{"Authorization": {"Bearer " + realGH}},
			wantSwapped: []string{"GH_TOKEN"},
		},
		{
			name:         "foreign credential stripped",
			host:         "api.github.com",
			in:           http.Header{"Authorization": {"Bearer ghp_agentsowntoken"}, "Accept": {"*/*"}},
			want:         http.Header{"Accept": {"*/*"}},
			wantStripped: []string{"Authorization"},
		},
		{
			name: "allow foreign keeps it",
			host: "api.github.com",
			in:   http.Header{"Authorization": {"Bearer ghp_agentsowntoken"}},
			secrets: []Secret{{Name: "GH_TOKEN", Real: realGH, Surrogate: surrGH, Scopes: []string{"api.github.com"},
				Headers: []string{"Authorization"}, AllowForeign: true}},
			want: http.Header{"Authorization": {"Bearer ghp_agentsowntoken"}},
		},
		{
			name: "foreign credential out of scope not stripped",
			host: "example.com",
			in:   http.Header{"Authorization": {"Bearer mine"}},
			want: http.Header{"Authorization": {"Bearer mine"}},
		},
		{
			name: "pattern headers never stripped",
			host: "api.anthropic.com",
			in:   http.Header{"X-Extra-Key": {"foreign"}, "X-Api-Key": {surrAK}},
			want: http.Header{"X-Extra-Key": {"foreign"}, "X-Api-Key": {realAK}},

			wantSwapped: []string{"ANTHROPIC_API_KEY"},
		},
		{
			name:        "wildcard header pattern replaces",
			host:        "api.anthropic.com",
			in:          http.Header{"X-Extra-Token": {"k=" + surrAK}},
			want:        http.Header{"X-Extra-Token": {"k=" + realAK}},
			wantSwapped: []string{"ANTHROPIC_API_KEY"},
		},
		{
			name: "header present but absent secret header not stripped",
			host: "api.anthropic.com",
			in:   http.Header{"Accept": {"*/*"}},
			want: http.Header{"Accept": {"*/*"}},
		},
		{
			name: "another secret replaced the header so no strip",
			host: "api.github.com",
			in:   http.Header{"Authorization": {"Bearer " + surrAK}},
			secrets: []Secret{
				{Name: "FIRST", Real: "first-real", Surrogate: "first-surr", Scopes: []string{"api.github.com"}, Headers: []string{"authorization"}},
				{Name: "SECOND", Real: realAK, Surrogate: surrAK, Scopes: []string{"*"}, Headers: []string{"Authorization"}},
			},
			want:        http.Header{"Authorization": {"Bearer " + realAK}},
			wantSwapped: []string{"SECOND"},
		},
		{
			name:    "empty surrogate ignored",
			host:    "api.github.com",
			in:      http.Header{"Authorization": {"Bearer x"}},
			secrets: []Secret{{Name: "EMPTY", Scopes: []string{"*"}, Headers: []string{"Authorization"}}},
			want:    http.Header{"Authorization": {"Bearer x"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := tt.secrets
			if ss == nil {
				ss = secrets()
			}
			h := tt.in.Clone()
			res := Apply(tt.host, !tt.plain, h, ss)
			swapped, stripped := res.Swapped, res.Stripped
			if !reflect.DeepEqual(res.Withheld, tt.wantWithheld) {
				t.Errorf("withheld = %q, want %q", res.Withheld, tt.wantWithheld)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("headers = %v, want %v", h, tt.want)
			}
			if !reflect.DeepEqual(swapped, tt.wantSwapped) {
				t.Errorf("swapped = %q, want %q", swapped, tt.wantSwapped)
			}
			if !reflect.DeepEqual(stripped, tt.wantStripped) {
				t.Errorf("stripped = %q, want %q", stripped, tt.wantStripped)
			}
			for _, x := range append(append([]string{}, swapped...), stripped...) {
				for _, s := range ss {
					if s.Real != "" && strings.Contains(x, s.Real) || s.Surrogate != "" && strings.Contains(x, s.Surrogate) {
						t.Errorf("returned %q leaks a secret value", x)
					}
				}
			}
		})
	}
}

func TestApplyRoundTripWithGeneratedSurrogate(t *testing.T) {
	real := "github_pat_11AAAAAAA0_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	s := Secret{Name: "GH", Real: real, Surrogate: Surrogate(real, nil), Scopes: []string{"github.com"}, Headers: []string{"Authorization"}}
	h := http.Header{"Authorization": {basic("x-access-token", s.Surrogate)}}
	res := Apply("github.com", true, h, []Secret{s})
	swapped, stripped := res.Swapped, res.Stripped
	if h.Get("Authorization") != basic("x-access-token", real) || len(swapped) != 1 || stripped != nil {
		t.Fatalf("got %v %v %v", h, swapped, stripped)
	}
}

func FuzzSurrogate(f *testing.F) {
	for _, s := range []string{"", "ghp_", "ghp_abc", "sk-ant-x", "AKIAIOSFODNN7EXAMPLE", "é", "a", "\xff", "github_pat_1"} {
		f.Add(s, []byte{0, 0, 0, 0})
	}
	f.Fuzz(func(t *testing.T, real string, seed []byte) {
		var r *bytes.Reader
		if len(seed) > 0 {
			r = bytes.NewReader(bytes.Repeat(seed, 64))
		}
		var s string
		if r == nil {
			s = Surrogate(real, nil)
		} else {
			s = Surrogate(real, r)
		}
		if utf8.RuneCountInString(s) != utf8.RuneCountInString(real) {
			t.Fatalf("Surrogate(%q) = %q: length changed", real, s)
		}
		prefix := ""
		for _, p := range Prefixes {
			if strings.HasPrefix(real, p) {
				prefix = p
				break
			}
		}
		if !strings.HasPrefix(s, prefix) {
			t.Fatalf("Surrogate(%q) = %q: prefix %q lost", real, s, prefix)
		}
		if s == real && len(real) > len(prefix) {
			t.Fatalf("Surrogate(%q) equals the real value", real)
		}
		for _, c := range []byte(s[len(prefix):]) {
			if !strings.ContainsRune(upper+lower+digits+other, rune(c)) {
				t.Fatalf("Surrogate(%q) = %q: bad char %q", real, s, c)
			}
		}
	})
}

// FuzzApply checks Apply's promises on any header, scope and pattern:
// names only in what it returns; the real value only over HTTPS, only on
// a host in scope and only in a header the secret is listed under.
func FuzzApply(f *testing.F) {
	f.Add("api.github.com", "Authorization", "Bearer "+surrGH, "Authorization", "*.github.com", false, true)
	f.Add("github.com", "authorization", basic("x-access-token", surrGH), "Authorization", "github.com", true, true)
	f.Add("github.com", "authorization", basic("x-access-token", surrGH), "Authorization", "github.com", true, false)
	f.Add("a.com", "X-Key", "foreign", "x-*", "*", false, true)
	f.Fuzz(func(t *testing.T, host, name, value, pattern, scope string, allow, secure bool) {
		s := Secret{Name: "NAME", Real: realGH, Surrogate: surrGH, Scopes: []string{scope}, Headers: []string{pattern}, AllowForeign: allow}
		h := http.Header{name: {value, "Bearer " + surrGH}}
		res := Apply(host, secure, h, []Secret{s})
		for _, x := range append(append(res.Swapped, res.Stripped...), res.Withheld...) {
			if strings.Contains(x, realGH) || strings.Contains(x, surrGH) {
				t.Fatalf("leak in %q", x)
			}
		}
		for k, vs := range h {
			for _, v := range vs {
				if !strings.Contains(v, realGH) && !strings.Contains(basicDecoded(v), realGH) {
					continue
				}
				if !secure || !allowlist.MatchAny(s.Scopes, host, true) || !allowlist.MatchAny(s.Headers, k, true) {
					t.Fatalf("real value in %s (secure=%v host=%q scope=%q pattern=%q)", k, secure, host, scope, pattern)
				}
			}
		}
		if len(res.Swapped) > 0 {
			var vs []string
			for k, v := range h {
				if strings.EqualFold(k, name) {
					vs = append(vs, v...)
				}
			}
			if len(vs) != 1 || !strings.Contains(vs[0], realGH) && !strings.HasPrefix(strings.ToLower(vs[0]), "basic ") {
				t.Fatalf("after swap %q = %q", name, vs)
			}
		}
	})
}

func basicDecoded(v string) string {
	if len(v) < 6 || !strings.EqualFold(v[:6], "basic ") {
		return ""
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(v[6:]))
	return string(raw)
}
