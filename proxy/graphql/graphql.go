// Package graphql enforces the operation allowlist of an allowlist
// entry's `graphql` block: a request body is allowed only if it is one
// GraphQL operation whose type has patterns and whose every top-level
// field matches one of them (fnmatch, case-sensitive; aliases resolve to
// the real field, inline fragments at the root are flattened).
//
// Everything it cannot read with certainty is refused: oversized,
// non-JSON or batched bodies, a JSON object with a repeated key, a
// missing query, a parse error, an ambiguous operation, a fragment spread
// at the root. CheckRepoScope (scope.go) reads bodies the same way to
// keep a GitHub App token's GraphQL requests to its repositories. The
// package does no I/O and imports only the allowlist's matcher and a
// GraphQL parser.
package graphql

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/airut-go/airut/proxy/allowlist"
)

// MaxBody is the largest body checked; larger ones are refused.
const MaxBody = 1 << 20

// Decision is the outcome for one request body. Op names what was
// decided on: "mutation/createIssue" (the first field, or the first
// refused one), or a reason in angle brackets such as "<batched>".
type Decision struct {
	Allowed bool
	Op      string
	Detail  string
}

// Check decides a request body against the entry's rules.
func Check(body []byte, rules *allowlist.GraphQL) Decision {
	if rules == nil {
		return Decision{Op: "<no-rules>", Detail: "the allowlist entry has no graphql rules"}
	}
	req, refused := parseRequest(body)
	if refused != nil {
		return *refused
	}
	op, kind := req.op, req.kind
	patterns := rulesFor(rules, op.Operation)
	fields, ok := rootFields(op.SelectionSet, nil)
	if !ok {
		return Decision{Op: kind + "/<fragment-spread>", Detail: "named fragment spreads at the root are not allowed; write the fields out"}
	}
	if len(patterns) == 0 {
		return Decision{Op: kind + ":<blocked>", Detail: "the allowlist allows no " + kind + " operations here"}
	}
	for _, f := range fields {
		if !allowlist.MatchAny(patterns, f, false) {
			return Decision{Op: kind + "/" + f, Detail: kind + " field " + f + " is not in the allowlist"}
		}
	}
	first := "<empty>"
	if len(fields) > 0 {
		first = fields[0]
	}
	return Decision{Allowed: true, Op: kind + "/" + first}
}

// request is a request body read with certainty: one JSON object whose
// query parses and selects exactly one operation.
type request struct {
	doc  *ast.QueryDocument
	op   *ast.OperationDefinition
	kind string // "query", "mutation" or "subscription"
	// variables is the "variables" member as sent, nil when absent; each
	// check decides what it accepts there.
	variables json.RawMessage
}

// parseRequest reads a body the way every check here does; a non-nil
// Decision is the refusal, with an Op in angle brackets.
func parseRequest(body []byte) (*request, *Decision) {
	refuse := func(op, detail string) (*request, *Decision) {
		return nil, &Decision{Op: op, Detail: detail}
	}
	if len(body) > MaxBody {
		return refuse("<too-large>", "GraphQL request bodies over 1 MiB are not inspected")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return refuse("<batched>", "batched GraphQL requests are not allowed; send one operation per request")
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &req); err != nil || req == nil {
		return refuse("<unparseable>", "the body is not a JSON object")
	}
	// A repeated key is read as its last value here, and may be read
	// otherwise upstream.
	if duplicateKeys(trimmed) {
		return refuse("<duplicate-key>", "the body repeats a key in a JSON object")
	}
	var query string
	if raw, ok := req["query"]; !ok || json.Unmarshal(raw, &query) != nil {
		return refuse("<no-query>", "the body has no \"query\" string")
	}
	var opName string
	if raw, ok := req["operationName"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &opName) != nil {
			return refuse("<operation-name-invalid>", "operationName is not a string")
		}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return refuse("<parse-error>", "the query does not parse: "+err.Error())
	}
	op := pick(doc.Operations, opName)
	if op == nil {
		return refuse("<operation-name-invalid>", "operationName does not select exactly one operation of the document")
	}
	kind := string(op.Operation)
	if kind == "" {
		kind = string(ast.Query)
	}
	return &request{doc: doc, op: op, kind: kind, variables: req["variables"]}, nil
}

// duplicateKeys reports whether any JSON object in data, at any depth,
// has a key twice. data is known to be valid JSON.
func duplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// One entry per open object or array: the keys seen so far (nil for
	// an array), and whether the next token of an object is a key.
	type level struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err != nil {
			return err != io.EOF // anything but the end: refuse
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].expectKey {
			if key, ok := tok.(string); ok {
				if stack[n-1].keys[key] {
					return true
				}
				stack[n-1].keys[key] = true
				stack[n-1].expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{keys: map[string]bool{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended (a scalar, or a closed object or array): in an
		// object, a key comes next.
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].expectKey = true
		}
	}
}

// pick is the operation a request runs: the only one when no name is
// given, else the one of that name.
func pick(ops ast.OperationList, name string) *ast.OperationDefinition {
	if name == "" {
		if len(ops) == 1 {
			return ops[0]
		}
		return nil
	}
	var found *ast.OperationDefinition
	for _, o := range ops {
		if o.Name == name {
			if found != nil {
				return nil
			}
			found = o
		}
	}
	return found
}

func rulesFor(r *allowlist.GraphQL, op ast.Operation) []string {
	switch op {
	case ast.Mutation:
		return r.Mutations
	case ast.Subscription:
		return r.Subscriptions
	default:
		return r.Queries
	}
}

// rootFields lists the real names of the top-level fields, inline
// fragments flattened; ok is false when a named fragment is spread.
func rootFields(set ast.SelectionSet, out []string) ([]string, bool) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			out = append(out, s.Name)
		case *ast.InlineFragment:
			var ok bool
			if out, ok = rootFields(s.SelectionSet, out); !ok {
				return out, false
			}
		default:
			return out, false
		}
	}
	return out, true
}
