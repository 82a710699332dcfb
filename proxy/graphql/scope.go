package graphql

// Repository scope: a GitHub App installation token narrowed to some
// repositories is not narrowed everywhere in GitHub's GraphQL API (some
// reads, and everything public, ignore it), so a request made with one is
// read here and refused when it names, or may reach, a repository outside
// the list. What cannot be read with certainty is refused.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Repos are the repositories a token may reach, in the three forms a
// GraphQL request can name them in.
type Repos struct {
	FullNames map[string]bool // lower-case "owner/name"
	NodeIDs   map[string]bool // repository node IDs ("R_kgDO…" and legacy "MDEwOlJlcG9zaXRvcnkx…")
	DBIDs     map[int64]bool  // repository database IDs
}

// CheckRepoScope decides whether a GraphQL request body stays within the
// allowed repositories. It walks the selected operation, the fragments
// it spreads included, with argument values read from literals and from
// "variables", and refuses:
//
//   - a body it cannot read (as Check: too large, not JSON, a repeated
//     key, batched, no query, a parse error, an ambiguous operation), or
//     "variables" that is not an object;
//   - repository(owner:, name:) naming a repository not in FullNames; a
//     repository(name:) under organization/user/repositoryOwner(login:)
//     takes its owner from the login, and with no owner to be had (as
//     under viewer) is refused;
//   - fields that list many repositories: search, itemShowcase and
//     resource always; repositories, forks, pinnedItems, pinnableItems,
//     starredRepositories, watching, repositoriesContributedTo and
//     topRepositories with arguments, or asking more than totalCount;
//   - a repositoryId that is not an allowed repository's node ID, a
//     repositoryNameWithOwner not in FullNames, and any other node ID (an
//     argument or input field named id, ids, or ending in Id or Ids,
//     clientMutationId aside) that does not decode to an allowed
//     repository, users', organizations', teams' and bots' IDs aside;
//   - a variable those values need that is neither sent nor defaulted.
//
// Op is "query/repository" and the like: the refused field, or for an
// allowed request the first top-level one.
func CheckRepoScope(body []byte, allowed Repos) Decision {
	req, refused := parseRequest(body)
	if refused != nil {
		return *refused
	}
	vars := map[string]any{}
	if raw := bytes.TrimSpace(req.variables); len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		// A string of JSON is read as variables by some servers: only
		// an object is read the same everywhere.
		if err := dec.Decode(&vars); err != nil || vars == nil {
			return Decision{Op: "<variables-invalid>", Detail: "\"variables\" is not a JSON object"}
		}
	}
	s := &scope{
		allowed:  allowed,
		req:      req,
		vars:     vars,
		frags:    map[string]int{},
		varMemo:  map[varUse]string{},
		declared: map[string]*ast.VariableDefinition{},
		defs:     map[string]*ast.FragmentDefinition{},
	}
	for _, def := range req.doc.Fragments {
		if s.defs[def.Name] != nil {
			return s.refuse("..."+def.Name, "fragment %s is defined twice", def.Name)
		}
		s.defs[def.Name] = def
	}
	for _, def := range req.op.VariableDefinitions {
		if s.declared[def.Variable] != nil {
			return s.refuse("$"+def.Variable, "variable $%s is declared twice", def.Variable)
		}
		s.declared[def.Variable] = def
	}
	if d := s.directives(req.op.Directives, "<operation>"); d != nil {
		return *d
	}
	if d := s.selections(req.op.SelectionSet, nil, 0); d != nil {
		return *d
	}
	first := "<fragment>"
	if fields, ok := rootFields(req.op.SelectionSet, nil); ok && len(fields) > 0 {
		first = fields[0]
	}
	return Decision{Allowed: true, Op: req.kind + "/" + first}
}

