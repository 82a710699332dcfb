package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
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
)

// The podman API service airut starts is tied to airut's life: the kernel
// sends it SIGTERM when airut dies, however it dies.
func TestPodmanServiceCommandEndsWithAirut(t *testing.T) {
	cmd := podmanServiceCommand("/usr/bin/podman", "/run/airut/podman.sock")
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

// A service that already answers on the socket is used as it is, and the
// log says airut did not start it.
func TestEnsurePodmanServiceReusesARunningOne(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "podman.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// No podman here: one would be found only if airut tried to start it.
	t.Setenv("PATH", t.TempDir())
	var logs bytes.Buffer
	stop, err := ensurePodmanService(context.Background(), "unix://"+sock, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stop()
	want := `msg="using the podman API service already listening; airut did not start it and leaves it running" uri=unix://` + sock
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n%s\nwant a line with %s", logs.String(), want)
	}
	if !socketAnswers(context.Background(), sock) {
		t.Error("stop closed a service airut did not start")
	}
}

// With nothing on the socket and no podman to start, the error says what
// is missing and how to get it.
func TestEnsurePodmanServiceWithoutPodman(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "podman.sock")
	t.Setenv("PATH", t.TempDir())
	_, err := ensurePodmanService(context.Background(), "unix://"+sock, slog.New(slog.DiscardHandler))
	want := "podman API not reachable at unix://" + sock + ": install podman (apt-get install podman) or start it with `systemctl enable --now podman.socket`: nothing listens on " + sock + " and there is no podman binary on PATH to start the service with"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// starterEnv, set, makes this test binary play an `airut run` that starts
// the podman API service on the socket it names and then waits to be
// killed.
const starterEnv = "AIRUT_TEST_PODMAN_STARTER"

// When airut is killed (SIGKILL: no deferred stop runs), the podman API
// service it started ends too, and nothing answers on its socket.
func TestPodmanServiceEndsWhenAirutIsKilled(t *testing.T) {
	if sock := os.Getenv(starterEnv); sock != "" {
		log := slog.New(slog.NewTextHandler(os.Stdout, nil))
		if _, err := ensurePodmanService(context.Background(), "unix://"+sock, log); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		select {}
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not installed")
	}
	if testing.Short() {
		t.Skip("starts a podman API service")
	}
	// Short: a unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "airut-svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "podman.sock")

	airut := exec.Command(os.Args[0], "-test.run=^TestPodmanServiceEndsWhenAirutIsKilled$")
	airut.Env = append(os.Environ(), starterEnv+"="+sock)
	out, err := airut.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := airut.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { airut.Process.Kill(); airut.Wait() })
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
				// A killed airut leaves the service's log behind.
				t.Cleanup(func() { os.Remove(m[2]) })
			}
		case <-timeout:
			t.Fatal("the starter did not report the service within 60s")
		}
	}
	// Should the service outlive the test anyway, it must not linger.
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if !socketAnswers(context.Background(), sock) {
		t.Fatalf("service %d does not answer on %s", pid, sock)
	}

	airut.Process.Kill()
	airut.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) || socketAnswers(context.Background(), sock) {
		if time.Now().After(deadline) {
			t.Fatalf("podman API service %d still running (answers: %v) 15s after airut was killed", pid, socketAnswers(context.Background(), sock))
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
