package config

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"
)

// Error is a problem with one key of a configuration file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path, e.g. repos.web.resource_limits.timeout
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// DefaultPath is where the configuration lives when neither --config nor
// AIRUT_CONFIG says otherwise: $XDG_CONFIG_HOME/airut/airut.yaml.
func DefaultPath() string {
	return filepath.Join(xdgDir("XDG_CONFIG_HOME", ".config"), "airut", "airut.yaml")
}

// DefaultStateDir is $XDG_STATE_HOME/airut.
func DefaultStateDir() string {
	return filepath.Join(xdgDir("XDG_STATE_HOME", filepath.Join(".local", "state")), "airut")
}

func xdgDir(env, fallback string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/"
	}
	return filepath.Join(home, fallback)
}

// Load reads the file at path. A missing file yields the defaults (no
// repos), as in the reference: the file is optional. !env tags resolve
// from the environment, then from the .env files beside the config and
// in the working directory (the first wins); .env values are also put
// into the environment where it has none.
func Load(path string) (*Config, error) {
	return load(path, nil, true)
}

// LoadAgain reads prev's file again, for a reload: a variable prev took
// from a .env file follows that file as it is now, so a secret rotated
// there applies (it was put into the environment by the first load, where
// it would otherwise shadow the new value).
//
// Unlike Load, a missing file is an error: a file moved away or deleted
// mid-edit must not put the defaults (no repos) in force.
func LoadAgain(prev *Config) (*Config, error) {
	return load(prev.Path, prev.DotEnvKeys, false)
}

// load reads path; missingIsDefault says whether a missing file yields
// the defaults (at start) or is an error (at a reload).
func load(path string, fromDotEnv map[string]bool, missingIsDefault bool) (*Config, error) {
	// The .env beside the config file wins over the working directory's.
	dotEnv := readDotEnv(".env", readDotEnv(filepath.Join(filepath.Dir(path), ".env"), nil))
	for k, v := range dotEnv {
		if _, set := os.LookupEnv(k); !set || fromDotEnv[k] {
			os.Setenv(k, v)
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !missingIsDefault {
		return nil, &Error{File: path, Msg: "the file is gone; the config in force stays until it is back"}
	}
	if errors.Is(err, os.ErrNotExist) {
		cfg := &Config{Path: path}
		applyDefaults(cfg, func(string) bool { return false })
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	used := map[string]bool{}
	cfg, err := Parse(path, data, func(k string) (string, bool) {
		v, ok := os.LookupEnv(k)
		if d, fromFile := dotEnv[k]; ok && fromFile && d == v {
			used[k] = true
		}
		return v, ok
	})
	if cfg != nil {
		cfg.DotEnvKeys = used
	}
	return cfg, err
}

// Parse parses and validates configuration text. lookupEnv resolves !env
// tags; path is used only in messages.
func Parse(path string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: path, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	p := &parser{file: path, env: lookupEnv, lines: map[string]int{}}
	root := map[string]any{}
	if len(doc.Content) > 0 {
		top := doc.Content[0]
		if top.Kind != yaml.MappingNode {
			return nil, &Error{File: path, Line: top.Line, Msg: "the top level must be a mapping of keys"}
		}
		p.vars = p.readVars(top)
		v := p.value(top, "")
		if m, ok := v.(map[string]any); ok {
			root = m
		}
	}
	// Unknown keys and values of the wrong type are reported and left
	// out, and what remains is decoded and validated all the same: one run
	// reports every problem in the file, not one after another is fixed.
	p.root = root
	p.check(root, reflect.TypeOf(Config{}), "")
	cfg := &Config{Path: path}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: cfg, TagName: "mapstructure"})
	if err != nil {
		return nil, fmt.Errorf("config decoder: %w", err)
	}
	if err := dec.Decode(root); err != nil {
		p.decodeErrors(err)
	}
	applyDefaults(cfg, func(key string) bool { _, ok := p.lines[key]; return ok && !p.rejected[key] })
	for _, e := range validate(cfg) {
		// A value already reported as unreadable was left out; what the
		// rules say of the zero value in its place would only confuse.
		if p.underRejected(e.Key) {
			continue
		}
		e.File = path
		e.Line = p.lineOf(e.Key)
		p.errs = append(p.errs, e)
	}
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	cfg.UnsetEnv = p.unset
	cfg.SHA256 = sha256Hex(data)
	return cfg, nil
}

type parser struct {
	file  string
	env   func(string) (string, bool)
	vars  map[string]any
	lines map[string]int
	root  map[string]any
	errs  Errors
	unset map[string]string
	// rejected are the keys whose values were reported and left out.
	rejected map[string]bool
}

func (p *parser) fail(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// reject reports the value at key and marks it left out.
func (p *parser) reject(key, format string, args ...any) {
	p.fail(p.lines[key], key, format, args...)
	if p.rejected == nil {
		p.rejected = map[string]bool{}
	}
	p.rejected[key] = true
}

// underRejected reports whether key is a rejected key or inside one.
func (p *parser) underRejected(key string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if p.rejected[k] {
			return true
		}
	}
	return false
}

// lineOf is the line of key, or of the nearest enclosing key written in
// the file when key itself is not (a required key that is missing).
func (p *parser) lineOf(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := p.lines[k]; ok {
			return l
		}
	}
	return 0
}

