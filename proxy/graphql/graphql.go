// Package graphql enforces the operation allowlist of an allowlist
// entry's `graphql` block: a request body is allowed only if it is one
// GraphQL operation whose type has patterns and whose every top-level
// field matches one of them (fnmatch, case-sensitive; aliases resolve to
// the real field, inline fragments at the root are flattened).
//
// Everything it cannot read with certainty is refused: oversized,
// non-JSON or batched bodies, a missing query, a parse error, an
// ambiguous operation, a fragment spread at the root. It does no I/O and
// imports only the allowlist's matcher and a GraphQL parser.
package graphql

import (
	"bytes"
	"encoding/json"

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
	if len(body) > MaxBody {
		return Decision{Op: "<too-large>", Detail: "GraphQL request bodies over 1 MiB are not inspected"}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return Decision{Op: "<batched>", Detail: "batched GraphQL requests are not allowed; send one operation per request"}
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &req); err != nil || req == nil {
		return Decision{Op: "<unparseable>", Detail: "the body is not a JSON object"}
	}
	var query string
	if raw, ok := req["query"]; !ok || json.Unmarshal(raw, &query) != nil {
		return Decision{Op: "<no-query>", Detail: "the body has no \"query\" string"}
	}
	var opName string
	if raw, ok := req["operationName"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &opName) != nil {
			return Decision{Op: "<operation-name-invalid>", Detail: "operationName is not a string"}
		}
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return Decision{Op: "<parse-error>", Detail: "the query does not parse: " + err.Error()}
	}
	op := pick(doc.Operations, opName)
	if op == nil {
		return Decision{Op: "<operation-name-invalid>", Detail: "operationName does not select exactly one operation of the document"}
	}
	kind, patterns := string(op.Operation), rulesFor(rules, op.Operation)
	if kind == "" {
		kind = string(ast.Query)
	}
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
