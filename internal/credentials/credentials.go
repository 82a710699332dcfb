// Package credentials turns the credentials of airut.yaml and
// .airut/sandbox.yaml (masked secrets, AWS signing credentials, GitHub
// Apps) into what the sandbox's proxy takes. It is the one place the two
// shapes meet; it does no I/O and makes no surrogates (the sandbox makes
// fresh ones for each task).
package credentials

import (
	"maps"
	"slices"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/proxy"
)

// Masked are masked secrets by name, in name order.
func Masked(in map[string]config.MaskedSecret) []proxy.Secret {
	out := make([]proxy.Secret, 0, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		m := in[name]
		out = append(out, proxy.Secret{Name: name, Value: m.Value, Scopes: m.Scopes, Headers: m.Headers,
			AllowForeign: m.AllowForeignCredentials})
	}
	return out
}

// Signing are AWS signing credentials, in name order.
func Signing(in map[string]config.SigningCredential) []proxy.SigningCredential {
	out := make([]proxy.SigningCredential, 0, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		s := in[name]
		c := proxy.SigningCredential{Name: name, Scopes: s.Scopes,
			AccessKeyID:     proxy.EnvSecret{Env: s.AccessKeyID.Name, Value: s.AccessKeyID.Value},
			SecretAccessKey: proxy.EnvSecret{Env: s.SecretAccessKey.Name, Value: s.SecretAccessKey.Value},
		}
		if t := s.SessionToken; t != nil && t.Value != "" {
			c.SessionToken = &proxy.EnvSecret{Env: t.Name, Value: t.Value}
		}
		out = append(out, c)
	}
	return out
}

// GitHubApps are GitHub App credentials by the variable the container
// sees, in name order.
func GitHubApps(in map[string]config.GitHubAppCredential) []proxy.GitHubApp {
	out := make([]proxy.GitHubApp, 0, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		g := in[name]
		out = append(out, proxy.GitHubApp{Name: name, Issuer: g.Issuer(), PrivateKey: g.PrivateKey,
			InstallationID: g.InstallationID, BaseURL: g.API(), Permissions: g.Permissions,
			Repositories: g.Repositories, Scopes: g.Scopes, AllowForeign: g.AllowForeignCredentials})
	}
	return out
}

// Names are the container variables the credentials fill, sorted.
func Names(c proxy.Credentials) []string {
	return slices.Sorted(maps.Keys(c.Env()))
}
