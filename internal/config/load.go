package config

import (
	"bufio"
	"errors"
	"fmt"
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
// repos), as in the reference: the file is optional. Before parsing, .env
// files beside the config and in the working directory are loaded into the
// environment without overriding variables that are already set.
func Load(path string) (*Config, error) {
	loadDotEnv(filepath.Join(filepath.Dir(path), ".env"))
	loadDotEnv(".env")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		cfg := &Config{Path: path}
		applyDefaults(cfg, func(string) bool { return false })
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
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
	p.root = root
	p.checkKeys(root, reflect.TypeOf(Config{}), "")
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	cfg := &Config{Path: path}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: cfg, TagName: "mapstructure"})
	if err != nil {
		return nil, fmt.Errorf("config decoder: %w", err)
	}
	if err := dec.Decode(root); err != nil {
		p.decodeErrors(err)
		return nil, p.sorted()
	}
	applyDefaults(cfg, func(key string) bool { _, ok := p.lines[key]; return ok })
	for _, e := range validate(cfg) {
		e.File = path
		e.Line = p.lines[e.Key]
		p.errs = append(p.errs, e)
	}
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	cfg.UnsetEnv = p.unset
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
}

func (p *parser) fail(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
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
		return p.scalar(n, key)
	}
}

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

// checkKeys reports keys the schema does not have, with their lines, before
// decoding: a typo must stop the start, not be ignored.
func (p *parser) checkKeys(v any, t reflect.Type, key string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	m, ok := v.(map[string]any)
	if !ok {
		if s, isSlice := v.([]any); isSlice && t.Kind() == reflect.Slice {
			for i, e := range s {
				p.checkKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", key, i))
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Map:
		for k, e := range m {
			p.checkKeys(e, t.Elem(), join(key, k))
		}
	case reflect.Struct:
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
				p.fail(p.lines[join(key, k)], join(key, k), "unknown key%s", suggest(k, fields))
				continue
			}
			p.checkKeys(e, ft, join(key, k))
		}
	}
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
			msg := de.Unwrap().Error()
			var ut *mapstructure.UnconvertibleTypeError
			if errors.As(de.Unwrap(), &ut) {
				msg = fmt.Sprintf("must be %s (got %#v)", kindName(ut.Expected.Kind()), p.lookup(key))
			}
			p.fail(p.lines[key], key, "%s", msg)
			return
		}
		p.fail(0, "", "%v", err)
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

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	}
	return k.String()
}

// loadDotEnv sets KEY=VALUE lines from path into the environment unless
// already set, as the reference does for ~/.config/airut/.env and ./.env.
func loadDotEnv(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
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
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
}
