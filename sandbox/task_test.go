package sandbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/sandbox"
)

// testAllowlist lets nothing out but a host no test serves.
const testAllowlist = "domains:\n  - allowed.test\n"

// sandboxForTest is a sandbox of the test's own: a state dir, labels
// and an egress network no other test shares.
func sandboxForTest(t *testing.T, keep time.Duration) (*sandbox.Sandbox, string) {
	t.Helper()
	id := uniqueID()
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sb, err := sandbox.New(ctx, sandbox.Options{
		StateDir: state, StartPodmanService: true, EgressNetwork: "airut-test-egress-" + id,
		Labels: map[string]string{"airut.test.run": id}, KeepNetwork: keep,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sb.Close()
		exec.Command("podman", "network", "rm", "-f", "airut-test-egress-"+id).Run()
	})
	return sb, state
}

func uniqueID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// baseOverlay is the base image with the sandbox's overlay.
func baseOverlay(t *testing.T, sb *sandbox.Sandbox) string {
	t.Helper()
	image, err := sb.EnsureImage(context.Background(), sandbox.ImageSpec{Base: baseImage})
	if err != nil {
		t.Fatal(err)
	}
	return image
}

// exists says whether podman has a container or network of that name.
func exists(t *testing.T, kind, name string) bool {
	t.Helper()
	err := exec.Command("podman", kind, "exists", name).Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return false
	}
	if err != nil {
		t.Fatalf("podman %s exists %s: %v", kind, name, err)
	}
	return true
}

// assertNothingLeft checks that a task's container, proxy, network and
// proxy files are gone.
func assertNothingLeft(t *testing.T, state, id string) {
	t.Helper()
	for _, c := range []string{"airut-" + id, "airut-proxy-" + id} {
		if exists(t, "container", c) {
			t.Errorf("container %s left behind", c)
		}
	}
	if exists(t, "network", "airut-conv-"+id) {
		t.Errorf("network airut-conv-%s left behind", id)
	}
	if _, err := os.Stat(filepath.Join(state, "tasks", id)); !os.IsNotExist(err) {
		t.Errorf("task files left behind: %v", err)
	}
}