// Fields that list repositories beyond any one: refused outright, or
// (enumerations) refused with arguments or anything but a count.
var (
	refusedFields = map[string]string{
		"search":       "search reaches any repository",
		"itemShowcase": "itemShowcase lists repositories of any owner",
		"resource":     "resource(url:) reaches any repository",
	}
	enumerations = map[string]bool{
		"repositories": true, "forks": true, "pinnedItems": true, "pinnableItems": true,
		"starredRepositories": true, "watching": true, "repositoriesContributedTo": true,
		"topRepositories": true,
	}
	// ownerFields give a repository(name:) directly under them the owner
	// in their login argument.
	ownerFields = map[string]bool{"organization": true, "user": true, "repositoryOwner": true}
)

// Node ID prefixes of owners (users, organizations, teams, bots,
// enterprise-managed users): they name no repository and are let through.
var ownerPrefixes = map[string]bool{"U": true, "O": true, "T": true, "BOT": true, "EMU": true}

// Legacy node IDs name a type and a database ID, not a repository; these
// types are owners and are let through.
var legacyOwnerTypes = map[string]bool{"User": true, "Organization": true, "Team": true, "Bot": true}

// maxDepth bounds the walk (selection sets and fragment spreads counted
// together); the parser alone bounds each document, not the chain of
// fragments spreading one another.
const maxDepth = 1000

// maxWork bounds the selections and values walked: a fragment is walked
// once per owner login it is spread under, so a large one spread under
// many logins would otherwise take time far beyond the body's size. Real
// requests take a few thousand steps.
const maxWork = 4 << 20

const tooMuch = "the request takes too much work to check"

type scope struct {
	allowed  Repos
	req      *request
	vars     map[string]any
	declared map[string]*ast.VariableDefinition
	defs     map[string]*ast.FragmentDefinition
	work     int // steps taken, up to maxWork
	// frags is the state of each fragment walked under an owner login:
	// 1 while it is walked (seeing it again is a cycle), 2 once allowed.
	frags map[string]int
	// varMemo is the verdict on a variable's value in one role, so a
	// large variable referenced many times is read once per role.
	varMemo map[varUse]string
}

type varUse struct {
	name string
	role role
}

// spend takes one step of work; false when there is none left.
func (s *scope) spend() bool {
	s.work++
	return s.work <= maxWork
}

func (s *scope) refuse(field, format string, args ...any) Decision {
	return Decision{Op: s.req.kind + "/" + field, Detail: fmt.Sprintf(format, args...)}
}

func (s *scope) refusal(field, format string, args ...any) *Decision {
	d := s.refuse(field, format, args...)
	return &d
}

// selections walks a selection set; login is the owner a repository(name:)
// directly in it belongs to, nil when none is known.
func (s *scope) selections(set ast.SelectionSet, login *string, depth int) *Decision {
	if depth > maxDepth {
		return s.refusal("<too-deep>", "the operation nests more than %d levels", maxDepth)
	}
	for _, sel := range set {
		if !s.spend() {
			return s.refusal("<too-complex>", tooMuch)
		}
		switch x := sel.(type) {
		case *ast.Field:
			if d := s.field(x, login, depth); d != nil {
				return d
			}
		case *ast.InlineFragment:
			if d := s.directives(x.Directives, "<inline-fragment>"); d != nil {
				return d
			}
			if d := s.selections(x.SelectionSet, login, depth+1); d != nil {
				return d
			}
		case *ast.FragmentSpread:
			if d := s.spread(x, login, depth); d != nil {
				return d
			}
		default:
			return s.refusal("<selection>", "a selection of an unknown kind")
		}
	}
	return nil
}

// spread walks a named fragment where it is spread, once per owner login
// it is spread under (the only context its verdict depends on).
func (s *scope) spread(x *ast.FragmentSpread, login *string, depth int) *Decision {
	if d := s.directives(x.Directives, "..."+x.Name); d != nil {
		return d
	}
	def := s.defs[x.Name]
	if def == nil {
		return s.refusal("..."+x.Name, "fragment %s is not defined", x.Name)
	}
	key := x.Name + "\x00"
	if login != nil {
		key += "\x01" + *login
	}
	switch s.frags[key] {
	case 1:
		return s.refusal("..."+x.Name, "fragment %s spreads itself", x.Name)
	case 2:
		return nil
	}
	s.frags[key] = 1
	if d := s.directives(def.Directives, "..."+x.Name); d != nil {
		return d
	}
	if d := s.selections(def.SelectionSet, login, depth+1); d != nil {
		return d
	}
	s.frags[key] = 2
	return nil
}

