// Package masking implements masked secrets for the network sandbox: it
// makes per-task surrogate values that look like the real credential, and
// rewrites request headers on the proxy so that a surrogate sent by the
// agent is replaced by the real value, but only for hosts in the secret's
// scopes and only in the secret's headers (reference item 22).
//
// Only header values are rewritten, never the body or the query, and only
// on HTTPS. Apply returns secret names and header names for the network
// log; it must never return, log or otherwise expose real values or
// surrogates.
//
// This package is part of the sandbox's security boundary. It must stay
// small and must not import Temporal, workflows, activities or anything
// beyond the standard library and proxy/allowlist (for fnmatch).
package masking

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/airut-go/airut/proxy/allowlist"
)

// Prefixes are kept verbatim at the start of a surrogate. Order matters:
// the first prefix the real value starts with wins.
var Prefixes = []string{
	"github_pat_", "ghp_", "gho_", "ghs_", "ghr_",
	"sk-ant-", "sk-", "xoxb-", "xoxp-", "AKIA", "ASIA",
}

const (
	upper    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower    = "abcdefghijklmnopqrstuvwxyz"
	digits   = "0123456789"
	other    = "-_"
	fallback = lower + digits
)

// Surrogate returns a fresh surrogate for real: the known prefix (see
// Prefixes) is kept, and the rest has the same length in characters
// (Python code points; bytes for ASCII values) and is drawn uniformly from
// the character classes of the rest of the real value: A-Z if it has an
// upper-case letter, a-z for lower-case, 0-9 for digits, "-_" if it has
// any other character; a-z0-9 if none applies. Classes use Unicode
// upper/lower/digit tests like Python's str methods.
//
// rand supplies randomness (nil means crypto/rand.Reader); if reading it
// fails, crypto/rand is used instead. The surrogate never equals real
// unless real is empty or a bare prefix: on the rare collision the first
// random character is moved to the next one in the class. An empty real
// value gives "".
func Surrogate(real string, rand io.Reader) string {
	if real == "" {
		return ""
	}
	prefix := ""
	for _, p := range Prefixes {
		if strings.HasPrefix(real, p) {
			prefix = p
			break
		}
	}
	rest := real[len(prefix):]
	n := utf8.RuneCountInString(rest)
	if n == 0 {
		return real
	}
	charset := classes(rest)
	out := make([]byte, n)
	idx := randomIndexes(rand, len(charset), n)
	for i, x := range idx {
		out[i] = charset[x]
	}
	if string(out) == rest {
		out[0] = charset[(idx[0]+1)%len(charset)]
	}
	return prefix + string(out)
}

func classes(s string) string {
	var hasU, hasL, hasD, hasO bool
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			hasU = true
		case unicode.IsLower(r):
			hasL = true
		case unicode.IsDigit(r):
			hasD = true
		default:
			hasO = true
		}
	}
	var cs string
	if hasU {
		cs += upper
	}
	if hasL {
		cs += lower
	}
	if hasD {
		cs += digits
	}
	if hasO {
		cs += other
	}
	if cs == "" {
		cs = fallback
	}
	return cs
}

// randomIndexes returns n uniform indexes in [0, size) (size <= 64) using
// rejection sampling on random bytes.
func randomIndexes(r io.Reader, size, n int) []int {
	if r == nil {
		r = rand.Reader
	}
	limit := 256 - 256%size // bytes >= limit are rejected to stay uniform
	out := make([]int, 0, n)
	buf := make([]byte, n+16)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			r = rand.Reader
			continue
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, int(b)%size)
			}
		}
	}
	return out
}

// Secret is one masked secret. Name is the config key (for example
// GH_TOKEN); it is what Apply reports, never Real or Surrogate.
type Secret struct {
	Name         string
	Real         string
	Surrogate    string
	Scopes       []string // host fnmatch patterns, case-insensitive
	Headers      []string // header-name fnmatch patterns, case-insensitive
	AllowForeign bool     // allow_foreign_credentials
}

// Result names what Apply did to a request's headers. It never holds a
// real value or a surrogate.
type Result struct {
	Swapped  []string // secrets whose real value was put in
	Stripped []string // canonical names of the headers removed
	// Withheld are in-scope secrets whose surrogate was found on a plain
	// HTTP request: it went out as the surrogate, unswapped.
	Withheld []string
}

// credentialHeaders are stripped on a scoped host whatever headers the
// secret is listed under (unless a surrogate is in them): the headers an
// API authenticates by, through which a credential the agent brought
// (someone else's token) would turn an allowed host into a way out.
var credentialHeaders = [...]string{"authorization", "x-api-key"}

