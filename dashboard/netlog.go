package dashboard

import (
	"bytes"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/allowlist"
)

const maxNetRowsOnPage = 1000

// netItem is one line of network.log as the network page shows it.
type netItem struct {
	Time     time.Time
	Kind     string
	Method   string
	Host     string
	Path     string
	Status   int
	Allowed  bool
	Reason   string
	Blocked  bool // an HTTP request or raw connection the proxy refused
	Refused  bool // a refused DNS query (not an allowlist matter)
	Secrets  string
	Upstream string
	Error    string
	// Suggestion is the url_prefixes entry, as YAML, that would allow
	// the request; Advice says why there is none.
	Suggestion string
	Advice     string
	Raw        string // a line that is not a log entry

	entry *prefixEntry
}

// parseNetwork turns network.log bytes (whole lines) into rows.
func parseNetwork(data []byte) []netItem {
	var out []netItem
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var l proxy.LogLine
		if line[0] != '{' || json.Unmarshal(line, &l) != nil {
			out = append(out, netItem{Raw: clip(string(line), maxSummary)})
			continue
		}
		out = append(out, netRow(l))
	}
	return out
}

func netRow(l proxy.LogLine) netItem {
	it := netItem{
		Time: l.Time, Kind: l.Kind, Method: clip(l.Method, 32), Host: clip(l.Host, maxSummary),
		Path: clip(l.Path, maxSummary), Status: l.Status, Allowed: l.Allowed, Reason: clip(l.Reason, maxSummary),
		Upstream: clip(l.Upstream, maxSummary), Error: clip(l.Error, maxSummary),
	}
	var names []string
	for _, group := range []struct {
		label string
		names []string
	}{{"swapped", l.Swapped}, {"stripped", l.Stripped}, {"withheld", l.Withheld}} {
		if len(group.names) > 0 {
			names = append(names, group.label+": "+strings.Join(group.names, ", "))
		}
	}
	it.Secrets = clip(strings.Join(names, "; "), maxSummary)
	if l.Allowed {
		return it
	}
	switch l.Kind {
	case "dns":
		it.Refused = true
	case "tcp", "udp":
		it.Blocked = true
		it.Advice = "raw " + strings.ToUpper(l.Kind) + ": never allowed (only HTTP and HTTPS can leave the sandbox)"
	default:
		it.Blocked = true
		it.entry, it.Advice = suggest(l)
		if it.entry != nil {
			it.Suggestion = entriesYAML([]prefixEntry{*it.entry})
		}
	}
	return it
}

// prefixEntry is a url_prefixes entry as the allowlist file spells it.
type prefixEntry struct {
	Host    string   `yaml:"host"`
	Path    string   `yaml:"path,omitempty"`
	Methods []string `yaml:"methods,flow,omitempty"`
}

// suggest is the url_prefixes entry a person would add to allow a refused
// HTTP request, or why no entry can.
func suggest(l proxy.LogLine) (*prefixEntry, string) {
	switch {
	case l.Reason == allowlist.ReasonInvalidPath:
		return nil, "this path can never be allowed: " + l.Reason
	case strings.HasPrefix(l.Reason, "graphql"):
		return nil, "a GraphQL operation the entry's graphql block does not list: add it there"
	case l.Reason != "" && l.Reason != allowlist.ReasonHostPath && l.Reason != allowlist.ReasonMethod:
		return nil, "refused by the proxy itself, not by the allowlist: " + clip(l.Reason, maxSummary)
	}
	e, ok := entryFor(l)
	if !ok {
		return nil, "no allowlist entry can allow this request"
	}
	return &e, ""
}

// entryFor builds the entry for l and checks, with the allowlist's own
// parser and matcher, that it allows the request.
func entryFor(l proxy.LogLine) (prefixEntry, bool) {
	host := strings.ToLower(l.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	raw, _, _ := strings.Cut(l.Path, "?")
	e := prefixEntry{Host: host, Path: allowlist.Unquote(raw)}
	if l.Method != "" {
		e.Methods = []string{strings.ToUpper(l.Method)}
	}
	if host == "" {
		return e, false
	}
	list, err := allowlist.Parse([]byte(entriesYAML([]prefixEntry{e})))
	if err != nil {
		return e, false
	}
	method := l.Method
	if method == "" {
		method = "GET"
	}
	ok, _ := list.Allowed(host, raw, method)
	return e, ok
}

func entriesYAML(es []prefixEntry) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if enc.Encode(map[string][]prefixEntry{"url_prefixes": es}) != nil || enc.Close() != nil {
		return ""
	}
	return buf.String()
}

// suggestions merges the entries for every blocked request of items (one
// per host and path, methods joined) into one YAML block.
func suggestions(items []netItem) string {
	var es []prefixEntry
	for _, it := range items {
		if it.entry == nil {
			continue
		}
		e := *it.entry
		e.Methods = slices.Clone(e.Methods)
		i := slices.IndexFunc(es, func(x prefixEntry) bool { return x.Host == e.Host && x.Path == e.Path })
		if i < 0 {
			es = append(es, e)
			continue
		}
		if len(e.Methods) == 0 || len(es[i].Methods) == 0 {
			es[i].Methods = nil // all methods
			continue
		}
		for _, m := range e.Methods {
			if !slices.Contains(es[i].Methods, m) {
				es[i].Methods = append(es[i].Methods, m)
			}
		}
	}
	if len(es) == 0 {
		return ""
	}
	return entriesYAML(es)
}
