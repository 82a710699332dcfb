package graphql

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// msgpackArray encodes integers as a MessagePack array, each in its
// shortest form, as GitHub's node IDs do.
func msgpackArray(elems ...int64) []byte {
	var b []byte
	if len(elems) <= 15 {
		b = append(b, 0x90|byte(len(elems)))
	} else {
		b = binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(len(elems)))
	}
	for _, v := range elems {
		switch {
		case v >= 0 && v <= 0x7f:
			b = append(b, byte(v))
		case v >= 0 && v <= math.MaxUint8:
			b = append(b, 0xcc, byte(v))
		case v >= 0 && v <= math.MaxUint16:
			b = binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
		case v >= 0 && v <= math.MaxUint32:
			b = binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
		case v >= 0:
			b = binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(v))
		case v >= math.MinInt8:
			b = append(b, 0xd0, byte(v))
		case v >= math.MinInt16:
			b = binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
		case v >= math.MinInt32:
			b = binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
		default:
			b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
		}
	}
	return b
}

// nodeIDOf builds a current-format node ID: "PR", 0, repo, number gives
// a pull request's ID.
func nodeIDOf(prefix string, elems ...int64) string {
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(msgpackArray(elems...))
}

func legacyID(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const (
	widgetsDBID = 123456789 // acme/widgets, allowed
	secretDBID  = 987654321 // acme/secret, not allowed
	toolsDBID   = 4242      // acme/tools, allowed by its node ID only
)

var (
	widgetsID       = nodeIDOf("R", 0, widgetsDBID)
	secretID        = nodeIDOf("R", 0, secretDBID)
	toolsID         = nodeIDOf("R", 0, toolsDBID)
	widgetsLegacyID = legacyID("010:Repository123456789") // MDEwOlJlcG9zaXRvcnkx…
	secretLegacyID  = legacyID("010:Repository987654321")
	widgetsPR       = nodeIDOf("PR", 0, widgetsDBID, 17)
	secretPR        = nodeIDOf("PR", 0, secretDBID, 17)
	widgetsIssue    = nodeIDOf("I", 0, widgetsDBID, 3)
	secretComment   = nodeIDOf("IC", 0, secretDBID, 99)
	userID          = nodeIDOf("U", 0, 583231)
	teamID          = nodeIDOf("T", 0, 7)
	testRepos       = Repos{
		FullNames: map[string]bool{"acme/widgets": true, "acme/tools": true, "kit/kit": true},
		NodeIDs:   map[string]bool{widgetsID: true, toolsID: true},
		DBIDs:     map[int64]bool{widgetsDBID: true},
	}
)

// gql is a request body: a query and its variables (a JSON object, or ""
// for none).
func gql(query, variables string, extra ...string) []byte {
	if variables != "" {
		extra = append(extra, `"variables":`+variables)
	}
	return body(query, extra...)
}

func vars(kv ...any) string {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

type scopeCase struct {
	name    string
	body    []byte
	allowed bool
	op      string
	detail  string // a part of the refusal's detail, when it matters
}

func scopeCases() []scopeCase {
	const createPR = `mutation CreatePR($input: CreatePullRequestInput!) { createPullRequest(input: $input) { pullRequest { number url } } }`
	const addComment = `mutation Comment($subject: ID!, $body: String!) { addComment(input: {subjectId: $subject, body: $body, clientMutationId: "airut-1"}) { commentEdge { node { url } } } }`
	const byName = `query Repo($owner: String!, $name: String!, $cursor: String) {
		repository(owner: $owner, name: $name) {
			pullRequests(first: 20, after: $cursor, states: OPEN) { nodes { number title headRefName } pageInfo { hasNextPage endCursor } }
		}
	}`
	prInput := func(repoID string) string {
		return vars("input", map[string]any{"repositoryId": repoID, "baseRefName": "main", "headRefName": "airut/fix", "title": "Fix the widget", "body": "…"})
	}
	return []scopeCase{
		// repository(owner:, name:)
		{"allowed repository", gql(`query { repository(owner: "acme", name: "widgets") { issues(first: 10, states: OPEN) { nodes { number title author { login } } } } }`, ""), true, "query/repository", ""},
		{"other repository", gql(`query { repository(owner: "acme", name: "secret") { issues(first: 10) { nodes { title body } } } }`, ""), false, "query/repository", "acme/secret"},
		{"other owner", gql(`{ repository(owner: "evil", name: "widgets") { id } }`, ""), false, "query/repository", "evil/widgets"},
		{"case-insensitive owner and name", gql(`{ repository(owner: "ACME", name: "Widgets") { defaultBranchRef { name } } }`, ""), true, "query/repository", ""},
		{"Unicode folding is not case-insensitivity", gql(`{ repository(owner: "\u212Ait", name: "kit") { id } }`, ""), false, "query/repository", ""},
		{"name without owner", gql(`{ repository(name: "widgets") { id } }`, ""), false, "query/repository", "no owner"},
		{"arguments without name", gql(`{ repository(owner: "acme") { id } }`, ""), false, "query/repository", ""},
		{"owner not a string", gql(`{ repository(owner: null, name: "widgets") { id } }`, ""), false, "query/repository", ""},
		{"repository of an object is no lookup", gql(`{ node(id: "`+widgetsPR+`") { ... on PullRequest { title repository { nameWithOwner } } } }`, ""), true, "query/node", ""},

		// owners
		{"owner from organization(login:)", gql(`{ organization(login: "acme") { repository(name: "widgets") { issues(first: 5) { totalCount } } } }`, ""), true, "query/organization", ""},
		{"other repository under organization(login:)", gql(`{ organization(login: "acme") { repository(name: "secret") { id } } }`, ""), false, "query/repository", "acme/secret"},
		{"owner from user(login:)", gql(`{ user(login: "kit") { repository(name: "kit") { id } } }`, ""), true, "query/user", ""},
		{"owner through an inline fragment", gql(`{ repositoryOwner(login: "acme") { ... on Organization { repository(name: "widgets") { id } } } }`, ""), true, "query/repositoryOwner", ""},
		{"viewer.repository", gql(`{ viewer { repository(name: "widgets") { id } } }`, ""), false, "query/repository", "no owner"},
		{"the owner reaches only its own fields", gql(`{ organization(login: "acme") { membersWithRole(first: 10) { nodes { repository(name: "widgets") { id } } } } }`, ""), false, "query/repository", "no owner"},
		{"login from an unsent variable", gql(`query($login: String!) { organization(login: $login) { name } }`, ""), false, "query/organization", "unresolved variable $login"},
		{"owner login alone", gql(`{ organization(login: "anyone") { name description } }`, ""), true, "query/organization", ""},

		// variables
		{"variables", gql(byName, vars("owner", "acme", "name", "widgets")), true, "query/repository", ""},
		{"variables naming another repository", gql(byName, vars("owner", "acme", "name", "secret")), false, "query/repository", "acme/secret"},
		{"default value", gql(`query($owner: String = "acme", $name: String!) { repository(owner: $owner, name: $name) { id } }`, vars("name", "widgets")), true, "query/repository", ""},
		{"default naming another owner", gql(`query($owner: String = "evil", $name: String!) { repository(owner: $owner, name: $name) { id } }`, vars("name", "widgets")), false, "query/repository", "evil/widgets"},
		{"sent value over the default", gql(`query($owner: String = "evil", $name: String!) { repository(owner: $owner, name: $name) { id } }`, vars("owner", "acme", "name", "widgets")), true, "query/repository", ""},
		{"null sent over the default", gql(`query($owner: String = "acme") { repository(owner: $owner, name: "widgets") { id } }`, vars("owner", nil)), false, "query/repository", ""},
		{"unresolved variable", gql(byName, vars("name", "widgets")), false, "query/repository", "unresolved variable $owner"},
		{"unsent cursor is only absent", gql(byName, vars("owner", "acme", "name", "widgets")), true, "query/repository", ""},
		{"undeclared variable", gql(`query { repository(owner: $owner, name: "widgets") { id } }`, vars("owner", "acme")), false, "query/repository", "not declared"},
		{"variables not an object", gql(byName, `"{\"owner\":\"acme\",\"name\":\"widgets\"}"`), false, "<variables-invalid>", ""},
		{"null variables", gql(`{ viewer { login } }`, `null`), true, "query/viewer", ""},

		// repositoryId, repositoryNameWithOwner
		{"createPullRequest in an allowed repository", gql(createPR, prInput(widgetsID)), true, "mutation/createPullRequest", ""},
		{"createPullRequest in an allowed repository by database ID", gql(createPR, prInput(nodeIDOf("R", 0, widgetsDBID))), true, "mutation/createPullRequest", ""},
		{"createPullRequest in a repository allowed by node ID", gql(createPR, prInput(toolsID)), true, "mutation/createPullRequest", ""},
		{"createPullRequest in another repository", gql(createPR, prInput(secretID)), false, "mutation/createPullRequest", "repositoryId"},
		{"repositoryId of a pull request", gql(createPR, prInput(widgetsPR)), false, "mutation/createPullRequest", "repositoryId"},
		{"repositoryId literal", gql(`mutation { createIssue(input: {repositoryId: "`+secretID+`", title: "x"}) { issue { url } } }`, ""), false, "mutation/createIssue", "repositoryId"},
		{"legacy repositoryId", gql(createPR, prInput(widgetsLegacyID)), true, "mutation/createPullRequest", ""},
		{"legacy repositoryId of another repository", gql(createPR, prInput(secretLegacyID)), false, "mutation/createPullRequest", "repositoryId"},
		{"repositoryNameWithOwner", gql(`mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }`,
			vars("input", map[string]any{"branch": map[string]any{"repositoryNameWithOwner": "Acme/Widgets", "branchName": "airut/fix"}, "expectedHeadOid": "0123abcd", "message": map[string]any{"headline": "Fix"}})), true, "mutation/createCommitOnBranch", ""},
		{"repositoryNameWithOwner of another repository", gql(`mutation { createCommitOnBranch(input: {branch: {repositoryNameWithOwner: "acme/secret", branchName: "main"}, expectedHeadOid: "0123abcd", message: {headline: "x"}}) { commit { oid } } }`, ""),
			false, "mutation/createCommitOnBranch", "acme/secret"},

		// node IDs
		{"comment on a pull request in an allowed repository", gql(addComment, vars("subject", widgetsPR, "body", "LGTM")), true, "mutation/addComment", ""},
		{"comment on a pull request in another repository", gql(addComment, vars("subject", secretPR, "body", "LGTM")), false, "mutation/addComment", "subjectId"},
		{"comment subject unsent", gql(addComment, vars("body", "LGTM")), false, "mutation/addComment", "unresolved variable $subject"},
		{"comment subject null", gql(addComment, vars("subject", nil, "body", "x")), true, "mutation/addComment", ""},
		{"request reviews from users and teams", gql(`mutation { requestReviews(input: {pullRequestId: "`+widgetsPR+`", userIds: ["`+userID+`"], teamIds: ["`+teamID+`"], union: true}) { pullRequest { id } } }`, ""), true, "mutation/requestReviews", ""},
		{"update an issue of another repository", gql(`mutation { updateIssueComment(input: {id: "`+secretComment+`", body: "x"}) { issueComment { id } } }`, ""), false, "mutation/updateIssueComment", "belongs to repository 987654321"},
		{"nodes, all allowed", gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Issue { title } } }`, vars("ids", []string{widgetsPR, widgetsIssue, userID, widgetsID})), true, "query/nodes", ""},
		{"nodes, one refused", gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Issue { title } } }`, vars("ids", []string{widgetsPR, secretPR, widgetsIssue})), false, "query/nodes", "987654321"},
		{"nodes, literal list", gql(`{ nodes(ids: ["`+widgetsIssue+`", "`+secretComment+`"]) { id } }`, ""), false, "query/nodes", ""},
		{"node of another repository", gql(`{ node(id: "`+secretID+`") { ... on Repository { issues(first: 1) { nodes { body } } } } }`, ""), false, "query/node", ""},
		{"node by an undecodable ID", gql(`{ node(id: "not-an-id") { id } }`, ""), false, "query/node", "not a node ID"},
		{"node ID with a lower-case prefix", gql(`{ node(id: "`+strings.ToLower(widgetsPR[:2])+widgetsPR[2:]+`") { id } }`, ""), false, "query/node", ""},
		{"node ID not a string", gql(`{ node(id: 123456789) { id } }`, ""), false, "query/node", "not a string"},
		{"node ID an object", gql(`query($id: ID!) { node(id: $id) { id } }`, vars("id", map[string]any{"id": widgetsID})), false, "query/node", "object"},
		{"legacy pull request ID", gql(`{ node(id: "MDExOlB1bGxSZXF1ZXN0MTIz") { id } }`, ""), false, "query/node", "legacy PullRequest"},
		{"legacy user ID", gql(`{ node(id: "MDQ6VXNlcjE=") { ... on User { login } } }`, ""), true, "query/node", ""},
		{"legacy allowed repository ID", gql(`{ node(id: "`+widgetsLegacyID+`") { id } }`, ""), true, "query/node", ""},
		{"legacy other repository ID", gql(`{ node(id: "`+secretLegacyID+`") { id } }`, ""), false, "query/node", "repository 987654321"},
		{"ID in a directive", gql(`{ viewer @include(if: true) { login } }`, ""), true, "query/viewer", ""},

		// enumerations
		{"search", gql(`query { search(query: "repo:acme/secret is:issue", type: ISSUE, first: 10) { issueCount nodes { ... on Issue { title } } } }`, ""), false, "query/search", ""},
		{"repositories(first: 10)", gql(`{ viewer { repositories(first: 10) { nodes { nameWithOwner } } } }`, ""), false, "query/repositories", ""},
		{"repositories without arguments listing", gql(`{ viewer { repositories { nodes { name } } } }`, ""), false, "query/repositories", ""},
		{"repositories counted", gql(`{ organization(login: "acme") { repositories { totalCount } } }`, ""), true, "query/organization", ""},
		{"forks counted", gql(`{ repository(owner: "acme", name: "widgets") { forks { totalCount } stargazerCount } }`, ""), true, "query/repository", ""},
		{"forks listed", gql(`{ repository(owner: "acme", name: "widgets") { forks(first: 5) { nodes { nameWithOwner } } } }`, ""), false, "query/forks", ""},
		{"pinned items", gql(`{ user(login: "kit") { pinnedItems(first: 6) { nodes { ... on Repository { name } } } } }`, ""), false, "query/pinnedItems", ""},
		{"itemShowcase", gql(`{ user(login: "kit") { itemShowcase { hasPinnedItems } } }`, ""), false, "query/itemShowcase", ""},
		{"resource(url:)", gql(`{ resource(url: "https://github.com/acme/secret/pull/1") { ... on PullRequest { body } } }`, ""), false, "query/resource", ""},

		// fragments and aliases
		{"named fragment", gql(`query { ...Repo } fragment Repo on Query { repository(owner: "acme", name: "widgets") { ...Issues } } fragment Issues on Repository { issues(first: 1) { nodes { title } } }`, ""), true, "query/<fragment>", ""},
		{"named fragment naming another repository", gql(`query { viewer { login } ...Repo } fragment Repo on Query { repository(owner: "acme", name: "secret") { id } }`, ""), false, "query/repository", "acme/secret"},
		{"nested fragment with a node ID", gql(`query { ...A } fragment A on Query { viewer { login } ...B } fragment B on Query { node(id: "`+secretPR+`") { id } }`, ""), false, "query/node", ""},
		{"fragment under two owners", gql(`{ a: organization(login: "acme") { ...R } b: organization(login: "evil") { ...R } } fragment R on Organization { repository(name: "widgets") { id } }`, ""), false, "query/repository", "evil/widgets"},
		{"fragment reused under one owner", gql(`{ organization(login: "acme") { ...R ...R } } fragment R on Organization { repository(name: "widgets") { id } }`, ""), true, "query/organization", ""},
		{"fragment cycle", gql(`{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }`, ""), false, "query/...A", "spreads itself"},
		{"undefined fragment", gql(`{ viewer { ...Missing } }`, ""), false, "query/...Missing", ""},
		{"fragment defined twice", gql(`{ ...A } fragment A on Query { viewer { login } } fragment A on Query { repository(owner: "acme", name: "secret") { id } }`, ""), false, "query/...A", "twice"},
		{"inline fragment", gql(`{ ... on Query { repository(owner: "acme", name: "secret") { id } } }`, ""), false, "query/repository", ""},
		{"aliased repository", gql(`{ widgets: repository(owner: "acme", name: "secret") { id } }`, ""), false, "query/repository", "acme/secret"},
		{"aliased search", gql(`{ viewer: search(query: "x", type: REPOSITORY, first: 1) { repositoryCount } }`, ""), false, "query/search", ""},
		{"repeated argument", gql(`{ repository(owner: "acme", name: "widgets", name: "secret") { id } }`, ""), false, "query/repository", "twice"},
		{"repeated input field", gql(`mutation { addComment(input: {subjectId: "`+widgetsPR+`", subjectId: "`+secretPR+`", body: "x"}) { clientMutationId } }`, ""), false, "mutation/addComment", "twice"},

		{"repositories counted in an inline fragment", gql(`{ viewer { repositories { ... on RepositoryConnection { totalCount __typename } } } }`, ""), true, "query/viewer", ""},
		{"repositories counted in a named fragment", gql(`{ viewer { repositories { ...C } } } fragment C on RepositoryConnection { totalCount }`, ""), false, "query/repositories", ""},
		{"undeclared variable in a directive", gql(`{ viewer @skip(if: $hide) { login } }`, ""), false, "query/viewer", "not declared"},
		{"variable declared twice", gql(`query($id: ID, $id: ID) { node(id: $id) { id } }`, vars("id", widgetsPR)), false, "query/$id", "twice"},
		{"too deep through fragments", gql(deepFragments(3, 400), ""), false, "query/<too-deep>", ""},
		{"deep, not too deep", gql(deepFragments(2, 400), ""), true, "query/<fragment>", ""},

		// harmless
		{"typename", gql(`{ __typename }`, ""), true, "query/__typename", ""},
		{"viewer login", gql(`query { viewer { login name } rateLimit { remaining resetAt } }`, ""), true, "query/viewer", ""},

		// operations
		{"named operation selected", gql(`query A { repository(owner: "acme", name: "widgets") { id } } query B { repository(owner: "acme", name: "secret") { id } }`, "", `"operationName":"A"`), true, "query/repository", ""},
		{"other named operation selected", gql(`query A { repository(owner: "acme", name: "widgets") { id } } query B { repository(owner: "acme", name: "secret") { id } }`, "", `"operationName":"B"`), false, "query/repository", ""},
		{"ambiguous operation", gql(`query A { viewer { login } } query B { viewer { login } }`, ""), false, "<operation-name-invalid>", ""},

		// bodies
		{"batched", []byte(`[` + string(gql(`{ viewer { login } }`, "")) + `]`), false, "<batched>", ""},
		{"not JSON", []byte(`query { viewer { login } }`), false, "<unparseable>", ""},
		{"no query", []byte(`{"variables":{}}`), false, "<no-query>", ""},
		{"parse error", gql(`query { viewer { login }`, ""), false, "<parse-error>", ""},
		{"repeated key", []byte(`{"query":"{ viewer { login } }","query":"{ search(query:\"x\", type: ISSUE, first: 1) { issueCount } }"}`), false, "<duplicate-key>", ""},
		{"repeated variable", gql(`query($id: ID!) { node(id: $id) { id } }`, `{"id":"`+widgetsPR+`","id":"`+secretPR+`"}`), false, "<duplicate-key>", ""},
		{"too large", gql(`{ viewer { login } }`, "", `"pad":"`+strings.Repeat("x", MaxBody)+`"`), false, "<too-large>", ""},
	}
}

