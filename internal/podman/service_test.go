package podman

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/syncbuf"
)

// The podman API service Connect starts is tied to its starter's life:
// the kernel sends it SIGTERM when the starter dies, however it dies.
func TestServiceCommandEndsWithItsStarter(t *testing.T) {
	cmd := serviceCommand("/usr/bin/podman", "/run/airut/podman.sock")
	if want := []string{"/usr/bin/podman", "system", "service", "--time=0", "unix:///run/airut/podman.sock"}; !slices.Equal(cmd.Args, want) {
		t.Errorf("command %q, want %q", cmd.Args, want)
	}
	if cmd.SysProcAttr == nil || cmd.SysProcAttr.Pdeathsig != syscall.SIGTERM {
		t.Errorf("SysProcAttr %+v: want Pdeathsig SIGTERM, so the service ends when airut dies", cmd.SysProcAttr)
	}
	if !cmd.SysProcAttr.Setpgid {
		t.Errorf("SysProcAttr %+v: want its own process group, so a Ctrl-C reaches airut first", cmd.SysProcAttr)
	}
}

// With nothing on the socket and no podman to start, the error says what
// is missing and how to get it.
func TestConnectWithoutPodman(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "podman.sock")
	t.Setenv("PATH", t.TempDir())
	_, err := Connect(context.Background(), ConnectOptions{URI: "unix://" + sock, StartService: true, Logger: slog.New(slog.DiscardHandler)})
	want := "podman API not reachable at unix://" + sock + ": install podman (apt-get install podman) or start it with `systemctl enable --now podman.socket`: nothing listens on " + sock + " and there is no podman binary on PATH to start the service with"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// shortSocket is a socket path in a new directory short enough for a unix
// socket (at most 107 bytes).
func shortSocket(t *testing.T) string {
	dir, err := os.MkdirTemp("", "airut-svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "podman.sock")
}

// A service already answering is used as it is, the log says Airut did
// not start it, and closing the client leaves it running.
func TestConnectReusesARunningService(t *testing.T) {
	ctx := context.Background()
	sock := shortSocket(t)
	first, err := Connect(ctx, ConnectOptions{URI: "unix://" + sock, StartService: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var logs syncbuf.Buffer
	second, err := Connect(ctx, ConnectOptions{URI: "unix://" + sock, StartService: true, Logger: newTextLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if second.StartedService() {
		t.Error("the second client says it started the service")
	}
	second.Close()
	want := `msg="using the podman API service already listening; airut did not start it and leaves it running" uri=unix://` + sock
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n%s\nwant a line with %s", logs.String(), want)
	}
	if !dialable(ctx, sock) {
		t.Error("closing the second client stopped a service it did not start")
	}
}

// starterEnv, set, makes this test binary play an `airut run` that starts
// the podman API service on the socket it names and then waits to be
// killed.
const starterEnv = "AIRUT_TEST_PODMAN_STARTER"

// When its starter is killed (SIGKILL: no deferred Close runs), the podman
// API service ends too, and nothing answers on its socket.
func TestStartedServiceEndsWhenItsStarterIsKilled(t *testing.T) {
	if sock := os.Getenv(starterEnv); sock != "" {
		log := slog.New(slog.NewTextHandler(os.Stdout, nil))
		if _, err := Connect(context.Background(), ConnectOptions{URI: "unix://" + sock, StartService: true, Logger: log}); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		select {}
	}
	sock := shortSocket(t)
	starter := exec.Command(os.Args[0], "-test.run=^TestStartedServiceEndsWhenItsStarterIsKilled$")
	starter.Env = append(os.Environ(), starterEnv+"="+sock)
	out, err := starter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := starter.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { starter.Process.Kill(); starter.Wait() })
	pidLine := regexp.MustCompile(`msg="started podman API service; it ends with airut" .*pid=(\d+) log=(\S+)`)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	pid := 0
	timeout := time.After(60 * time.Second)
	for pid == 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the starter ended without starting the service")
			}
			t.Log(line)
			if m := pidLine.FindStringSubmatch(line); m != nil {
				pid, _ = strconv.Atoi(m[1])
				// A killed starter leaves the service's log behind.
				t.Cleanup(func() { os.Remove(m[2]) })
			}
		case <-timeout:
			t.Fatal("the starter did not report the service within 60s")
		}
	}
	// Should the service outlive the test anyway, it must not linger.
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	ctx := context.Background()
	if !dialable(ctx, sock) {
		t.Fatalf("service %d does not answer on %s", pid, sock)
	}
	starter.Process.Kill()
	starter.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) || dialable(ctx, sock) {
		if time.Now().After(deadline) {
			t.Fatalf("podman API service %d still running (answers: %v) 15s after its starter was killed", pid, dialable(ctx, sock))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive reports whether process pid runs; a zombie (exited, not yet reaped
// by an init that may never reap it) does not.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}
