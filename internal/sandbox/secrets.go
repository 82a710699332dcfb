package sandbox

import (
	"crypto/rand"
	"sort"

	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/proxy/masking"
)

// Surrogates gives each masked secret a fresh surrogate: the stand-in the
// agent container sees instead of the real value, which only the proxy
// holds and puts back in requests to the secret's scopes. Call it once per
// run, so a surrogate is worth nothing after its run. Secrets without a
// value are left out; the result is in name order.
func Surrogates(secrets []proxy.Secret) []proxy.Secret {
	out := make([]proxy.Secret, 0, len(secrets))
	for _, s := range secrets {
		if s.Value == "" {
			continue
		}
		s.Surrogate = masking.Surrogate(s.Value, rand.Reader)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
