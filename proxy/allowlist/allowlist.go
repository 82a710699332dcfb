// Package allowlist parses .airut/network-allowlist.yaml and decides
// whether the network sandbox proxy lets a request through. It matches
// the reference implementation (airut's proxy_filter.py _is_allowed):
//
//  1. the query string is cut off: path rules match the path alone, so a
//     query (which the proxy passes upstream unchanged and never logs)
//     can never satisfy one; a '#' anywhere is rejected, since a
//     fragment is never sent by a client and a parser further on would
//     drop what follows it after the rule had matched it;
//  2. the path is percent-decoded (Python urllib.parse.unquote);
//  3. a decoded path containing NUL, '\', "/../" or ending in "/.." is
//     rejected, and so is one that would after a second decoding (a
//     server or framework that decodes twice must not see a traversal);
//  4. a match on any `domains` pattern allows every path and method;
//  5. otherwise `url_prefixes` entries are tried in order; an entry
//     matches when its host matches (case-insensitive), its path is empty
//     or matches (case-sensitive), and its methods are empty or contain
//     the method (case-insensitive).
//
// Patterns are compared exactly unless they contain '*' or '?', in which
// case fnmatch (see Match) is used; '*' also crosses '/' (as in the
// reference), so "/repos/*/issues" also matches "/repos/o/r/x/issues".
// There is no path normalisation: "/api" and "/api/" differ.
//
// A url_prefixes entry may set `websocket: true` to let its requests
// upgrade to WebSocket; the frames that follow are not inspected.
//
// The optional `graphql` block of a url_prefixes entry is parsed and
// validated (keys queries, mutations, subscriptions; lists of strings) and
// exposed as Prefix.GraphQL; this package does not look at request
// bodies, so it does not enforce it: proxy/graphql does, for the entry
// Check reports.
//
// This package is part of the sandbox's security boundary. It must stay
// small and must not import Temporal, workflows, activities or anything
// beyond the standard library and gopkg.in/yaml.v3. It does no I/O: the
// caller reads the file (from the mirror's default branch) and decides
// what a missing file means.
package allowlist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// GraphQL is the parsed `graphql` block of an entry: fnmatch patterns of
// the top-level fields allowed per operation type (none: type refused).
type GraphQL struct {
	Queries       []string
	Mutations     []string
	Subscriptions []string
}

// Prefix is one `url_prefixes` entry.
type Prefix struct {
	Host    string   // fnmatch/exact, case-insensitive; never empty
	Path    string   // fnmatch/exact, case-sensitive; "" = any path
	Methods []string // upper-cased; empty = all methods
	GraphQL *GraphQL // nil when absent; enforced by proxy/graphql
	// WebSocket lets matching requests upgrade to WebSocket; off by
	// default because the relayed frames are not inspected.
	WebSocket bool
}

// List is a parsed allowlist. The zero value blocks everything.
type List struct {
	Domains     []string
	URLPrefixes []Prefix
}

// Reasons returned by Allowed and carried in Decision.Reason.
const (
	ReasonDomain      = "allowed by domains"
	ReasonURLPrefix   = "allowed by url_prefixes"
	ReasonInvalidPath = "path not allowed (NUL, backslash, dot-dot segment or '#')"
	ReasonMethod      = "method not allowed"
	ReasonHostPath    = "host/path not allowed"
)

const (
	blockedErrorCode = "blocked_by_network_allowlist"
	allowlistFile    = ".airut/network-allowlist.yaml"
	noEntry          = -1
)

// Decision is the full result of Check.
type Decision struct {
	Allowed bool
	Reason  string // one of the Reason* constants
	// Entry is the index of the matching url_prefixes entry when the
	// request was allowed by url_prefixes, and -1 otherwise.
	Entry int
}

// Allowed reports whether the request may pass and why. host is the
// request's host name without port (mitmproxy's pretty_host), path the
// raw (still percent-encoded) request target, whose query string is not
// matched, method the HTTP method. reason is one of
// ReasonDomain, ReasonURLPrefix (allowed) or ReasonInvalidPath,
// ReasonMethod, ReasonHostPath (blocked). ReasonMethod means some entry
// matched host and path but not the method.
//
// Hosts and methods use ASCII-only case folding. Python's str.lower() also
// folds non-ASCII letters, but Unicode folding is unsafe for hosts (Go
// maps U+0130 'İ' to 'i', so "gİthub.com" would match "github.com" while
// IDNA sends it to a different domain); with ASCII folding a non-ASCII
// host only matches byte for byte or through wildcards, which fails closed.
func (l *List) Allowed(host, path, method string) (ok bool, reason string) {
	d := l.Check(host, path, method)
	return d.Allowed, d.Reason
}