// deepFragments is a query spreading n fragments into one another, each
// nesting depth fields.
func deepFragments(n, depth int) string {
	var q strings.Builder
	q.WriteString("{ ...F0 }")
	for i := range n {
		q.WriteString(" fragment F" + strconv.Itoa(i) + " on Query { ")
		q.WriteString(strings.Repeat("a { ", depth))
		if i < n-1 {
			q.WriteString("...F" + strconv.Itoa(i+1))
		} else {
			q.WriteString("b")
		}
		q.WriteString(strings.Repeat(" }", depth+1))
	}
	return q.String()
}

func TestCheckRepoScope(t *testing.T) {
	for _, tc := range scopeCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := CheckRepoScope(tc.body, testRepos)
			if d.Allowed != tc.allowed || d.Op != tc.op {
				t.Errorf("CheckRepoScope = %+v, want allowed=%v op=%q", d, tc.allowed, tc.op)
			}
			if !d.Allowed && d.Detail == "" {
				t.Error("a refusal without detail")
			}
			if tc.detail != "" && !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", d.Detail, tc.detail)
			}
		})
	}
}

func TestCheckRepoScopeNoRepos(t *testing.T) {
	for _, b := range [][]byte{
		gql(`{ repository(owner: "acme", name: "widgets") { id } }`, ""),
		gql(`{ node(id: "`+widgetsPR+`") { id } }`, ""),
		gql(`mutation { createIssue(input: {repositoryId: "`+widgetsID+`", title: "x"}) { clientMutationId } }`, ""),
	} {
		if d := CheckRepoScope(b, Repos{}); d.Allowed {
			t.Errorf("allowed with no repositories: %s", b)
		}
	}
}

