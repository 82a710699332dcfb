package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"
)

// SandboxFilePath is where airut-sandbox looks for its settings in a
// checkout.
const SandboxFilePath = ".airut/sandbox.yaml"

// SandboxFile is .airut/sandbox.yaml, the settings of airut-sandbox runs
// in a repository. It is read with airut.yaml's parser: the same !env
// tag, the same shape of masked_secrets and resource_limits, the same
// messages for unknown keys and wrong types.
type SandboxFile struct {
	// Path is the file the settings were read from.
	Path string `mapstructure:"-"`

	// Env is set in the container (values may be !env VAR).
	Env map[string]string `mapstructure:"env"`
	// PassEnv names host variables passed into the container as they are;
	// unset ones are skipped.
	PassEnv []string `mapstructure:"pass_env"`
	// MaskedSecrets reach the container only as surrogates; the proxy
	// puts the real value into requests to their scopes.
	MaskedSecrets map[string]MaskedSecret `mapstructure:"masked_secrets"`
	// SigningCredentials are AWS keys the container sees only as
	// surrogates; the proxy re-signs requests to their scopes.
	SigningCredentials map[string]SigningCredential `mapstructure:"signing_credentials"`
	// NetworkSandbox is on unless set to false.
	NetworkSandbox *bool `mapstructure:"network_sandbox"`
	// ResourceLimits bound the container; Timeout is in seconds, 0 for
	// none.
	ResourceLimits ResourceLimits `mapstructure:"resource_limits"`
}

// Sandboxed reports whether the network sandbox is on (the default).
func (f *SandboxFile) Sandboxed() bool { return f.NetworkSandbox == nil || *f.NetworkSandbox }

// MaskedSecretNames are the names of the masked secrets in order.
func (f *SandboxFile) MaskedSecretNames() []string {
	names := make([]string, 0, len(f.MaskedSecrets))
	for n := range f.MaskedSecrets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SandboxStateDir is airut-sandbox's state directory by default:
// $XDG_STATE_HOME/airut-sandbox, else ~/.local/state/airut-sandbox.
func SandboxStateDir() string {
	return filepath.Join(xdgDir("XDG_STATE_HOME", filepath.Join(".local", "state")), "airut-sandbox")
}

// LoadSandboxFile reads the file at path; a missing file yields the
// defaults (no environment, no secrets, network sandbox on, no limits).
// lookupEnv resolves !env tags.
func LoadSandboxFile(path string, lookupEnv func(string) (string, bool)) (*SandboxFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &SandboxFile{Path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ParseSandboxFile(path, data, lookupEnv)
}

// ParseSandboxFile parses and validates sandbox settings; path is used
// only in messages. Every problem is reported (as Errors, with lines and
// dotted keys), and a !env naming an unset variable is one of them: the
// file fails closed rather than run without a value it names.
func ParseSandboxFile(path string, data []byte, lookupEnv func(string) (string, bool)) (*SandboxFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: path, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	p := &parser{file: path, env: lookupEnv, lines: map[string]int{}}
	root := map[string]any{}
	if len(doc.Content) > 0 {
		top := doc.Content[0]
		if top.Kind != yaml.MappingNode {
			return nil, Errors{{File: path, Line: top.Line, Msg: "the top level must be a mapping of keys (env, pass_env, masked_secrets, signing_credentials, network_sandbox, resource_limits)"}}
		}
		if m, ok := p.value(top, "").(map[string]any); ok {
			root = m
		}
	}
	p.root = root
	p.check(root, reflect.TypeOf(SandboxFile{}), "")
	f := &SandboxFile{Path: path}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: f, TagName: "mapstructure"})
	if err != nil {
		return nil, fmt.Errorf("sandbox file decoder: %w", err)
	}
	if err := dec.Decode(root); err != nil {
		p.decodeErrors(err)
	}
	for key, name := range p.unset {
		p.fail(p.lines[key], key, "!env %s: the variable is not set (set %s, or remove the key)", name, name)
	}
	for _, e := range validateSandboxFile(f) {
		if p.underRejected(e.Key) || p.unset[e.Key] != "" {
			continue
		}
		e.File = path
		e.Line = p.lineOf(e.Key)
		p.errs = append(p.errs, e)
	}
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	return f, nil
}

// validateSandboxFile checks value rules, with airut.yaml's rules for
// masked secrets and resource limits.
func validateSandboxFile(f *SandboxFile) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for name := range f.Env {
		if !envNamePattern.MatchString(name) {
			bad("env."+name, "must be an environment variable name")
		}
	}
	for i, name := range f.PassEnv {
		if !envNamePattern.MatchString(name) {
			bad(fmt.Sprintf("pass_env[%d]", i), "must be an environment variable name (got %q)", name)
		}
	}
	errs = append(errs, validateMaskedSecrets("masked_secrets", f.MaskedSecrets)...)
	for _, name := range f.MaskedSecretNames() {
		if f.MaskedSecrets[name].Value == "" {
			bad("masked_secrets."+name+".value", "is empty: a masked secret needs a value (value: !env VAR, with VAR set)")
		}
	}
	errs = append(errs, validateSigningCredentials("signing_credentials", f.SigningCredentials)...)
	errs = append(errs, validateCredentialNames("", f.MaskedSecrets, f.SigningCredentials, nil)...)
	if f.ResourceLimits.Timeout < 0 {
		bad("resource_limits.timeout", "must be 0 (no timeout) or a number of seconds (got %d)", f.ResourceLimits.Timeout)
	}
	errs = append(errs, validateLimits("resource_limits", f.ResourceLimits)...)
	return errs
}