// Check is Allowed plus the index of the matching url_prefixes entry, which
// the proxy needs to find the entry's graphql block.
func (l *List) Check(host, path, method string) Decision {
	raw, _, _ := strings.Cut(path, "?")
	p := Unquote(raw)
	if strings.ContainsRune(path, '#') || traversal(p) || traversal(Unquote(p)) {
		return Decision{Reason: ReasonInvalidPath, Entry: noEntry}
	}
	if l == nil {
		return Decision{Reason: ReasonHostPath, Entry: noEntry}
	}
	for _, d := range l.Domains {
		if matchHost(d, host) {
			return Decision{Allowed: true, Reason: ReasonDomain, Entry: noEntry}
		}
	}
	methodMismatch := false
	for i, e := range l.URLPrefixes {
		if !matchHost(e.Host, host) {
			continue
		}
		if e.Path != "" && !matchPattern(e.Path, p) {
			continue
		}
		if len(e.Methods) > 0 && !containsMethod(e.Methods, method) {
			methodMismatch = true
			continue
		}
		return Decision{Allowed: true, Reason: ReasonURLPrefix, Entry: i}
	}
	if methodMismatch {
		return Decision{Reason: ReasonMethod, Entry: noEntry}
	}
	return Decision{Reason: ReasonHostPath, Entry: noEntry}
}

// traversal reports a decoded path that could name something other than
// what it says: NUL, a backslash or a dot-dot segment.
func traversal(p string) bool {
	return strings.ContainsRune(p, 0) || strings.ContainsRune(p, '\\') ||
		strings.Contains(p, "/../") || strings.HasSuffix(p, "/..")
}

func matchHost(pattern, host string) bool {
	return matchPattern(asciiLower(pattern), asciiLower(host))
}

// matchPattern is the reference's _match_pattern: exact unless the
// pattern contains '*' or '?'.
func matchPattern(pattern, s string) bool {
	if HasWildcard(pattern) {
		return Match(pattern, s)
	}
	return pattern == s
}

func containsMethod(methods []string, method string) bool {
	m := asciiUpper(method)
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// Unquote decodes %XX escapes like Python's urllib.parse.unquote: '+' is
// kept, malformed escapes are kept literally, and each run of decoded
// bytes that is not valid UTF-8 has its invalid bytes replaced by U+FFFD
// (one per byte; CPython emits one per maximal invalid subsequence, which
// only differs for truncated multi-byte sequences). Bytes that were not
// percent-encoded are left untouched.
func Unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var out strings.Builder
	out.Grow(len(s))
	var run []byte
	flush := func() {
		for len(run) > 0 {
			r, size := utf8.DecodeRune(run)
			if r == utf8.RuneError && size <= 1 {
				out.WriteRune(utf8.RuneError)
			} else {
				out.Write(run[:size])
			}
			run = run[size:]
		}
	}
	for i := 0; i < len(s); {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			run = append(run, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 3
			continue
		}
		flush()
		out.WriteByte(s[i])
		i++
	}
	flush()
	return out.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

type blockedBody struct {
	Error   string `json:"error"`
	Host    string `json:"host"`
	Path    string `json:"path"`
	Method  string `json:"method"`
	Message string `json:"message"`
}

// BlockedMessage returns the JSON body of the 403 response for a request
// the allowlist blocks: {"error":"blocked_by_network_allowlist","host",
// "path","method","message"}. The message says whether the method or the
// host/path was blocked and how to ask for access. It is meant for blocked
// requests; for an allowed one it still returns a well-formed body.
func (l *List) BlockedMessage(host, path, method string) string {
	_, reason := l.Allowed(host, path, method)
	var msg string
	switch reason {
	case ReasonMethod:
		msg = fmt.Sprintf("Network sandbox blocked %s %s%s: the method %s is not allowed for this host and path "+
			"(the network allowlist permits it only for other methods). To request access, add %s to the "+
			"methods of the matching url_prefixes entry in %s and open a pull request; the change applies "+
			"to new tasks once it is merged into the default branch.",
			method, host, path, method, method, allowlistFile)
	case ReasonInvalidPath:
		msg = fmt.Sprintf("Network sandbox blocked %s %s%s: the decoded path contains NUL, a backslash, a "+
			"'..' segment (also after a second decoding) or a '#', which is never allowed. Use a plain path "+
			"without '..' segments.",
			method, host, path)
	default:
		msg = fmt.Sprintf("Network sandbox blocked %s %s%s: the host and path are not in the network allowlist. "+
			"To request access, add the host to domains or add a url_prefixes entry (host, path, methods) in "+
			"%s and open a pull request; the change applies to new tasks once it is merged into the "+
			"default branch.",
			method, host, path, allowlistFile)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding a struct of strings cannot fail.
	_ = enc.Encode(blockedBody{Error: blockedErrorCode, Host: host, Path: path, Method: method, Message: msg})
	return strings.TrimSuffix(buf.String(), "\n")
}