// TestCheckRepoScopeFragmentFanOut: fragments spreading one another many
// times are walked once each, not once per path.
func TestCheckRepoScopeFragmentFanOut(t *testing.T) {
	var q strings.Builder
	q.WriteString("{ ...F0 }\n")
	const n = 60
	for i := range n {
		next := "viewer { login }"
		if i < n-1 {
			next = "...F" + strconv.Itoa(i+1) + " a: __typename ...F" + strconv.Itoa(i+1)
		}
		q.WriteString("fragment F" + strconv.Itoa(i) + " on Query { " + next + " }\n")
	}
	if d := CheckRepoScope(gql(q.String(), ""), testRepos); !d.Allowed {
		t.Fatalf("refused: %+v", d)
	}
}

// TestCheckRepoScopeWorkBound: a large fragment spread under many owner
// logins (walked once per login) is refused, not walked for long.
func TestCheckRepoScopeWorkBound(t *testing.T) {
	var q strings.Builder
	q.WriteString("{")
	for i := range 2000 {
		q.WriteString(" o" + strconv.Itoa(i) + `: organization(login: "l` + strconv.Itoa(i) + `") { ...F }`)
	}
	q.WriteString(" } fragment F on Organization {" + strings.Repeat(" name", 100_000) + " }")
	b := gql(q.String(), "")
	if len(b) > MaxBody {
		t.Fatalf("the body is %d bytes, over the limit", len(b))
	}
	start := time.Now()
	d := CheckRepoScope(b, testRepos)
	if d.Allowed || d.Op != "query/<too-complex>" {
		t.Errorf("CheckRepoScope = %+v, want refused as too complex", d)
	}
	t.Logf("refused in %v", time.Since(start))
}