// Apply rewrites h for a request to host (the host name without port),
// following the reference's _replace_tokens. secure is true for HTTPS: a
// real value is never put into a plain HTTP request, where anyone on the
// path would read it. For each secret with a non-empty surrogate whose
// scopes match host (allowlist.MatchFold):
//
//  1. every header whose name matches one of the secret's header patterns
//     (case-insensitive fnmatch) has all its values examined;
//  2. the surrogate is replaced by the real value by plain substring
//     replacement; for Authorization only, a "Basic base64(user:pass)"
//     value is decoded, replaced in both parts and re-encoded;
//  3. if any value contained the surrogate, the header is collapsed to a
//     single value: the first value that contained it, rewritten.
//
// Over plain HTTP steps 2 and 3 are skipped and the secret is reported as
// withheld instead.
//
// Then a strip pass: for each in-scope secret without AllowForeign, each of
// its header patterns that is an exact name (no '*', '?', '[' or ']'),
// and Authorization and X-Api-Key, present and holding no surrogate of a
// secret in scope, is removed entirely. Doing the strip after all
// replacements means the order of secrets does not matter.
//
// Each name is reported once, in order of first occurrence.
func Apply(host string, secure bool, h http.Header, secrets []Secret) Result {
	var res Result
	kept := map[string]bool{} // lower-case names of headers holding a surrogate
	inScope := make([]bool, len(secrets))
	for si := range secrets {
		s := &secrets[si]
		if s.Surrogate == "" || s.Real == "" || !allowlist.MatchAny(s.Scopes, host, true) {
			continue
		}
		inScope[si] = true
		for _, name := range headerNames(h) {
			if !allowlist.MatchAny(s.Headers, name, true) {
				continue
			}
			if !secure {
				if holdsSurrogate(h, name, s.Surrogate) {
					kept[strings.ToLower(name)] = true
					res.Withheld = appendOnce(res.Withheld, s.Name)
				}
				continue
			}
			if replaceHeader(h, name, s.Surrogate, s.Real) {
				kept[strings.ToLower(name)] = true
				res.Swapped = appendOnce(res.Swapped, s.Name)
			}
		}
	}
	for si := range secrets {
		s := &secrets[si]
		if !inScope[si] || s.AllowForeign {
			continue
		}
		names := append([]string(nil), credentialHeaders[:]...)
		for _, pat := range s.Headers {
			if !strings.ContainsAny(pat, "*?[]") && pat != "" {
				names = append(names, strings.ToLower(pat))
			}
		}
		for _, lname := range names {
			if kept[lname] {
				continue
			}
			present := false
			for _, name := range headerNames(h) {
				if strings.ToLower(name) == lname {
					present = true
					delete(h, name)
				}
			}
			if present {
				res.Stripped = appendOnce(res.Stripped, http.CanonicalHeaderKey(lname))
			}
		}
	}
	return res
}

// Holds reports whether any header of s (its header patterns) holds s's
// surrogate, Basic auth decoded: the request uses the secret.
func Holds(h http.Header, s Secret) bool {
	if s.Surrogate == "" {
		return false
	}
	for _, name := range headerNames(h) {
		if allowlist.MatchAny(s.Headers, name, true) && holdsSurrogate(h, name, s.Surrogate) {
			return true
		}
	}
	return false
}

// holdsSurrogate reports whether any value of the header named name
// (matched case-insensitively) contains the surrogate, Basic auth decoded.
func holdsSurrogate(h http.Header, name, surrogate string) bool {
	lname := strings.ToLower(name)
	for k, vs := range h {
		if strings.ToLower(k) != lname {
			continue
		}
		for _, v := range vs {
			if _, ok := replaceValue(lname, v, surrogate, ""); ok {
				return true
			}
		}
	}
	return false
}

// headerNames returns the distinct header names in h, sorted; keys that
// differ only in case (non-canonical keys set directly) are folded into
// the first one by replaceHeader.
func headerNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// replaceHeader rewrites every value of the header named name (matched
// case-insensitively across keys) and reports whether the surrogate was
// found. When it was, the header is left with exactly one value.
func replaceHeader(h http.Header, name, surrogate, real string) bool {
	lname := strings.ToLower(name)
	var keys []string
	var values []string
	for _, k := range headerNames(h) {
		if strings.ToLower(k) == lname {
			keys = append(keys, k)
			values = append(values, h[k]...)
		}
	}
	for _, v := range values {
		nv, ok := replaceValue(lname, v, surrogate, real)
		if !ok {
			continue
		}
		for _, k := range keys {
			delete(h, k)
		}
		h[keys[0]] = []string{nv}
		return true
	}
	return false
}

func replaceValue(lname, v, surrogate, real string) (string, bool) {
	if lname == "authorization" && len(v) > 6 && strings.EqualFold(v[:6], "basic ") {
		enc := strings.TrimSpace(v[6:])
		if raw, err := base64.StdEncoding.DecodeString(enc); err == nil {
			user, pass, hasColon := strings.Cut(string(raw), ":")
			if strings.Contains(user, surrogate) || strings.Contains(pass, surrogate) {
				out := strings.ReplaceAll(user, surrogate, real)
				if hasColon {
					out += ":" + strings.ReplaceAll(pass, surrogate, real)
				}
				return v[:6] + base64.StdEncoding.EncodeToString([]byte(out)), true
			}
		}
	}
	if strings.Contains(v, surrogate) {
		return strings.ReplaceAll(v, surrogate, real), true
	}
	return v, false
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