// A command task: its output arrives line by line while it runs, its exit
// code and the end of its stderr are in the result, and the proxy's
// refusals are counted; a timeout and a cancel each kill the container,
// and Close leaves nothing.
func TestCommandTask(t *testing.T) {
	sb, state := sandboxForTest(t, 0)
	image := baseOverlay(t, sb)
	ctx := context.Background()
	newTask := func(t *testing.T, timeout time.Duration) (*sandbox.Task, string) {
		id := "t-" + uniqueID()
		task, err := sb.NewTask(ctx, sandbox.TaskSpec{ID: id, Dir: t.TempDir(), Image: image, Allowlist: []byte(testAllowlist), Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return task, id
	}

	t.Run("exit code, stderr and streamed events", func(t *testing.T) {
		task, id := newTask(t, time.Minute)
		var mu sync.Mutex
		var lines []string
		var firstAt time.Time
		var stdout bytes.Buffer
		script := `echo first; sleep 2; curl -s -o /dev/null https://blocked.test/x; echo oops >&2; echo second; exit 7`
		res, err := task.Run(ctx, sandbox.Command{Args: []string{"sh", "-c", script}, Stdout: &stdout, OnEvent: func(e sandbox.Event) {
			mu.Lock()
			defer mu.Unlock()
			if len(lines) == 0 {
				firstAt = time.Now()
			}
			lines = append(lines, string(e.Line))
		}})
		ended := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != sandbox.OutcomeContainerFailed || res.ExitCode != 7 || res.Stderr != "oops" {
			t.Errorf("result = %s exit %d stderr %q; want container_failed, 7, oops", res.Outcome, res.ExitCode, res.Stderr)
		}
		if stdout.String() != "first\nsecond\n" {
			t.Errorf("stdout = %q", stdout.String())
		}
		if strings.Join(lines, ",") != "first,oops,second" && strings.Join(lines, ",") != "first,second,oops" {
			t.Errorf("events = %q", lines)
		}
		if ended.Sub(firstAt) < time.Second {
			t.Errorf("the first line arrived %v before the end: not streamed while the command ran", ended.Sub(firstAt))
		}
		if res.Network.Blocked != 1 || len(res.Network.BlockedExamples) != 1 || res.Network.BlockedExamples[0] != "GET blocked.test/x" {
			t.Errorf("network = %+v, want the one refused request", res.Network)
		}
		if err := task.Close(ctx); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, state, id)
	})

	t.Run("timeout", func(t *testing.T) {
		task, id := newTask(t, time.Second)
		began := time.Now()
		res, err := task.Run(ctx, sandbox.Command{Args: []string{"sleep", "60"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != sandbox.OutcomeTimeout || time.Since(began) > 20*time.Second {
			t.Errorf("result = %s after %v, want timeout soon after 1s", res.Outcome, time.Since(began))
		}
		if exists(t, "container", task.ContainerName()) {
			t.Error("the timed-out container is still there")
		}
		task.Close(ctx)
		assertNothingLeft(t, state, id)
	})

	t.Run("cancel", func(t *testing.T) {
		task, id := newTask(t, time.Minute)
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		began := time.Now()
		res, err := task.Run(runCtx, sandbox.Command{Args: []string{"sh", "-c", "echo started; sleep 60"}, OnEvent: func(sandbox.Event) { cancel() }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != sandbox.OutcomeCancelled || time.Since(began) > 20*time.Second {
			t.Errorf("result = %s after %v, want cancelled at once", res.Outcome, time.Since(began))
		}
		if exists(t, "container", task.ContainerName()) {
			t.Error("the cancelled container is still there")
		}
		task.Close(ctx)
		assertNothingLeft(t, state, id)
	})

	t.Run("out of memory", func(t *testing.T) {
		id := "t-" + uniqueID()
		task, err := sb.NewTask(ctx, sandbox.TaskSpec{ID: id, Dir: t.TempDir(), Image: image, NoNetworkSandbox: true, Network: "none",
			Limits: sandbox.Limits{Memory: "64m"}, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer task.Close(ctx)
		res, err := task.Run(ctx, sandbox.Command{Args: []string{"sh", "-c", `x=$(head -c 300000000 /dev/zero | tr '\0' x); echo survived`}})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 137 || !res.OutOfMemory || res.Outcome != sandbox.OutcomeContainerFailed {
			t.Errorf("result = %s exit %d oom %v; want container_failed, 137, out of memory", res.Outcome, res.ExitCode, res.OutOfMemory)
		}
	})
}

// A task the sandbox cannot run is refused before anything starts, with
// an error naming the field.
func TestNewTaskRefusesBadSpecs(t *testing.T) {
	sb, state := sandboxForTest(t, 0)
	dir := t.TempDir()
	ok := sandbox.TaskSpec{ID: "ok", Dir: dir, Image: baseImage, Allowlist: []byte(testAllowlist)}
	tests := []struct {
		name string
		edit func(*sandbox.TaskSpec)
		want string
	}{
		{"bad ID", func(s *sandbox.TaskSpec) { s.ID = "../x" }, `ID "../x"`},
		{"no image", func(s *sandbox.TaskSpec) { s.Image = "" }, "Image is required"},
		{"no allowlist", func(s *sandbox.TaskSpec) { s.Allowlist = nil }, "Allowlist is required"},
		{"broken allowlist", func(s *sandbox.TaskSpec) { s.Allowlist = []byte("domains: {nope") }, "allowlist:"},
		{"allowlist without sandbox", func(s *sandbox.TaskSpec) { s.NoNetworkSandbox = true }, "nothing would enforce it"},
		{"relative mount", func(s *sandbox.TaskSpec) { s.Mounts = []sandbox.Mount{{Source: "src", Target: "/w"}} }, "both paths must be absolute"},
		{"missing mount", func(s *sandbox.TaskSpec) { s.Mounts = []sandbox.Mount{{Source: "/nonexistent/x", Target: "/w"}} }, "/nonexistent/x"},
		{"secret without scope", func(s *sandbox.TaskSpec) {
			s.MaskedSecrets = []proxy.Secret{{Name: "TOKEN", Value: "v"}}
		}, "masked secret TOKEN: surrogate, value and scopes are required"},
		{"two credentials claim one variable", func(s *sandbox.TaskSpec) {
			s.MaskedSecrets = []proxy.Secret{{Name: "AWS_ACCESS_KEY_ID", Value: "v", Scopes: []string{"x.test"}}}
			s.SigningCredentials = []proxy.SigningCredential{{Name: "aws", Scopes: []string{"*.amazonaws.com"},
				AccessKeyID:     proxy.EnvSecret{Env: "AWS_ACCESS_KEY_ID", Value: "AKIAIOSFODNN7EXAMPLE"},
				SecretAccessKey: proxy.EnvSecret{Env: "AWS_SECRET_ACCESS_KEY", Value: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}}
		}, "the variable AWS_ACCESS_KEY_ID is masked secret AWS_ACCESS_KEY_ID's too"},
		{"GitHub App without installation", func(s *sandbox.TaskSpec) {
			s.GitHubApps = []proxy.GitHubApp{{Name: "GH_TOKEN", Issuer: "1", PrivateKey: "k", BaseURL: "https://api.github.com", Scopes: []string{"github.com"}}}
		}, "GitHub App credential GH_TOKEN: surrogate, app ID, private key and installation ID are required"},
		{"GitHub App with a bad base URL", func(s *sandbox.TaskSpec) {
			s.GitHubApps = []proxy.GitHubApp{{Name: "GH_TOKEN", Issuer: "1", PrivateKey: "k", InstallationID: 2, BaseURL: "ftp://x", Scopes: []string{"github.com"}}}
		}, `base URL "ftp://x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ok
			tt.edit(&spec)
			task, err := sb.NewTask(context.Background(), spec)
			if err == nil {
				task.Close(context.Background())
				t.Fatal("accepted")
			}
			if !errors.Is(err, sandbox.ErrInvalidTask) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want ErrInvalidTask saying %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(state, "tasks")); !os.IsNotExist(err) {
		t.Errorf("refused tasks left files: %v", err)
	}
}

// With KeepNetwork, the next task of an ID with the same settings takes
// over the network and proxy of the one before (and its surrogates);
// another allowlist gets a fresh proxy; Sandbox.Close removes what waits.
func TestKeepNetwork(t *testing.T) {
	sb, state := sandboxForTest(t, time.Minute)
	image := baseOverlay(t, sb)
	ctx := context.Background()
	id := "k-" + uniqueID()
	dir := t.TempDir()
	spec := sandbox.TaskSpec{ID: id, Dir: dir, Image: image, Allowlist: []byte(testAllowlist),
		MaskedSecrets: []proxy.Secret{{Name: "TOKEN", Value: "tok-real-1234567890", Scopes: []string{"allowed.test"}}}}
	proxyID := func() string {
		out, err := exec.Command("podman", "inspect", "--format", "{{.Id}}", "airut-proxy-"+id).Output()
		if err != nil {
			t.Fatalf("inspect proxy: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	run := func(spec sandbox.TaskSpec) (first string, took time.Duration, surrogate string) {
		began := time.Now()
		task, err := sb.NewTask(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		took = time.Since(began)
		var out bytes.Buffer
		res, err := task.Run(ctx, sandbox.Command{Args: []string{"sh", "-c", "echo $TOKEN"}, Stdout: &out})
		if err != nil || res.Outcome != sandbox.OutcomeSuccess {
			t.Fatalf("run: %v %+v", err, res)
		}
		first = proxyID()
		if err := task.Close(ctx); err != nil {
			t.Fatal(err)
		}
		return first, took, strings.TrimSpace(out.String())
	}
	p1, cold, s1 := run(spec)
	if !exists(t, "container", "airut-proxy-"+id) {
		t.Fatal("the proxy was removed at Close despite KeepNetwork")
	}
	p2, warm, s2 := run(spec)
	if p2 != p1 || s2 != s1 {
		t.Errorf("second task: proxy %s surrogate %s; want the kept proxy %s and surrogate %s", p2, s2, p1, s1)
	}
	t.Logf("task ready: %v with a new network, %v with the kept one", cold, warm)
	changed := spec
	changed.Allowlist = []byte("domains:\n  - other.test\n")
	p3, _, _ := run(changed)
	if p3 == p1 {
		t.Error("a task with another allowlist took over the old proxy")
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, state, id)
}