func TestDecodeNodeID(t *testing.T) {
	tests := []struct {
		id     string
		ok     bool
		legacy bool
		prefix string
		dbid   int64
	}{
		{"R_kgDOGq0Yaw", true, false, "R", 447551595},
		{nodeIDOf("PR", 0, widgetsDBID, 1), true, false, "PR", widgetsDBID},
		{nodeIDOf("PRR", 0, 5, 1<<40), true, false, "PRR", 5},
		{nodeIDOf("IC", 0, 1<<62, 1), true, false, "IC", 1 << 62},
		{nodeIDOf("I", 1, widgetsDBID, 1), false, false, "", 0}, // version 1
		{nodeIDOf("I", 0, -5, 1), false, false, "", 0},          // negative
		{nodeIDOf("I", 0), false, false, "", 0},                 // too short
		{"R_kgDOGq0Yaw==", false, false, "", 0},                 // padded
		{"R_kgDO\nGq0Yaw", false, false, "", 0},                 // newline
		{"R_", false, false, "", 0},
		{"_kgDOGq0Yaw", false, false, "", 0},
		{"r_kgDOGq0Yaw", false, false, "", 0},
		{"MDExOlB1bGxSZXF1ZXN0MTIz", true, true, "PullRequest", 123},
		{"MDQ6VXNlcjE=", true, true, "User", 1},
		{"MDQ6VXNlcjE", true, true, "User", 1},
		{legacyID("06:Commit123:abcdef"), true, true, "Commit", 0},
		{legacyID("99:User1"), false, false, "", 0},
		{legacyID("-4:User1"), false, false, "", 0},
		{legacyID("4:Us1r1"), false, false, "", 0},
		{"not base64!", false, false, "", 0},
		{"", false, false, "", 0},
	}
	for _, tc := range tests {
		n, ok := decodeNodeID(tc.id)
		if ok != tc.ok || ok && (n.legacy != tc.legacy || n.prefix != tc.prefix || n.dbid != tc.dbid) {
			t.Errorf("decodeNodeID(%q) = %+v, %v; want %v %v %q %d", tc.id, n, ok, tc.ok, tc.legacy, tc.prefix, tc.dbid)
		}
	}
}