func (s *scope) field(f *ast.Field, login *string, depth int) *Decision {
	if why, ok := refusedFields[f.Name]; ok {
		return s.refusal(f.Name, "%s; name the repository instead", why)
	}
	if enumerations[f.Name] && (len(f.Arguments) > 0 || !countOnly(f.SelectionSet)) {
		return s.refusal(f.Name, "%s lists repositories beyond the allowed ones; only its totalCount may be asked, without arguments", f.Name)
	}
	seen := map[string]bool{}
	for _, a := range f.Arguments {
		if seen[a.Name] {
			return s.refusal(f.Name, "argument %s is given twice", a.Name)
		}
		seen[a.Name] = true
		if d := s.argument(f.Name, a); d != nil {
			return d
		}
	}
	if d := s.directives(f.Directives, f.Name); d != nil {
		return d
	}
	if f.Name == "repository" && len(f.Arguments) > 0 {
		if d := s.repository(f, login); d != nil {
			return d
		}
	}
	var inner *string
	if ownerFields[f.Name] {
		if a := f.Arguments.ForName("login"); a != nil {
			// A login that is not a string leaves the owner unknown,
			// as for viewer; a variable that cannot be read is refused.
			v, why, varProblem := s.stringArg(a)
			if varProblem {
				return s.refusal(f.Name, "login: %s", why)
			}
			inner = v
		}
	}
	if len(f.SelectionSet) == 0 {
		return nil
	}
	return s.selections(f.SelectionSet, inner, depth+1)
}

