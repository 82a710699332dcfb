package proxy

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/airut-go/airut/internal/testing/githubtest"
)

// The rewriter against the fake GitHub: a token is minted only when the
// surrogate is used, swapped in as Bearer or Basic password, cached; a
// failed mint refuses the request (502, nothing cached); GraphQL with the
// token names only its repositories; foreign credentials are stripped on
// the app's hosts and nothing changes elsewhere.
func TestRewriterGitHubApp(t *testing.T) {
	gh := githubtest.NewServer(t)
	key := gh.AddApp(42, 4242)
	gh.AddInstallationRepo(4242, "acme", "widgets")
	gh.AddInstallationRepo(4242, "acme", "secrets")
	const surrogate = "ghs_SURROGATEsurrogate0123456789abcdefgh"
	app := GitHubApp{Name: "GH_TOKEN", Surrogate: surrogate, Issuer: "42", PrivateKey: string(key), InstallationID: 4242,
		BaseURL: gh.URL(), Repositories: []string{"widgets"}, Scopes: []string{"api.gh.test", "gh.test", "127.0.0.1"}}
	r := newRewriter(Credentials{GitHubApps: []GitHubApp{app}}, gh.Client())

	req := func(host, path, auth, body string) *http.Request {
		out, _ := http.NewRequest(http.MethodPost, "https://"+host+path, strings.NewReader(body))
		if auth != "" {
			out.Header.Set("Authorization", auth)
		}
		return out
	}
	ctx := context.Background()

	// Not used: nothing minted, and a foreign token is stripped.
	out := req("api.gh.test", "/repos/acme/widgets", "Bearer ghp_mine", "")
	rw := r.Rewrite(ctx, "api.gh.test", true, out)
	if out.Header.Get("Authorization") != "" || strings.Join(rw.Stripped, ",") != "Authorization" || len(gh.Minted()) != 0 {
		t.Errorf("foreign token: header %q, stripped %v, minted %d", out.Header.Get("Authorization"), rw.Stripped, len(gh.Minted()))
	}
	// Bearer: minted, narrowed, swapped.
	out = req("api.gh.test", "/repos/acme/widgets", "Bearer "+surrogate, "")
	rw = r.Rewrite(ctx, "api.gh.test", true, out)
	minted := gh.Minted()
	if len(minted) != 1 || out.Header.Get("Authorization") != "Bearer "+minted[0].Token || strings.Join(minted[0].Repositories, ",") != "acme/widgets" {
		t.Fatalf("bearer: header %q, minted %+v", out.Header.Get("Authorization"), minted)
	}
	if strings.Join(rw.Swapped, ",") != "GH_TOKEN" || strings.Join(rw.Notes, ",") != "github-app GH_TOKEN: refreshed" {
		t.Errorf("bearer: swapped %v, notes %v", rw.Swapped, rw.Notes)
	}
	// Basic (git): the cached token as the password.
	out = req("gh.test", "/acme/widgets.git/git-receive-pack", "Basic "+base64.StdEncoding.EncodeToString([]byte("x-access-token:"+surrogate)), "")
	rw = r.Rewrite(ctx, "gh.test", true, out)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(out.Header.Get("Authorization"), "Basic "))
	if string(raw) != "x-access-token:"+minted[0].Token || len(gh.Minted()) != 1 || strings.Join(rw.Notes, ",") != "github-app GH_TOKEN: cached" {
		t.Errorf("basic: %q, minted %d, notes %v", raw, len(gh.Minted()), rw.Notes)
	}
	// Plain HTTP: never minted into, withheld.
	out = req("api.gh.test", "/x", "Bearer "+surrogate, "")
	if rw = r.Rewrite(ctx, "api.gh.test", false, out); out.Header.Get("Authorization") != "Bearer "+surrogate || strings.Join(rw.Withheld, ",") != "GH_TOKEN" {
		t.Errorf("plain HTTP: header %q, withheld %v", out.Header.Get("Authorization"), rw.Withheld)
	}
	// Another host: untouched.
	out = req("elsewhere.test", "/x", "Bearer "+surrogate, "")
	if rw = r.Rewrite(ctx, "elsewhere.test", true, out); out.Header.Get("Authorization") != "Bearer "+surrogate || len(rw.Swapped)+len(rw.Stripped) != 0 {
		t.Errorf("elsewhere: header %q, %+v", out.Header.Get("Authorization"), rw)
	}

	// GraphQL (the fake's API root is "/": GraphQL at /graphql).
	host := strings.TrimSuffix(strings.TrimPrefix(gh.URL(), "http://"), "/")
	for _, tc := range []struct {
		name, path, body string
		refused          bool
	}{
		{"own repository", "/graphql", `{"query":"{ repository(owner: \"acme\", name: \"widgets\") { id } }"}`, false},
		{"other repository", "/graphql", `{"query":"{ repository(owner: \"acme\", name: \"secrets\") { id } }"}`, true},
		{"search", "/graphql", `{"query":"{ search(query: \"x\", type: REPOSITORY, first: 5) { repositoryCount } }"}`, true},
		{"query string", "/graphql?query=x", `{"query":"{ viewer { login } }"}`, true},
	} {
		out := req(host, tc.path, "Bearer "+surrogate, tc.body)
		out.URL.Host = host
		rw := r.Rewrite(ctx, strings.Split(host, ":")[0], true, out)
		if (rw.Refuse != nil) != tc.refused {
			t.Errorf("graphql %s: refused %+v, want %v", tc.name, rw.Refuse, tc.refused)
			continue
		}
		if tc.refused {
			if rw.Refuse.Status != http.StatusForbidden || !strings.Contains(string(rw.Refuse.Body), `"error":"graphql_repo_scope_blocked"`) {
				t.Errorf("graphql %s: refusal %d %s", tc.name, rw.Refuse.Status, rw.Refuse.Body)
			}
			continue
		}
		if b, _ := io.ReadAll(out.Body); string(b) != tc.body || out.ContentLength != int64(len(tc.body)) {
			t.Errorf("graphql %s: body after the check %q (length %d), want it as sent", tc.name, b, out.ContentLength)
		}
	}

	// A mint GitHub refuses: 502 saying why, to this request and to the
	// next, which the held failure answers without asking GitHub again
	// (an agent retrying in a loop must not spend the app's rate limit).
	bad := app
	bad.InstallationID = 999
	r = newRewriter(Credentials{GitHubApps: []GitHubApp{bad}}, gh.Client())
	for i := 0; i < 2; i++ {
		out := req("api.gh.test", "/repos/acme/widgets", "Bearer "+surrogate, "")
		rw := r.Rewrite(ctx, "api.gh.test", true, out)
		if rw.Refuse == nil || rw.Refuse.Status != http.StatusBadGateway ||
			!strings.Contains(string(rw.Refuse.Body), `"error":"github_app_token_refresh_failed"`) ||
			!strings.Contains(string(rw.Refuse.Body), "installation 999") {
			t.Fatalf("refused mint: %+v", rw.Refuse)
		}
	}
	var tries int
	for _, q := range gh.Requests() {
		if strings.HasSuffix(q.Path, "/app/installations/999/access_tokens") {
			tries++
		}
	}
	if tries != 1 {
		t.Errorf("%d mint attempts for two requests in a row, want 1 (the failure is held for a moment)", tries)
	}
}

