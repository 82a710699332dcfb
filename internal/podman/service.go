package podman

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// serviceCommand serves the podman API on sock for as long as the process
// that starts it lives: the kernel sends the service SIGTERM when its
// starter dies, however it dies (a crash, SIGKILL, the OOM killer), so no
// orphaned service keeps running without the Airut that started it.
func serviceCommand(bin, sock string) *exec.Cmd {
	cmd := exec.Command(bin, "system", "service", "--time=0", "unix://"+sock)
	// conmon (2.1, with podman 4.3) writes an "oom" marker into its
	// working directory, which it inherits from the service, when a
	// container is killed for memory: with the starter's directory that
	// left stray files in checkouts. The socket's directory is podman's.
	cmd.Dir = filepath.Dir(sock)
	// With CONTAINER_HOST (or a named connection) in its environment the
	// podman CLI is a remote client, which cannot serve: the service is
	// local by definition.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINER_HOST=") && !strings.HasPrefix(kv, "CONTAINER_CONNECTION=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGTERM,
		// Own process group, so a Ctrl-C aimed at Airut's foreground job
		// does not take the service down while the worker still needs it
		// to clean up.
		Setpgid: true,
	}
	return cmd
}

// tiedProcess is a child started by startTied.
type tiedProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited; err is then set
	err    error
}

// startTied starts cmd from a goroutine that keeps its OS thread until cmd
// exits. The kernel sends Pdeathsig when the thread that started the
// child ends, not the process (go.dev/issue/27505), and the Go runtime
// may end an idle thread; a thread locked to a goroutine that is still
// waiting is never ended.
func startTied(cmd *exec.Cmd) (*tiedProcess, error) {
	p := &tiedProcess{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Returning without UnlockOSThread ends the thread, which is
		// what must happen only after the child has gone.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop sends SIGTERM and, if the process has not exited after grace,
// SIGKILL; it returns once the process has exited.
func (p *tiedProcess) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}