// countOnly reports whether a selection set asks only for a count (and
// type names), so an enumeration field lists nothing.
func countOnly(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch x := sel.(type) {
		case *ast.Field:
			if (x.Name != "totalCount" && x.Name != "__typename") || len(x.SelectionSet) > 0 || len(x.Arguments) > 0 {
				return false
			}
		case *ast.InlineFragment:
			if !countOnly(x.SelectionSet) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// repository checks a repository lookup by name: repository(owner:,
// name:), or repository(name:) under an owner field.
func (s *scope) repository(f *ast.Field, login *string) *Decision {
	nameArg := f.Arguments.ForName("name")
	if nameArg == nil {
		return s.refusal(f.Name, "repository with arguments but no name")
	}
	name, why, _ := s.stringArg(nameArg)
	if name == nil {
		return s.refusal(f.Name, "repository name: %s", why)
	}
	var owners []string
	if a := f.Arguments.ForName("owner"); a != nil {
		owner, why, _ := s.stringArg(a)
		if owner == nil {
			return s.refusal(f.Name, "repository owner: %s", why)
		}
		owners = append(owners, *owner)
	}
	if login != nil {
		owners = append(owners, *login)
	}
	if len(owners) == 0 {
		return s.refusal(f.Name, "repository %q has no owner that can be known here; use repository(owner:, name:)", *name)
	}
	for _, owner := range owners {
		full := owner + "/" + *name
		if !s.allowed.FullNames[asciiLower(full)] {
			return s.refusal(f.Name, "repository %s is not one of the token's repositories", full)
		}
	}
	return nil
}

// stringArg resolves an argument that must be a string; on failure the
// string is nil, why says what the value was, and varProblem is set when
// it is a variable that is not declared or neither sent nor defaulted.
func (s *scope) stringArg(a *ast.Argument) (str *string, why string, varProblem bool) {
	v, err := literal(a.Value)
	if err != "" {
		return nil, err, false
	}
	if ref, ok := v.(variable); ok {
		val, found, why := s.resolve(string(ref))
		if why != "" {
			return nil, why, true
		}
		if !found {
			return nil, fmt.Sprintf("unresolved variable $%s (not sent, no default)", ref), true
		}
		v = val
	}
	if str, ok := v.(string); ok {
		return &str, "", false
	}
	return nil, fmt.Sprintf("%s is not a string", a.Name), false
}

func (s *scope) argument(field string, a *ast.Argument) *Decision {
	v, err := literal(a.Value)
	if err != "" {
		return s.refusal(field, "argument %s: %s", a.Name, err)
	}
	if why := s.check(v, roleOf(a.Name), a.Name); why != "" {
		return s.refusal(field, "%s", why)
	}
	return nil
}

// directives checks directive arguments as field arguments are checked.
func (s *scope) directives(list ast.DirectiveList, field string) *Decision {
	for _, dir := range list {
		for _, a := range dir.Arguments {
			if d := s.argument(field, a); d != nil {
				return d
			}
		}
	}
	return nil
}

// A role is what a value must be, from the name of its argument or input
// field.
type role int

const (
	roleAny      role = iota // anything; input objects in it are looked into
	roleNodeID               // node IDs (or null) reaching only allowed repositories
	roleRepoID               // node IDs (or null) of allowed repositories
	roleRepoName             // "owner/name" (or null) of allowed repositories
)

func roleOf(name string) role {
	switch {
	case name == "clientMutationId":
		return roleAny
	case name == "repositoryId":
		return roleRepoID
	case name == "repositoryNameWithOwner":
		return roleRepoName
	case name == "id", name == "ids", strings.HasSuffix(name, "Id"), strings.HasSuffix(name, "Ids"):
		return roleNodeID
	}
	return roleAny
}

// Values, from a query's literals or from "variables": string,
// json.Number, bool, nil, enum, []any, object (a literal input object),
// map[string]any (a JSON object), and variable (a reference, read when
// checked).
type (
	enum     string
	variable string
	object   []member
	member   struct {
		name  string
		value any
	}
)

// literal converts a query's value; a repeated input field is refused.
func literal(v *ast.Value) (any, string) {
	if v == nil {
		return nil, "no value"
	}
	switch v.Kind {
	case ast.Variable:
		return variable(v.Raw), ""
	case ast.IntValue, ast.FloatValue:
		return json.Number(v.Raw), ""
	case ast.StringValue, ast.BlockValue:
		return v.Raw, ""
	case ast.BooleanValue:
		return v.Raw == "true", ""
	case ast.NullValue:
		return nil, ""
	case ast.EnumValue:
		return enum(v.Raw), ""
	case ast.ListValue:
		out := make([]any, 0, len(v.Children))
		for _, c := range v.Children {
			e, err := literal(c.Value)
			if err != "" {
				return nil, err
			}
			out = append(out, e)
		}
		return out, ""
	case ast.ObjectValue:
		out := make(object, 0, len(v.Children))
		seen := make(map[string]bool, len(v.Children))
		for _, c := range v.Children {
			if seen[c.Name] {
				return nil, "input field " + c.Name + " is given twice"
			}
			seen[c.Name] = true
			e, err := literal(c.Value)
			if err != "" {
				return nil, err
			}
			out = append(out, member{c.Name, e})
		}
		return out, ""
	}
	return nil, "a value of an unknown kind"
}

// resolve is a variable's value: as sent, else its default; found is
// false when it has neither. why is set when the variable is not
// declared by the operation.
func (s *scope) resolve(name string) (value any, found bool, why string) {
	def := s.declared[name]
	if def == nil {
		return nil, false, "variable $" + name + " is not declared by the operation"
	}
	if v, ok := s.vars[name]; ok {
		return v, true, ""
	}
	if def.DefaultValue == nil {
		return nil, false, ""
	}
	v, err := literal(def.DefaultValue)
	if err != "" {
		return nil, false, "the default of $" + name + ": " + err
	}
	if containsVariable(v) {
		return nil, false, "the default of $" + name + " refers to a variable"
	}
	return v, true, ""
}

func containsVariable(v any) bool {
	switch x := v.(type) {
	case variable:
		return true
	case []any:
		return slices.ContainsFunc(x, containsVariable)
	case object:
		return slices.ContainsFunc(x, func(m member) bool { return containsVariable(m.value) })
	}
	return false
}

// check returns why a value in a role is refused, or "" when it is not.
// where names the argument or input field, for the message.
func (s *scope) check(v any, r role, where string) string {
	if !s.spend() {
		return tooMuch
	}
	switch x := v.(type) {
	case nil:
		return ""
	case variable:
		use := varUse{string(x), r}
		if why, done := s.varMemo[use]; done {
			return why
		}
		val, found, why := s.resolve(string(x))
		switch {
		case why != "":
		case found:
			why = s.check(val, r, where)
		case r != roleAny:
			// Absent, a value the server treats as not given: harmless
			// where nothing is named, unknowable where something is.
			why = fmt.Sprintf("unresolved variable $%s in %s (not sent, no default)", x, where)
		}
		s.varMemo[use] = why
		return why
	case []any:
		for _, e := range x {
			if why := s.check(e, r, where); why != "" {
				return why
			}
		}
		return ""
	case object:
		if r != roleAny {
			return where + " is an object, not an ID or name"
		}
		for _, m := range x {
			if why := s.check(m.value, roleOf(m.name), m.name); why != "" {
				return why
			}
		}
		return ""
	case map[string]any:
		if r != roleAny {
			return where + " is an object, not an ID or name"
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if why := s.check(x[k], roleOf(k), k); why != "" {
				return why
			}
		}
		return ""
	case string:
		switch r {
		case roleNodeID:
			return s.nodeID(x, where)
		case roleRepoID:
			return s.repoID(x, where)
		case roleRepoName:
			if !s.allowed.FullNames[asciiLower(x)] {
				return fmt.Sprintf("%s %s is not one of the token's repositories", where, x)
			}
		}
		return ""
	}
	// json.Number, bool, enum
	if r != roleAny {
		return where + " is not a string"
	}
	return ""
}

// repoID allows only an allowed repository's node ID.
func (s *scope) repoID(id, where string) string {
	if s.allowed.NodeIDs[id] {
		return ""
	}
	n, ok := decodeNodeID(id)
	if ok && (n.prefix == "R" || n.legacy && n.prefix == "Repository") && s.allowed.DBIDs[n.dbid] {
		return ""
	}
	return fmt.Sprintf("%s %s is not the node ID of one of the token's repositories", where, id)
}

// nodeID allows a node ID that reaches only allowed repositories: an
// owner's, an allowed repository's, or an object's whose ID carries an
// allowed repository's database ID.
func (s *scope) nodeID(id, where string) string {
	if s.allowed.NodeIDs[id] {
		return ""
	}
	if prefix, _, ok := strings.Cut(id, "_"); ok && ownerPrefixes[prefix] {
		return "" // users, organizations, teams, bots
	}
	n, ok := decodeNodeID(id)
	switch {
	case !ok:
		return fmt.Sprintf("%s %q is not a node ID that can be read", where, id)
	case !n.legacy && s.allowed.DBIDs[n.dbid]:
		return ""
	case !n.legacy:
		return fmt.Sprintf("%s %s belongs to repository %d, not one of the token's repositories", where, id, n.dbid)
	case legacyOwnerTypes[n.prefix] && n.dbid > 0:
		return ""
	case n.prefix == "Repository" && s.allowed.DBIDs[n.dbid]:
		return ""
	case n.prefix == "Repository":
		return fmt.Sprintf("%s %s is repository %d, not one of the token's repositories", where, id, n.dbid)
	}
	return fmt.Sprintf("%s %s is a legacy %s ID, which does not say its repository; use the object's current ID", where, id, n.prefix)
}

// nodeRef is what a node ID says.
type nodeRef struct {
	legacy bool
	// prefix is the current format's type prefix ("R", "PR", "IC", …),
	// or the legacy format's type name ("Repository", "PullRequest", …).
	prefix string
	// dbid is, in the current format, the database ID of the object's
	// repository (of the object itself for repositories and owners); in
	// the legacy format the object's own database ID, 0 unless its ID is
	// just that number.
	dbid int64
}

// decodeNodeID reads a GitHub node ID. The current format is PREFIX_ and
// the unpadded base64url of a MessagePack array [0, repository database
// ID, …] for objects in a repository ([0, database ID] for repositories
// and owners). The legacy format is the base64 of "<n>:<Type><id…>",
// n being the length of Type ("011:PullRequest123"; a commit's
// "06:Commit<repo>:<oid>" has more after the number).
func decodeNodeID(id string) (nodeRef, bool) {
	if strings.ContainsAny(id, "\r\n") {
		return nodeRef{}, false // Go's base64 skips newlines; GitHub's may not
	}
	if p, payload, found := strings.Cut(id, "_"); found {
		if p == "" || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return nodeRef{}, false
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(payload)
		if err != nil {
			return nodeRef{}, false
		}
		ints, ok := msgpackInts(b, 2)
		if !ok || ints[0] != 0 || ints[1] <= 0 {
			return nodeRef{}, false
		}
		return nodeRef{prefix: p, dbid: ints[1]}, true
	}
	b, err := base64.StdEncoding.Strict().DecodeString(id)
	if err != nil {
		if b, err = base64.RawStdEncoding.Strict().DecodeString(id); err != nil {
			return nodeRef{}, false
		}
	}
	n, rest, found := strings.Cut(string(b), ":")
	if !found || !digits(n) {
		return nodeRef{}, false
	}
	size, err := strconv.Atoi(n)
	if err != nil || size <= 0 || size > len(rest) {
		return nodeRef{}, false
	}
	typ, num := rest[:size], rest[size:]
	if strings.Trim(typ, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
		return nodeRef{}, false
	}
	ref := nodeRef{legacy: true, prefix: typ}
	if digits(num) {
		if v, err := strconv.ParseInt(num, 10, 64); err == nil && v > 0 {
			ref.dbid = v
		}
	}
	return ref, true
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// msgpackInts decodes the first n elements of a MessagePack array, which
// must be integers; what follows them is not read. Only the encodings a
// node ID uses are known (anything else is not ok):
//
//	0x90–0x9f       fixarray, length in the low 4 bits
//	0xdc LEN16      array 16, big-endian length
//	0x00–0x7f       positive fixint
//	0xcc–0xcf       uint 8/16/32/64, big-endian (uint64 above MaxInt64: not ok)
//	0xd0–0xd3       int 8/16/32/64, big-endian two's complement
func msgpackInts(b []byte, n int) ([]int64, bool) {
	// be reads the next size bytes as a big-endian unsigned number.
	be := func(size int) (uint64, bool) {
		if len(b) < size {
			return 0, false
		}
		var v uint64
		for _, c := range b[:size] {
			v = v<<8 | uint64(c)
		}
		b = b[size:]
		return v, true
	}
	if len(b) == 0 {
		return nil, false
	}
	head := b[0]
	b = b[1:]
	var length uint64
	switch {
	case head >= 0x90 && head <= 0x9f:
		length = uint64(head & 0x0f)
	case head == 0xdc:
		var ok bool
		if length, ok = be(2); !ok {
			return nil, false
		}
	default:
		return nil, false
	}
	if length < uint64(n) {
		return nil, false
	}
	out := make([]int64, 0, n)
	for range n {
		if len(b) == 0 {
			return nil, false
		}
		tag := b[0]
		b = b[1:]
		var v int64
		switch {
		case tag <= 0x7f:
			v = int64(tag)
		case tag >= 0xcc && tag <= 0xcf: // uint8, 16, 32, 64
			u, ok := be(1 << (tag - 0xcc))
			if !ok || u > 1<<63-1 {
				return nil, false
			}
			v = int64(u)
		case tag >= 0xd0 && tag <= 0xd3: // int8, 16, 32, 64
			size := 1 << (tag - 0xd0)
			u, ok := be(size)
			if !ok {
				return nil, false
			}
			shift := 64 - 8*size // sign-extend from size bytes
			v = int64(u<<shift) >> shift
		default:
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// asciiLower lower-cases ASCII letters only, as GitHub's names are ASCII:
// Unicode folding (the Kelvin sign to k) would match names GitHub does not.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
