package sandbox_test

// AWS signing credentials and GitHub App credentials through the whole
// sandbox: real clients in the task's container (the AWS SDK for Go in a
// static binary; git and curl from the base image) hold surrogates only,
// the proxy re-signs or swaps in real credentials for the hosts in scope,
// and the test's upstream servers, in their own network namespaces on the
// test's egress network, check the real credentials.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/testing/awstest"
	"github.com/airut-go/airut/internal/testing/githubtest"
	"github.com/airut-go/airut/internal/testing/netnstest"
	"github.com/airut-go/airut/internal/testing/testcert"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/sandbox"
)

// credEnv is one sandbox with a task whose credentials are under test,
// and the egress network its upstream hosts live on.
type credEnv struct {
	sb      *sandbox.Sandbox
	task    *sandbox.Task
	outDir  string
	logFile string
}

// startCredEnv starts hosts (each a name list served by a handler over
// HTTPS with a certificate the proxy trusts), then a sandbox and a task
// with spec's credentials and allowlist.
func startCredEnv(t *testing.T, c *podman.Client, hosts map[string]hostSpec, spec sandbox.TaskSpec) *credEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, egress := testEgress(ctx, t, c)
	var trust []byte
	for name, h := range hosts {
		host := netnstest.StartHost(t, c, egress, baseImage, h.names...)
		cert, err := testcert.New(name, h.names...)
		if err != nil {
			t.Fatal(err)
		}
		host.ServeHTTP(t, ":443", h.handler, &cert.TLS)
		trust = append(trust, cert.CertPEM...)
	}
	caFile := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(caFile, trust, 0o644); err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(ctx, sandbox.Options{
		StateDir: filepath.Join(t.TempDir(), "state"), StartPodmanService: true,
		EgressNetwork: egress, UpstreamCAFile: caFile, Labels: map[string]string{"airut.test.run": id},
	})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	image, err := sb.EnsureImage(ctx, sandbox.ImageSpec{Base: baseImage})
	if err != nil {
		t.Fatalf("EnsureImage: %v", err)
	}
	e := &credEnv{sb: sb, outDir: t.TempDir(), logFile: filepath.Join(t.TempDir(), "network.log")}
	spec.ID, spec.Dir, spec.Image, spec.NetworkLog, spec.Timeout = "c"+id, t.TempDir(), image, e.logFile, 3*time.Minute
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Source: e.outDir, Target: "/out"})
	task, err := sb.NewTask(ctx, spec)
	if err != nil {
		t.Fatalf("NewTask: %v", err)
	}
	t.Cleanup(func() { task.Close(context.Background()) })
	e.task = task
	return e
}

type hostSpec struct {
	names   []string
	handler http.Handler
}

// sh runs a shell script in the task's container; what it writes to
// /out/result (the container's stdout can lose its tail on podman 4.3) is
// returned with the exit code.
func (e *credEnv) sh(t *testing.T, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	os.Remove(filepath.Join(e.outDir, "result"))
	var errOut bytes.Buffer
	res, err := e.task.Run(ctx, sandbox.Command{Args: []string{"/bin/sh", "-c", "{\n" + script + "\n} >/out/result 2>&1"}, Stderr: &errOut})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	out, _ := os.ReadFile(filepath.Join(e.outDir, "result"))
	return string(out), res.ExitCode
}

// logLines are the proxy's HTTP log lines so far.
func (e *credEnv) logLines(t *testing.T) []proxy.LogLine {
	t.Helper()
	data, err := os.ReadFile(e.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []proxy.LogLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var l proxy.LogLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Kind == "http" {
			out = append(out, l)
		}
	}
	return out
}