func TestMsgpackInts(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []int64 // nil: not ok
	}{
		{"fixints", []byte{0x93, 0x00, 0x05, 0x7f}, []int64{0, 5}},
		{"uint8", []byte{0x92, 0x00, 0xcc, 0xff}, []int64{0, 255}},
		{"uint16", []byte{0x92, 0x00, 0xcd, 0x01, 0x00}, []int64{0, 256}},
		{"uint32", []byte{0x92, 0x00, 0xce, 0x1a, 0xad, 0x18, 0x6b}, []int64{0, 447551595}},
		{"uint64", []byte{0x92, 0x00, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, []int64{0, 1 << 32}},
		{"uint64 over int64", []byte{0x92, 0x00, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"int8", []byte{0x92, 0xd0, 0xff, 0xd0, 0x7f}, []int64{-1, 127}},
		{"int16", []byte{0x92, 0xd1, 0x80, 0x00, 0x00}, []int64{-32768, 0}},
		{"int32", []byte{0x92, 0x00, 0xd2, 0xff, 0xff, 0xff, 0xfe}, []int64{0, -2}},
		{"int64", []byte{0x92, 0x00, 0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []int64{0, math.MaxInt64}},
		{"array16", []byte{0xdc, 0x00, 0x02, 0x00, 0x09}, []int64{0, 9}},
		{"rest unread", []byte{0x93, 0x00, 0x09, 0xa3, 'o', 'i', 'd'}, []int64{0, 9}},
		{"too short an array", []byte{0x91, 0x00}, nil},
		{"truncated element", []byte{0x92, 0x00, 0xce, 0x1a}, nil},
		{"truncated array16", []byte{0xdc, 0x00}, nil},
		{"missing element", []byte{0x92, 0x00}, nil},
		{"not an array", []byte{0x80}, nil},
		{"array32", []byte{0xdd, 0, 0, 0, 2, 0, 9}, nil},
		{"a string element", []byte{0x92, 0x00, 0xa1, 'x'}, nil},
		{"negative fixint", []byte{0x92, 0x00, 0xff}, nil},
		{"empty", nil, nil},
	}
	for _, tc := range tests {
		got, ok := msgpackInts(tc.in, 2)
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: msgpackInts = %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
}

// FuzzNodeID: decoding never panics, what it reads is well formed, and
// an encoded [0, repo, n] reads back as repo.
func FuzzNodeID(f *testing.F) {
	for _, s := range []string{widgetsID, widgetsPR, secretComment, userID, "MDExOlB1bGxSZXF1ZXN0MTIz", "MDQ6VXNlcjE=", widgetsLegacyID, "R_", "x_y", ""} {
		f.Add(s, int64(widgetsDBID), int64(17))
	}
	f.Add("", int64(math.MaxInt64), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, s string, repo, n int64) {
		if ref, ok := decodeNodeID(s); ok {
			if !ref.legacy && (ref.dbid <= 0 || ref.prefix == "" || strings.Trim(ref.prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
				t.Fatalf("decodeNodeID(%q) = %+v", s, ref)
			}
			if ref.legacy && (ref.dbid < 0 || strings.Contains(s, "_")) {
				t.Fatalf("decodeNodeID(%q) = %+v", s, ref)
			}
		}
		if ints, ok := msgpackInts([]byte(s), 2); ok && len(ints) != 2 {
			t.Fatalf("msgpackInts(%q) = %v", s, ints)
		}
		ref, ok := decodeNodeID(nodeIDOf("PR", 0, repo, n))
		if want := repo > 0; ok != want || ok && (ref.dbid != repo || ref.prefix != "PR" || ref.legacy) {
			t.Fatalf("[0, %d, %d] decodes to %+v, %v", repo, n, ref, ok)
		}
	})
}

// FuzzCheckRepoScope: no input panics, every refusal says why, the
// verdict is the same twice, and allowing more repositories never
// refuses what fewer allowed.
func FuzzCheckRepoScope(f *testing.F) {
	for _, tc := range scopeCases() {
		if len(tc.body) <= 4096 {
			f.Add(tc.body)
		}
	}
	none := Repos{}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := CheckRepoScope(b, testRepos)
		if d.Op == "" || !d.Allowed && d.Detail == "" {
			t.Fatalf("incomplete decision %+v", d)
		}
		if again := CheckRepoScope(b, testRepos); again != d {
			t.Fatalf("decided %+v, then %+v", d, again)
		}
		if n := CheckRepoScope(b, none); n.Allowed && !d.Allowed {
			t.Fatalf("allowed with no repositories (%+v) but refused with some (%+v)", n, d)
		}
	})
}