// parentKey strips the last ".name" or "[i]" of a dotted key.
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

func (p *parser) sorted() Errors {
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	return p.errs
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// readVars resolves the flat vars: table first, since !var refers to it.
// Values are scalars or !env; a var may not refer to another var.
func (p *parser) readVars(top *yaml.Node) map[string]any {
	vars := map[string]any{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "vars" {
			continue
		}
		vn := top.Content[i+1]
		if vn.Kind != yaml.MappingNode {
			p.fail(vn.Line, "vars", "must be a mapping of names to values")
			return vars
		}
		for j := 0; j+1 < len(vn.Content); j += 2 {
			name, val := vn.Content[j].Value, vn.Content[j+1]
			key := "vars." + name
			switch {
			case val.Tag == "!var":
				p.fail(val.Line, key, "a var cannot refer to another var (!var %s)", val.Value)
			case val.Kind != yaml.ScalarNode:
				p.fail(val.Line, key, "a var must be a scalar or !env")
			default:
				vars[name] = p.scalar(val, key)
			}
		}
	}
	return vars
}

// value turns a node into plain Go values, resolving tags and recording the
// line of every key for later messages.
func (p *parser) value(n *yaml.Node, key string) any {
	if key != "" {
		if _, seen := p.lines[key]; !seen {
			p.lines[key] = n.Line
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return p.value(n.Alias, key)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			child := join(key, k)
			p.lines[child] = n.Content[i].Line
			if _, dup := m[k]; dup {
				p.fail(n.Content[i].Line, child, "key appears twice")
				continue
			}
			m[k] = p.value(n.Content[i+1], child)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			s = append(s, p.value(c, fmt.Sprintf("%s[%d]", key, i)))
		}
		return s
	default:
		if n.Tag == "!env" && envShorthand.MatchString(key) {
			// The reference's short form, `access_key_id: !env VAR`:
			// the container sees the surrogate in VAR itself.
			v := p.scalar(n, key+".value")
			p.lines[key+".name"], p.lines[key+".value"] = n.Line, n.Line
			if v == nil {
				return map[string]any{"name": n.Value}
			}
			return map[string]any{"name": n.Value, "value": v}
		}
		return p.scalar(n, key)
	}
}

// envShorthand matches the keys of a signing credential's parts, which
// may be written `!env VAR` for {name: VAR, value: !env VAR}.
var envShorthand = regexp.MustCompile(`(^|\.)signing_credentials\.[^.]+\.(access_key_id|secret_access_key|session_token)$`)

func (p *parser) scalar(n *yaml.Node, key string) any {
	switch n.Tag {
	case "!env":
		v, ok := p.env(n.Value)
		if !ok {
			if p.unset == nil {
				p.unset = map[string]string{}
			}
			p.unset[key] = n.Value
			return nil
		}
		return v
	case "!var":
		v, ok := p.vars[n.Value]
		if !ok {
			p.fail(n.Line, key, "unknown var %q (define it under vars:)", n.Value)
			return nil
		}
		return v
	}
	var v any
	if err := n.Decode(&v); err != nil {
		p.fail(n.Line, key, "%v", err)
		return nil
	}
	return v
}

// check compares the parsed values with the schema: keys the schema does
// not have and values of the wrong type are reported with their lines, in
// words a user knows ("must be a list of host names, got a string"), and
// left out so that decoding the rest cannot fail on them. A typo must
// stop the start, not be ignored. It reports whether v may stay.
func (p *parser) check(v any, t reflect.Type, key string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// An empty value, or an unset !env, decodes to the zero value.
	if v == nil || t.Kind() == reflect.Interface {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return p.wrongType(key, t, v)
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag := f.Tag.Get("mapstructure"); tag != "" && tag != "-" {
				fields[tag] = f.Type
			}
		}
		for k, e := range m {
			ft, known := fields[k]
			if !known {
				p.reject(join(key, k), "unknown key%s", suggest(k, fields))
				delete(m, k)
				continue
			}
			if !p.check(e, ft, join(key, k)) {
				delete(m, k)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return p.wrongType(key, t, v)
		}
		for k, e := range m {
			if !p.check(e, t.Elem(), join(key, k)) {
				delete(m, k)
			}
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return p.wrongType(key, t, v)
		}
		for i, e := range s {
			// A bad item is left out as the zero value, keeping the
			// positions of the others for their messages.
			if !p.check(e, t.Elem(), fmt.Sprintf("%s[%d]", key, i)) {
				s[i] = nil
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return p.wrongType(key, t, v)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return p.wrongType(key, t, v)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch n := v.(type) {
		case int, int64:
		case float64:
			// The decoder would drop the fraction without a word.
			if n != math.Trunc(n) {
				return p.wrongType(key, t, v)
			}
		default:
			return p.wrongType(key, t, v)
		}
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int, int64, uint64, float64:
		default:
			return p.wrongType(key, t, v)
		}
	}
	return true
}

// wrongType reports that the value at key is not of type t, and returns
// false: the value is left out.
func (p *parser) wrongType(key string, t reflect.Type, v any) bool {
	msg := fmt.Sprintf("must be %s, got %s", p.expected(key, t), p.describe(key, v))
	if _, one := v.(string); one && t.Kind() == reflect.Slice {
		msg += "; a list of one is written [item]"
	}
	p.reject(key, "%s", msg)
	return false
}

// listItems names what some lists hold, for messages; other lists are
// named by the type of their items.
var listItems = map[string]string{
	"authorized_senders": "addresses or *@domain patterns",
	"scopes":             "host names",
	"headers":            "header names",
	"allowed_channels":   "channel IDs",
	"authorized":         "rules (workspace_members, user_group or user_id)",
}

// expected says in words what the schema wants at key.
func (p *parser) expected(key string, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Struct:
		return "a mapping of keys to values"
	case reflect.Map:
		return "a mapping of names to values"
	case reflect.Slice:
		name := key
		if i := strings.LastIndexAny(key, ".["); i >= 0 {
			name = key[i+1:]
		}
		if items, ok := listItems[name]; ok {
			return "a list of " + items
		}
		elem := strings.TrimPrefix(p.expected("", t.Elem()), "a ")
		switch elem {
		case "mapping of keys to values", "mapping of names to values":
			return "a list of mappings"
		case "whole number", "number", "string":
			return "a list of " + elem + "s"
		}
		return "a list"
	}
	return "a " + t.Kind().String()
}

// describe says in words what the file has at key. Strings are quoted
// unless the key may hold a credential: messages end up in logs.
func (p *parser) describe(key string, v any) string {
	switch x := v.(type) {
	case string:
		if sensitive(key) || len(x) > 60 {
			return "a string"
		}
		return fmt.Sprintf("a string (%q)", x)
	case bool:
		if sensitive(key) {
			return "a boolean"
		}
		return fmt.Sprintf("%t", x)
	case int, int64, uint64, float64:
		// A numeric password or PIN is a secret too; errors end up in
		// logs and in the process's recorded config status.
		if sensitive(key) {
			return "a number"
		}
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// sensitive reports whether key may hold a credential: a secret's value,
// a password, token or key, anything under vars or the credentials maps.
// A masked secret's scopes and headers are not secret.
func sensitive(key string) bool {
	parts := strings.Split(bracketKey.ReplaceAllString(key, ""), ".")
	switch parts[len(parts)-1] {
	case "scopes", "headers", "allow_foreign_credentials":
		return false
	}
	for _, part := range parts {
		switch part {
		case "vars", "secrets", "masked_secrets", "signing_credentials", "github_app_credentials",
			"password", "token", "bot_token", "app_token", "private_key", "api_key":
			return true
		}
	}
	return false
}

func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(k, f); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var bracketKey = regexp.MustCompile(`\[([^\]]+)\]`)

// decodeErrors reports what the decoder still refused after check left out
// every value of the wrong type; it should be nothing. Its own wording
// ("source data must be ...") means nothing to a user, so only the key and
// the value are named.
func (p *parser) decodeErrors(err error) {
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var de *mapstructure.DecodeError
		if errors.As(err, &de) {
			key := bracketKey.ReplaceAllString(de.Name(), ".$1")
			if p.underRejected(key) {
				return
			}
			p.reject(key, "cannot be read as written (%s)", p.describe(key, p.lookup(key)))
			return
		}
		p.fail(0, "", "could not be read as a configuration")
	}
	walk(err)
}

// lookup returns the raw value at a dotted key, for messages.
func (p *parser) lookup(key string) any {
	var cur any = p.root
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// readDotEnv reads KEY=VALUE lines from path into a copy of base; a key
// already in base keeps its value (the first file read wins).
func readDotEnv(path string, base map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		if _, set := out[k]; !set {
			out[k] = v
		}
	}
	return out
}

// StateDirOf is the state dir the file at path names, read leniently: a
// file that does not load still says where its running processes keep
// their state, so `airut status` can show them next to its errors. It
// is the default state dir when the file has no plain state_dir value.
func StateDirOf(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return DefaultStateDir()
	}
	var top struct {
		StateDir yaml.Node `yaml:"state_dir"`
	}
	if yaml.Unmarshal(data, &top) != nil || top.StateDir.Kind != yaml.ScalarNode || top.StateDir.Tag != "!!str" || top.StateDir.Value == "" {
		return DefaultStateDir()
	}
	return top.StateDir.Value
}