// AWS: the SDK in the container signs with surrogate keys; the proxy
// checks each signature and re-signs it with the real keys for the host in
// scope, where the test's S3 accepts only the real ones. A PUT (unsigned
// trailer, as the SDK sends over HTTPS), a GET, a presigned GET and a
// signed chunked upload all succeed; the out-of-scope host gets the
// surrogate key and nothing else; the container never holds a real value.
func TestAWSSigningThroughTheSandbox(t *testing.T) {
	c := connect(t)
	keys := awstest.Keys{AccessKeyID: "AKIA" + strings.ToUpper(randHex(8)), SecretAccessKey: randHex(20),
		SessionToken: "IQoJb3JpZ2luX2VjE" + randHex(60)}
	s3 := awstest.NewS3(keys)
	other := awstest.NewS3(keys)
	e := startCredEnv(t, c, map[string]hostSpec{
		"s3":    {names: []string{"s3.aws.test"}, handler: s3.Handler()},
		"other": {names: []string{"s3.other.test"}, handler: other.Handler()},
	}, sandbox.TaskSpec{
		Allowlist: []byte("domains: [s3.aws.test, s3.other.test]\n"),
		Mounts:    []sandbox.Mount{{Source: filepath.Join(binDir, "s3client"), Target: "/s3client", ReadOnly: true}},
		SigningCredentials: []proxy.SigningCredential{{Name: "AWS", Scopes: []string{"s3.aws.test"},
			AccessKeyID:     proxy.EnvSecret{Env: "AWS_ACCESS_KEY_ID", Value: keys.AccessKeyID},
			SecretAccessKey: proxy.EnvSecret{Env: "AWS_SECRET_ACCESS_KEY", Value: keys.SecretAccessKey},
			SessionToken:    &proxy.EnvSecret{Env: "AWS_SESSION_TOKEN", Value: keys.SessionToken}}},
	})
	surr := e.task.Surrogates()
	if k := surr["AWS_ACCESS_KEY_ID"]; !strings.HasPrefix(k, "AKIA") || len(k) != len(keys.AccessKeyID) || k == keys.AccessKeyID {
		t.Fatalf("surrogate key ID %q: want AKIA, the real one's length, not the real one", k)
	}

	out, code := e.sh(t, `set -e
s3="/s3client -endpoint https://s3.aws.test"
echo "hello from the sandbox" > /tmp/body
$s3 put bucket greeting < /tmp/body
$s3 get bucket greeting > /out/got
head -c 300000 /dev/urandom > /out/big-sent
$s3 put-chunked bucket big < /out/big-sent
$s3 get bucket big > /out/big-got
$s3 presign-get bucket greeting > /out/presigned
env > /out/env
echo all-ok`)
	if code != 0 || !strings.Contains(out, "all-ok") {
		t.Fatalf("S3 from the container: exit %d\n%s", code, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(e.outDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("got"); got != "hello from the sandbox\n" {
		t.Errorf("GET returned %q", got)
	}
	if read("big-got") != read("big-sent") {
		t.Error("the chunked upload did not come back as sent")
	}
	if stored, ok := s3.Object("bucket", "big"); !ok || string(stored) != read("big-sent") {
		t.Error("the upstream did not store the chunked upload's decoded body")
	}
	if !strings.Contains(read("presigned"), "hello from the sandbox") {
		t.Errorf("presigned GET: %q", read("presigned"))
	}
	seen := s3.Seen()
	var chunked, presigned bool
	for _, r := range seen {
		if !r.Verified || r.AccessKeyID != keys.AccessKeyID {
			t.Errorf("%s %s reached S3 with key %q, verified %v: %s", r.Method, r.Path, r.AccessKeyID, r.Verified, r.Error)
		}
		chunked = chunked || r.Chunked && r.PayloadHash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
		presigned = presigned || r.Presigned
	}
	if len(seen) < 5 || !chunked || !presigned {
		t.Errorf("S3 saw %d requests (chunked %v, presigned %v), want put, get, signed chunked put, get, presigned get", len(seen), chunked, presigned)
	}
	env := read("env")
	for _, real := range []string{keys.AccessKeyID, keys.SecretAccessKey, keys.SessionToken} {
		if strings.Contains(env, real) || strings.Contains(out, real) {
			t.Error("a real AWS value is in the container")
		}
	}
	if !strings.Contains(env, "AWS_SECRET_ACCESS_KEY="+surr["AWS_SECRET_ACCESS_KEY"]) {
		t.Error("the container's environment lacks the surrogate secret")
	}

	// Out of scope: signed with the surrogate, sent as signed.
	out, code = e.sh(t, `/s3client -endpoint https://s3.other.test put bucket x < /etc/hostname`)
	if code == 0 || !strings.Contains(out, "InvalidAccessKeyId") {
		t.Errorf("PUT to the out-of-scope host: exit %d, %s; want the upstream refusing the surrogate key", code, out)
	}
	for _, r := range other.Seen() {
		if r.AccessKeyID != surr["AWS_ACCESS_KEY_ID"] || strings.Contains(r.Header.Get("X-Amz-Security-Token"), keys.SessionToken) {
			t.Errorf("the out-of-scope host saw key %q (want only the surrogate)", r.AccessKeyID)
		}
	}
	if len(other.Seen()) == 0 {
		t.Error("the out-of-scope host saw nothing")
	}
	var resigned int
	for _, l := range e.logLines(t) {
		if l.Host == "s3.aws.test" && strings.Contains(strings.Join(l.Notes, ";"), "aws-sigv4 AWS: re-signed for us-east-1/s3") {
			resigned++
		}
		if l.Host == "s3.other.test" && len(l.Swapped) > 0 {
			t.Errorf("the log says %v swapped for the out-of-scope host", l.Swapped)
		}
	}
	if resigned < 5 {
		t.Errorf("%d log lines say re-signed, want one per S3 request", resigned)
	}
}

// GitHub App: git push and a REST call from the container reach the fake
// GitHub with a real installation token the proxy minted, narrowed to the
// configured repository and permission; the other repository of the
// installation is out of reach (REST, git and GraphQL), and the
// surrogate is worth nothing at another host.
func TestGitHubAppThroughTheSandbox(t *testing.T) {
	c := connect(t)
	gh := githubtest.NewServer(t)
	key := gh.AddApp(42, 4242)
	gh.AddInstallationRepo(4242, "acme", "widgets")
	gh.AddInstallationRepo(4242, "acme", "secrets")
	widgets, secrets := bareRepo(t), bareRepo(t)
	gh.ServeGitRepo("acme", "widgets", widgets)
	gh.ServeGitRepo("acme", "secrets", secrets)
	elsewhere := &upstream{}
	e := startCredEnv(t, c, map[string]hostSpec{
		"github":    {names: []string{"gh.test", "api.gh.test"}, handler: gh.Handler()},
		"elsewhere": {names: []string{"elsewhere.test"}, handler: elsewhere.handler("https")},
	}, sandbox.TaskSpec{
		Allowlist: []byte("domains: [gh.test, api.gh.test, elsewhere.test]\n"),
		GitHubApps: []proxy.GitHubApp{{Name: "GH_TOKEN", Issuer: "42", PrivateKey: string(key), InstallationID: 4242,
			BaseURL: "https://api.gh.test", Permissions: map[string]string{"contents": "write"},
			Repositories: []string{"widgets"}, Scopes: []string{"gh.test", "api.gh.test"}}},
	})
	surrogate := e.task.Surrogates()["GH_TOKEN"]
	if !strings.HasPrefix(surrogate, "ghs_") || len(surrogate) != 40 {
		t.Fatalf("surrogate %q: want ghs_ and 36 letters and digits", surrogate)
	}

	out, code := e.sh(t, `git config --global user.email agent@example.com
git config --global user.name agent
git clone -q "https://x-access-token:$GH_TOKEN@gh.test/acme/widgets.git" /tmp/w && cd /tmp/w &&
  echo change > file && git add file && git commit -qm change && git push -q origin HEAD:refs/heads/agent-branch && echo push-ok
cd /
echo "rest-widgets=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GH_TOKEN" https://api.gh.test/repos/acme/widgets)"
echo "rest-secrets=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GH_TOKEN" https://api.gh.test/repos/acme/secrets)"
git clone -q "https://x-access-token:$GH_TOKEN@gh.test/acme/secrets.git" /tmp/s 2>/dev/null || echo secrets-clone-refused
echo "graphql=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $GH_TOKEN" -X POST https://api.gh.test/graphql   -d '{"query":"{ repository(owner: \"acme\", name: \"secrets\") { id } }"}')"
echo "elsewhere=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GH_TOKEN" https://elsewhere.test/)"
env | grep -c ghs_`)
	t.Logf("container:\n%s", out)
	for _, want := range []string{"push-ok", "rest-widgets=200", "rest-secrets=404", "secrets-clone-refused",
		"graphql_repo_scope_blocked", "403\n", "elsewhere=200"} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q (exit %d)", want, code)
		}
	}
	if err := exec.Command("git", "--git-dir", widgets, "rev-parse", "--verify", "-q", "refs/heads/agent-branch").Run(); err != nil {
		t.Error("the push did not reach acme/widgets")
	}

	minted := gh.Minted()
	if len(minted) == 0 {
		t.Fatal("no installation token was minted")
	}
	tokens := map[string]bool{}
	for _, m := range minted {
		tokens[m.Token] = true
		if strings.Join(m.Repositories, ",") != "acme/widgets" || len(m.Permissions) != 1 || m.Permissions["contents"] != "write" {
			t.Errorf("minted token covers %v with %v, want acme/widgets with contents: write", m.Repositories, m.Permissions)
		}
		if strings.Contains(out, m.Token) {
			t.Error("a real token is in the container's output")
		}
	}
	var git, rest int
	for _, r := range gh.Requests() {
		auth := r.Authorization
		if strings.HasPrefix(auth, "Basic ") {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
			auth = string(raw)
		}
		switch {
		case strings.Contains(auth, surrogate):
			t.Errorf("%s %s reached GitHub with the surrogate", r.Method, r.Path)
		case strings.HasSuffix(r.Path, "/access_tokens"):
		case auth == "":
		default:
			_, tok, _ := strings.Cut(auth, ":")
			if !tokens[strings.TrimPrefix(auth, "Bearer ")] && !tokens[tok] {
				t.Errorf("%s %s reached GitHub with a credential the proxy did not mint", r.Method, r.Path)
			}
			if strings.Contains(r.Path, ".git/") {
				git++
			} else {
				rest++
			}
		}
	}
	if git == 0 || rest == 0 {
		t.Errorf("authenticated git requests %d, REST %d: want both", git, rest)
	}
	for _, r := range elsewhere.seen() {
		if got := r.Header.Get("Authorization"); got != "Bearer "+surrogate {
			t.Errorf("elsewhere.test got Authorization %q, want the surrogate as sent", got)
		}
	}
	var notes []string
	for _, l := range e.logLines(t) {
		notes = append(notes, l.Notes...)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"github-app GH_TOKEN: refreshed", "github-app GH_TOKEN: cached", "github-app GH_TOKEN: graphql out of scope"} {
		if !strings.Contains(joined, want) {
			t.Errorf("network log notes lack %q:\n%s", want, joined)
		}
	}
}

// bareRepo is a bare repository with one commit on main.
func bareRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "repo.git"), filepath.Join(dir, "work")
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", bare},
		{"init", "-q", "-b", "main", work},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "init"},
		{"-C", work, "push", "-q", bare, "main"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return bare
}
