package podman

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/claude"
)

// TestSpecBindMountsNosuidNodev: every bind mount gets nosuid and nodev,
// whether read-write or read-only.
func TestSpecBindMountsNosuidNodev(t *testing.T) {
	rs := RunSpec{Name: "x", Image: "img", Mounts: []Mount{
		{Source: "/host/workspace", Target: "/workspace"},
		{Source: "/host/claude", Target: "/opt/claude/claude", ReadOnly: true},
	}}
	s, err := (&Client{}).specFor(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Mounts) != len(rs.Mounts) {
		t.Fatalf("%d mounts in the spec, want %d", len(s.Mounts), len(rs.Mounts))
	}
	for i, m := range s.Mounts {
		mode := map[bool]string{false: "rw", true: "ro"}[rs.Mounts[i].ReadOnly]
		for _, want := range []string{"rbind", mode, "nosuid", "nodev"} {
			if !slices.Contains(m.Options, want) {
				t.Errorf("mount %s options %v lack %s", m.Destination, m.Options, want)
			}
		}
	}
}

// TestRunBindMountsNosuidNodev checks in a real container that the bind
// mounts are nosuid and nodev as the kernel sees them.
func TestRunBindMountsNosuidNodev(t *testing.T) {
	c := client(t)
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(file, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rs := newSpec(t, "cat", "/proc/self/mountinfo")
	rs.Mounts = []Mount{{Source: dir, Target: "/data"}, {Source: file, Target: "/opt/tool", ReadOnly: true}}
	res, stdout, stderr, err := run(t, c, rs)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %v, exit %d, stderr %q", err, res.ExitCode, stderr)
	}
	tests := []struct {
		name   string
		target string
		want   []string
	}{
		{"read-write directory", "/data", []string{"rw", "nosuid", "nodev"}},
		{"read-only file", "/opt/tool", []string{"ro", "nosuid", "nodev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, ok := mountOptions(stdout, tt.target)
			if !ok {
				t.Fatalf("no mount at %s in mountinfo:\n%s", tt.target, stdout)
			}
			for _, w := range tt.want {
				if !slices.Contains(opts, w) {
					t.Errorf("%s mounted with %v, want %s among them", tt.target, opts, w)
				}
			}
		})
	}
}

// mountOptions returns the per-mount options (the sixth field) of the last
// mountinfo line for target: a later mount at the same point hides earlier
// ones.
func mountOptions(mountinfo, target string) ([]string, bool) {
	var opts []string
	found := false
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == target {
			opts, found = strings.Split(f[5], ","), true
		}
	}
	return opts, found
}

// TestRunStoppedByAnEndlessLine: a container printing one line without end
// is stopped, through the context, by the LineWriter the agent run uses,
// which never holds more than its limit meanwhile.
func TestRunStoppedByAnEndlessLine(t *testing.T) {
	c := client(t)
	const limit = 1 << 20
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	lines := 0
	w := &claude.LineWriter{Max: limit, Line: func([]byte) { lines++ }, TooLong: func() { stop(claude.ErrLineTooLong) }}
	rs := newSpec(t, "bash", "-c", "echo first; tr '\\0' x < /dev/zero")
	rs.Stdout = w
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	started := time.Now()
	_, err := c.Run(runCtx, rs)
	if !errors.Is(err, context.Canceled) || !errors.Is(context.Cause(ctx), claude.ErrLineTooLong) {
		t.Fatalf("Run = %v (cause %v), want it cancelled by ErrLineTooLong", err, context.Cause(ctx))
	}
	if !w.Overflowed() || lines != 1 {
		t.Errorf("Overflowed() = %v after %d lines, want true after the first", w.Overflowed(), lines)
	}
	if took := time.Since(started); took > time.Minute {
		t.Errorf("stopping took %v", took)
	}
	if containerExists(t, c, rs.Name) {
		t.Errorf("container %s still exists after the run was stopped", rs.Name)
	}
}
