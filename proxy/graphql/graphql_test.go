package graphql

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airut-go/airut/proxy/allowlist"
)

func body(query string, extra ...string) []byte {
	q, _ := json.Marshal(query)
	b := `{"query":` + string(q)
	for _, e := range extra {
		b += "," + e
	}
	return []byte(b + "}")
}

func TestCheck(t *testing.T) {
	rules := &allowlist.GraphQL{
		Queries:   []string{"repository", "viewer"},
		Mutations: []string{"createPullRequest", "add*Comment"},
	}
	tests := []struct {
		name    string
		body    []byte
		allowed bool
		op      string
	}{
		{"allowed query", body(`query { repository(owner:"o", name:"r") { id } }`), true, "query/repository"},
		{"shorthand query", body(`{ viewer { login } }`), true, "query/viewer"},
		{"allowed mutation", body(`mutation M { createPullRequest(input:{}) { pullRequest { url } } }`), true, "mutation/createPullRequest"},
		{"wildcard mutation", body(`mutation { addPullRequestReviewComment(input:{}) { clientMutationId } }`), true, "mutation/addPullRequestReviewComment"},
		{"field not allowed", body(`mutation { deleteRepository(input:{}) { clientMutationId } }`), false, "mutation/deleteRepository"},
		{"second field not allowed", body(`mutation { createPullRequest(input:{}) { clientMutationId } mergePullRequest(input:{}) { clientMutationId } }`), false, "mutation/mergePullRequest"},
		{"alias resolves to the real field", body(`mutation { createPullRequest: mergePullRequest(input:{}) { clientMutationId } }`), false, "mutation/mergePullRequest"},
		{"case-sensitive", body(`query { Repository { id } }`), false, "query/Repository"},
		// The reference's bypasses: top-level fields that reach any object
		// by ID or URL are fields like any other, refused unless listed.
		{"node by id on another repository", body(`query { node(id:"R_other") { ... on Repository { issues(first:1) { nodes { body } } } } }`), false, "query/node"},
		{"nodes by ids", body(`query { nodes(ids:["R_other"]) { id } }`), false, "query/nodes"},
		{"resource by url", body(`query { resource(url:"https://github.com/other/repo") { url } }`), false, "query/resource"},
		{"allowed field beside node", body(`query { viewer { login } node(id:"x") { id } }`), false, "query/node"},
		{"alias hides node", body(`query { viewer: node(id:"x") { id } }`), false, "query/node"},
		{"mutation under a query alias", body(`mutation { repository: deleteRepository(input:{}) { clientMutationId } }`), false, "mutation/deleteRepository"},
		{"inline fragment flattened", body(`query { ... on Query { viewer { login } organization(login:"x") { id } } }`), false, "query/organization"},
		{"inline fragment allowed", body(`query { ... on Query { viewer { login } } }`), true, "query/viewer"},
		{"named fragment spread", body(`query { ...F } fragment F on Query { viewer { login } }`), false, "query/<fragment-spread>"},
		{"no subscription patterns", body(`subscription { viewer { login } }`), false, "subscription:<blocked>"},
		{"batched", []byte(`[` + string(body(`{ viewer { login } }`)) + `]`), false, "<batched>"},
		{"not JSON", []byte(`query { viewer { login } }`), false, "<unparseable>"},
		{"JSON null", []byte(`null`), false, "<unparseable>"},
		{"no query", []byte(`{"variables":{}}`), false, "<no-query>"},
		{"query not a string", []byte(`{"query":42}`), false, "<no-query>"},
		{"parse error", body(`query { viewer { login }`), false, "<parse-error>"},
		{"two operations, no name", body(`query A { viewer { login } } mutation B { deleteRepository(input:{}) { clientMutationId } }`), false, "<operation-name-invalid>"},
		{"two operations, named", body(`query A { viewer { login } } mutation B { deleteRepository(input:{}) { clientMutationId } }`, `"operationName":"A"`), true, "query/viewer"},
		{"two operations, other named", body(`query A { viewer { login } } mutation B { deleteRepository(input:{}) { clientMutationId } }`, `"operationName":"B"`), false, "mutation/deleteRepository"},
		{"unknown operation name", body(`query A { viewer { login } }`, `"operationName":"Z"`), false, "<operation-name-invalid>"},
		{"operation name not a string", body(`query A { viewer { login } }`, `"operationName":1`), false, "<operation-name-invalid>"},
		{"null operation name", body(`query A { viewer { login } }`, `"operationName":null`), true, "query/viewer"},
		{"too large", body(`{ viewer { login } }`, `"pad":"`+strings.Repeat("x", MaxBody)+`"`), false, "<too-large>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Check(tc.body, rules)
			if d.Allowed != tc.allowed || d.Op != tc.op {
				t.Errorf("Check = %+v, want allowed=%v op=%q", d, tc.allowed, tc.op)
			}
			if !d.Allowed && d.Detail == "" {
				t.Error("a refusal without detail")
			}
		})
	}
}

func TestCheckNilRulesRefuses(t *testing.T) {
	if d := Check(body(`{ viewer { login } }`), nil); d.Allowed {
		t.Errorf("Check with no rules = %+v, want refused", d)
	}
}

// FuzzCheck: no input panics, and anything allowed is a single parsed
// operation whose fields all match (checked by re-running with rules that
// allow nothing: the same body must then be refused).
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"query":"{ viewer { login } }"}`,
		`{"query":"mutation { createPullRequest(input:{}) { x } }","operationName":null}`,
		`[{"query":"{ a }"}]`,
		`{"query":"query A { a } query B { b }","operationName":"B"}`,
		`{"query":"{ ... on Query { a ...F } }"}`,
	} {
		f.Add([]byte(s))
	}
	all := &allowlist.GraphQL{Queries: []string{"*"}, Mutations: []string{"*"}, Subscriptions: []string{"*"}}
	none := &allowlist.GraphQL{}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Check(b, all)
		if d.Op == "" {
			t.Fatalf("no op in %+v", d)
		}
		if n := Check(b, none); n.Allowed {
			t.Fatalf("allowed with no rules: %+v", n)
		}
	})
}
