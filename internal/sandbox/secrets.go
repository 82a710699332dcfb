package sandbox

import (
	"crypto/rand"
	"sort"

	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/masking"
)

// githubTokenShape is what a GitHub App surrogate is drawn like: "ghs_"
// and 36 mixed-case letters and digits, the shape of an installation
// token, so tools that check a token's form accept it.
const githubTokenShape = "ghs_Aa0Aa0Aa0Aa0Aa0Aa0Aa0Aa0Aa0Aa0Aa0Aa0"

// Surrogates gives every credential a fresh surrogate: the stand-in the
// agent container sees instead of the real value, which only the proxy
// holds and puts back (or signs with) in requests to the credential's
// scopes. Call it once per run, so a surrogate is worth nothing after its
// run. Masked secrets without a value are left out; each list is in name
// order. An AWS key ID keeps its AKIA/ASIA prefix and length, as a secret
// key and session token keep theirs.
func Surrogates(c proxy.Credentials) proxy.Credentials {
	out := proxy.Credentials{}
	for _, s := range c.Masked {
		if s.Value == "" {
			continue
		}
		s.Surrogate = masking.Surrogate(s.Value, rand.Reader)
		out.Masked = append(out.Masked, s)
	}
	for _, s := range c.Signing {
		s.AccessKeyID.Surrogate = masking.Surrogate(s.AccessKeyID.Value, rand.Reader)
		s.SecretAccessKey.Surrogate = masking.Surrogate(s.SecretAccessKey.Value, rand.Reader)
		if s.SessionToken != nil {
			t := *s.SessionToken
			t.Surrogate = masking.Surrogate(t.Value, rand.Reader)
			s.SessionToken = &t
		}
		out.Signing = append(out.Signing, s)
	}
	for _, a := range c.GitHubApps {
		a.Surrogate = masking.Surrogate(githubTokenShape, rand.Reader)
		out.GitHubApps = append(out.GitHubApps, a)
	}
	sort.Slice(out.Masked, func(i, j int) bool { return out.Masked[i].Name < out.Masked[j].Name })
	sort.Slice(out.Signing, func(i, j int) bool { return out.Signing[i].Name < out.Signing[j].Name })
	sort.Slice(out.GitHubApps, func(i, j int) bool { return out.GitHubApps[i].Name < out.GitHubApps[j].Name })
	return out
}
