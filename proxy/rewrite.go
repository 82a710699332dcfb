package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/airut-go/airut/proxy/allowlist"
	"github.com/airut-go/airut/proxy/awssig"
	"github.com/airut-go/airut/proxy/graphql"
	"github.com/airut-go/airut/proxy/masking"
	"github.com/airut-go/airut/proxy/mitm"
)

// rewriter puts real credentials in place of surrogates in allowed
// requests: GitHub App tokens (minted on demand), masked secrets, and AWS
// signatures (re-signed with the real keys).
type rewriter struct {
	masked  []masking.Secret
	signing []awssig.Credential
	apps    []*appCredential
	now     func() time.Time
}

func newRewriter(c Credentials, mint *http.Client) *rewriter {
	r := &rewriter{now: time.Now}
	for _, s := range c.Masked {
		r.masked = append(r.masked, masking.Secret{Name: s.Name, Real: s.Value, Surrogate: s.Surrogate,
			Scopes: s.Scopes, Headers: s.Headers, AllowForeign: s.AllowForeign})
	}
	for _, s := range c.Signing {
		a := awssig.Credential{Name: s.Name, Scopes: s.Scopes,
			AccessKeyID: s.AccessKeyID.Value, SurrogateAccessKeyID: s.AccessKeyID.Surrogate,
			SecretAccessKey: s.SecretAccessKey.Value, SurrogateSecretAccessKey: s.SecretAccessKey.Surrogate}
		if s.SessionToken != nil {
			a.SessionToken, a.SurrogateSessionToken = s.SessionToken.Value, s.SessionToken.Surrogate
		}
		r.signing = append(r.signing, a)
	}
	for _, a := range c.GitHubApps {
		r.apps = append(r.apps, newAppCredential(a, mint))
	}
	return r
}

func (r *rewriter) Rewrite(ctx context.Context, host string, secure bool, out *http.Request) mitm.Rewritten {
	var res mitm.Rewritten
	if r == nil {
		return res
	}
	secrets := r.masked
	for _, a := range r.apps {
		if !allowlist.MatchAny(a.cfg.Scopes, host, true) {
			continue
		}
		// Until its surrogate is seen the app takes part as a secret
		// whose "real" value is the surrogate itself: nothing is minted
		// for a request that does not use it, but its strip pass still
		// removes foreign credentials from the scoped host.
		s := masking.Secret{Name: a.cfg.Name, Real: a.cfg.Surrogate, Surrogate: a.cfg.Surrogate,
			Scopes: a.cfg.Scopes, Headers: []string{"Authorization"}, AllowForeign: a.cfg.AllowForeign}
		if secure && masking.Holds(out.Header, s) {
			tok, refreshed, err := a.token(ctx)
			if err != nil {
				res.Notes = append(res.Notes, "github-app "+a.cfg.Name+": token refresh failed")
				res.Refuse = refusal(http.StatusBadGateway, "github-app: token refresh failed", "github_app_token_refresh_failed",
					fmt.Sprintf("Network sandbox: could not get a GitHub App installation token for %s: %v. "+
						"The request was not sent; retrying later may work, or ask the operator to check the app's credentials.", a.cfg.Name, err), "")
				return res
			}
			state := "cached"
			if refreshed {
				state = "refreshed"
			}
			if a.isGraphQL(out) {
				d := scopeGraphQL(out, tok.repos)
				if !d.Allowed {
					res.Notes = append(res.Notes, "github-app "+a.cfg.Name+": graphql out of scope: "+d.Op)
					res.Refuse = refusal(http.StatusForbidden, "github-app: graphql "+d.Op, "graphql_repo_scope_blocked",
						fmt.Sprintf("Network sandbox: this GitHub credential may only be used for the repositories it was given (%s); "+
							"the GraphQL request was refused: %s.", strings.Join(a.cfg.Repositories, ", "), d.Detail), d.Detail)
					return res
				}
				state += ", graphql-scoped"
			}
			res.Notes = append(res.Notes, "github-app "+a.cfg.Name+": "+state)
			s.Real = tok.token
		}
		secrets = append(secrets, s)
	}

	// AWS first: its re-signed Authorization must not look like a
	// foreign credential to a masked secret scoped to the same host.
	var signed http.Header
	if len(r.signing) > 0 && secure {
		a := awssig.Resign(out, host, r.signing, r.now())
		switch {
		case a.Name == "":
		case a.Resigned:
			res.Swapped = append(res.Swapped, a.Name)
			note := fmt.Sprintf("aws-sigv4 %s: re-signed for %s/%s", a.Name, a.Region, a.Service)
			if a.Reason != "" {
				note += " (" + a.Reason + ")"
			}
			res.Notes = append(res.Notes, note)
			signed = http.Header{}
			for _, k := range []string{"Authorization", "X-Amz-Security-Token"} {
				if v, ok := out.Header[k]; ok {
					signed[k] = v
					delete(out.Header, k)
				}
			}
		default:
			res.Notes = append(res.Notes, fmt.Sprintf("aws-sigv4 %s: not re-signed: %s", a.Name, a.Reason))
		}
	}
	if len(secrets) > 0 {
		m := masking.Apply(host, secure, out.Header, secrets)
		res.Swapped = append(res.Swapped, m.Swapped...)
		res.Stripped, res.Withheld = m.Stripped, m.Withheld
	}
	for k, v := range signed {
		out.Header[k] = v
	}
	return res
}

func refusal(status int, reason, code, message, detail string) *mitm.Refusal {
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Detail  string `json:"detail,omitempty"`
	}{code, message, detail})
	return &mitm.Refusal{Status: status, Reason: reason, Body: body}
}

// scopeGraphQL checks a GraphQL request made with a GitHub App token
// against the token's repositories. The body is read (up to the
// checker's limit) and put back.
func scopeGraphQL(out *http.Request, repos graphql.Repos) graphql.Decision {
	if out.URL.RawQuery != "" {
		return graphql.Decision{Op: "<query-params>", Detail: "a GraphQL request may not carry a query string"}
	}
	var body []byte
	if out.Body != nil {
		b, err := io.ReadAll(io.LimitReader(out.Body, graphql.MaxBody+1))
		if err != nil {
			return graphql.Decision{Op: "<unreadable>", Detail: "the request body could not be read"}
		}
		body = b
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	}
	return graphql.CheckRepoScope(body, repos)
}
