package allowlist

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse parses the YAML allowlist strictly. Unknown or duplicate keys,
// wrong types, empty hosts, empty domains and empty methods are errors
// whose text names the key and entry index, e.g.
// "url_prefixes[2].host: required". An empty document (or only comments)
// is an empty List, which blocks everything. Anchors and aliases are
// resolved; merge keys ("<<") are rejected as unknown keys. A file with
// more than one YAML document is an error.
func Parse(data []byte) (*List, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &List{}, nil
		}
		return nil, fmt.Errorf("network allowlist: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("network allowlist: %w", err)
		}
		return nil, errors.New("network allowlist: more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return &List{}, nil
		}
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return &List{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, perr("", root, "must be a mapping with keys domains and url_prefixes")
	}
	l := &List{}
	err := eachKey(root, "", func(key string, v *yaml.Node) error {
		switch key {
		case "domains":
			ds, err := stringList(v, "domains")
			if err != nil {
				return err
			}
			for i, d := range ds {
				if d == "" {
					return perr(fmt.Sprintf("domains[%d]", i), v, "must not be empty")
				}
			}
			l.Domains = ds
		case "url_prefixes":
			ps, err := prefixes(v)
			if err != nil {
				return err
			}
			l.URLPrefixes = ps
		default:
			return perr(key, v, "unknown key (allowed: domains, url_prefixes)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func prefixes(v *yaml.Node) ([]Prefix, error) {
	v = deref(v)
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, perr("url_prefixes", v, "must be a list")
	}
	out := make([]Prefix, 0, len(v.Content))
	for i, n := range v.Content {
		at := fmt.Sprintf("url_prefixes[%d]", i)
		n = deref(n)
		if n.Kind != yaml.MappingNode {
			return nil, perr(at, n, "must be a mapping with keys host, path, methods, graphql, websocket")
		}
		var p Prefix
		hasHost := false
		err := eachKey(n, at, func(key string, val *yaml.Node) error {
			k := at + "." + key
			switch key {
			case "host":
				s, err := str(val, k)
				if err != nil {
					return err
				}
				p.Host, hasHost = s, true
			case "path":
				if isNull(deref(val)) {
					return nil
				}
				s, err := str(val, k)
				if err != nil {
					return err
				}
				p.Path = s
			case "methods":
				ms, err := stringList(val, k)
				if err != nil {
					return err
				}
				for j, m := range ms {
					if m == "" {
						return perr(fmt.Sprintf("%s[%d]", k, j), val, "must not be empty")
					}
					ms[j] = asciiUpper(m)
				}
				p.Methods = ms
			case "graphql":
				g, err := graphql(val, k)
				if err != nil {
					return err
				}
				p.GraphQL = g
			case "websocket":
				b := deref(val)
				if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&p.WebSocket) != nil {
					return perr(k, val, "must be true or false")
				}
			default:
				return perr(k, val, "unknown key (allowed: host, path, methods, graphql, websocket)")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if !hasHost || p.Host == "" {
			return nil, perr(at+".host", n, "required")
		}
		out = append(out, p)
	}
	return out, nil
}

func graphql(v *yaml.Node, at string) (*GraphQL, error) {
	v = deref(v)
	g := &GraphQL{}
	if isNull(v) {
		return g, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, perr(at, v, "must be a mapping with keys queries, mutations, subscriptions")
	}
	err := eachKey(v, at, func(key string, val *yaml.Node) error {
		k := at + "." + key
		var dst *[]string
		switch key {
		case "queries":
			dst = &g.Queries
		case "mutations":
			dst = &g.Mutations
		case "subscriptions":
			dst = &g.Subscriptions
		default:
			return perr(k, val, "unknown key (allowed: queries, mutations, subscriptions)")
		}
		ss, err := stringList(val, k)
		if err != nil {
			return err
		}
		*dst = ss
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// eachKey walks a mapping node, rejecting non-string and duplicate keys.
func eachKey(m *yaml.Node, at string, fn func(key string, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn := deref(m.Content[i])
		name := at
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() != "!!str" {
			return perr(at, kn, "keys must be strings")
		}
		if name != "" {
			name += "."
		}
		name += kn.Value
		if seen[kn.Value] {
			return perr(name, kn, "duplicate key")
		}
		seen[kn.Value] = true
		if err := fn(kn.Value, m.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func stringList(v *yaml.Node, at string) ([]string, error) {
	v = deref(v)
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, perr(at, v, "must be a list of strings")
	}
	out := make([]string, 0, len(v.Content))
	for i, n := range v.Content {
		s, err := str(n, fmt.Sprintf("%s[%d]", at, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func str(n *yaml.Node, at string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", perr(at, n, "must be a string")
	}
	return n.Value, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func perr(at string, n *yaml.Node, msg string) error {
	line := ""
	if n != nil && n.Line > 0 {
		line = fmt.Sprintf(" (line %d)", n.Line)
	}
	if at == "" {
		return fmt.Errorf("network allowlist: %s%s", msg, line)
	}
	return fmt.Errorf("network allowlist: %s: %s%s", at, msg, line)
}