// An AWS request re-signed for a host that a masked secret also covers
// keeps its new Authorization: the real signature is not a foreign
// credential to be stripped.
func TestRewriterSigningNextToMaskedSecret(t *testing.T) {
	real := aws.Credentials{AccessKeyID: "AKIAREALREALREAL1234", SecretAccessKey: strings.Repeat("r", 40)}
	surr := aws.Credentials{AccessKeyID: "AKIASURRSURRSURR5678", SecretAccessKey: strings.Repeat("s", 40)}
	r := newRewriter(Credentials{
		Masked: []Secret{{Name: "OTHER", Value: "real-other", Surrogate: "surr-other", Scopes: []string{"*.amazonaws.com"}, Headers: []string{"Authorization"}}},
		Signing: []SigningCredential{{Name: "AWS", Scopes: []string{"*.amazonaws.com"},
			AccessKeyID:     EnvSecret{Env: "AWS_ACCESS_KEY_ID", Value: real.AccessKeyID, Surrogate: surr.AccessKeyID},
			SecretAccessKey: EnvSecret{Env: "AWS_SECRET_ACCESS_KEY", Value: real.SecretAccessKey, Surrogate: surr.SecretAccessKey}}},
	}, http.DefaultClient)
	out, _ := http.NewRequest(http.MethodGet, "https://bucket.s3.amazonaws.com/key", nil)
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	out.Header.Set("X-Amz-Content-Sha256", empty)
	now := time.Now().UTC()
	if err := v4.NewSigner().SignHTTP(context.Background(), surr, out, empty, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	rw := r.Rewrite(context.Background(), "bucket.s3.amazonaws.com", true, out)
	auth := out.Header.Get("Authorization")
	if !strings.Contains(auth, "Credential="+real.AccessKeyID+"/") || len(rw.Stripped) != 0 || strings.Join(rw.Swapped, ",") != "AWS" {
		t.Errorf("Authorization %q, stripped %v, swapped %v: want the real signature kept", auth, rw.Stripped, rw.Swapped)
	}
	want, _ := http.NewRequest(http.MethodGet, "https://bucket.s3.amazonaws.com/key", nil)
	want.Header.Set("X-Amz-Content-Sha256", empty)
	v4.NewSigner().SignHTTP(context.Background(), real, want, empty, "s3", "us-east-1", now)
	if auth != want.Header.Get("Authorization") {
		t.Errorf("re-signed Authorization %q\nwant the SDK's with the real keys %q", auth, want.Header.Get("Authorization"))
	}
}
