package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Credentials is everything a proxy swaps in for surrogates, as the
// worker hands it over in the secrets file. Real values live only here
// and in the proxy's memory; the container's environment holds the
// surrogates.
type Credentials struct {
	Masked     []Secret            `json:"masked,omitempty"`
	Signing    []SigningCredential `json:"signing,omitempty"`
	GitHubApps []GitHubApp         `json:"github_apps,omitempty"`
}

// Empty reports whether there is nothing to swap.
func (c Credentials) Empty() bool {
	return len(c.Masked) == 0 && len(c.Signing) == 0 && len(c.GitHubApps) == 0
}

// EnvSecret is one secret value, the environment variable the container
// sees it in, and the surrogate it sees there.
type EnvSecret struct {
	Env       string `json:"env"`
	Value     string `json:"value"`
	Surrogate string `json:"surrogate"`
}

// SigningCredential is a set of AWS keys: requests the container signs
// with the surrogate keys are re-signed with the real ones for hosts in
// Scopes (SigV4 and SigV4A).
type SigningCredential struct {
	Name            string     `json:"name"`
	AccessKeyID     EnvSecret  `json:"access_key_id"`
	SecretAccessKey EnvSecret  `json:"secret_access_key"`
	SessionToken    *EnvSecret `json:"session_token,omitempty"`
	Scopes          []string   `json:"scopes"`
}

// GitHubApp is a GitHub App installation the container acts as through a
// surrogate token in the variable Name: the proxy mints installation
// tokens (narrowed to Permissions and Repositories) and puts the current
// one in place of the surrogate for hosts in Scopes.
type GitHubApp struct {
	Name           string `json:"name"`
	Surrogate      string `json:"surrogate"`
	Issuer         string `json:"issuer"` // app ID or Client ID
	PrivateKey     string `json:"private_key"`
	InstallationID int64  `json:"installation_id"`
	// BaseURL is the REST API root the tokens are minted at.
	BaseURL      string            `json:"base_url"`
	Permissions  map[string]string `json:"permissions,omitempty"`
	Repositories []string          `json:"repositories,omitempty"`
	Scopes       []string          `json:"scopes"`
	AllowForeign bool              `json:"allow_foreign_credentials"`
}

// Env is the container's view of the credentials: each variable and its
// surrogate.
func (c Credentials) Env() map[string]string {
	out := map[string]string{}
	for _, m := range c.Masked {
		out[m.Name] = m.Surrogate
	}
	for _, s := range c.Signing {
		for _, p := range s.parts() {
			out[p.Env] = p.Surrogate
		}
	}
	for _, a := range c.GitHubApps {
		out[a.Name] = a.Surrogate
	}
	return out
}

func (s SigningCredential) parts() []EnvSecret {
	out := []EnvSecret{s.AccessKeyID, s.SecretAccessKey}
	if s.SessionToken != nil {
		out = append(out, *s.SessionToken)
	}
	return out
}

// Check says what is wrong with c, naming the credential: every one
// needs its value, surrogate and scopes (a real value with no scope
// could go nowhere), and no two may claim one variable.
func (c Credentials) Check() error {
	seen := map[string]string{}
	claim := func(env, who string) error {
		if env == "" {
			return fmt.Errorf("%s: an environment variable name is required", who)
		}
		if other, dup := seen[env]; dup {
			return fmt.Errorf("%s: the variable %s is %s's too", who, env, other)
		}
		seen[env] = who
		return nil
	}
	for _, m := range c.Masked {
		who := "masked secret " + m.Name
		if err := claim(m.Name, who); err != nil {
			return err
		}
		if m.Surrogate == "" || m.Value == "" || len(m.Scopes) == 0 {
			return fmt.Errorf("%s: surrogate, value and scopes are required", who)
		}
	}
	for _, s := range c.Signing {
		who := "signing credential " + s.Name
		for _, p := range s.parts() {
			if err := claim(p.Env, who); err != nil {
				return err
			}
			if p.Value == "" || p.Surrogate == "" {
				return fmt.Errorf("%s: %s needs a value and a surrogate", who, p.Env)
			}
		}
		if len(s.Scopes) == 0 {
			return fmt.Errorf("%s: scopes are required", who)
		}
	}
	for _, a := range c.GitHubApps {
		who := "GitHub App credential " + a.Name
		if err := claim(a.Name, who); err != nil {
			return err
		}
		switch {
		case a.Surrogate == "" || a.Issuer == "" || a.PrivateKey == "" || a.InstallationID <= 0:
			return fmt.Errorf("%s: surrogate, app ID, private key and installation ID are required", who)
		case len(a.Scopes) == 0:
			return fmt.Errorf("%s: scopes are required", who)
		}
		u, err := url.Parse(a.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "@") {
			return fmt.Errorf("%s: base URL %q must be an http(s) URL with a host and no query", who, a.BaseURL)
		}
	}
	return nil
}

// readCredentials reads the secrets file; an empty path means none.
func readCredentials(path string) (Credentials, error) {
	if path == "" {
		return Credentials{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("read secrets: %w", err)
	}
	var c Credentials
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Credentials{}, fmt.Errorf("secrets %s: %w", path, err)
	}
	if err := c.Check(); err != nil {
		return Credentials{}, fmt.Errorf("secrets %s: %w", path, err)
	}
	return c, nil
}
