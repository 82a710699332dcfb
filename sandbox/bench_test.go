package sandbox_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/airut-go/airut/sandbox"
)

// BenchmarkTask measures one task of a command that exits at once, from
// NewTask to Close, with the network sandbox: on a fresh network (the
// first task of an ID), on the network kept from the task before
// (KeepNetwork), and without the sandbox; a bare `podman run --rm` of the
// same image in the same run is the yardstick.
func BenchmarkTask(b *testing.B) {
	ctx := context.Background()
	state := b.TempDir()
	id := uniqueID()
	egress := "airut-test-egress-" + id
	newSB := func(keep time.Duration) *sandbox.Sandbox {
		sb, err := sandbox.New(ctx, sandbox.Options{StateDir: state, StartPodmanService: true, EgressNetwork: egress, KeepNetwork: keep})
		if err != nil {
			b.Fatal(err)
		}
		return sb
	}
	defer exec.Command("podman", "network", "rm", "-f", egress).Run()
	cold, warm := newSB(0), newSB(time.Minute)
	defer cold.Close()
	defer warm.Close()
	image, err := cold.EnsureImage(ctx, sandbox.ImageSpec{Base: baseImage})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	task := func(sb *sandbox.Sandbox, spec sandbox.TaskSpec) (ready, run, closed time.Duration) {
		t0 := time.Now()
		task, err := sb.NewTask(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := task.Run(ctx, sandbox.Command{Args: []string{"true"}})
		if err != nil || res.Outcome != sandbox.OutcomeSuccess {
			b.Fatalf("run: %v %+v", err, res)
		}
		t2 := time.Now()
		if err := task.Close(ctx); err != nil {
			b.Fatal(err)
		}
		return t1.Sub(t0), t2.Sub(t1), time.Since(t2)
	}
	sandboxed := sandbox.TaskSpec{ID: "bench-" + id, Dir: dir, Image: image, Allowlist: []byte(testAllowlist)}
	kept := sandboxed
	kept.ID = "bench-kept-" + id
	plain := sandbox.TaskSpec{ID: "bench-plain-" + id, Dir: dir, Image: image, NoNetworkSandbox: true}
	task(warm, kept) // the kept network's first task makes it
	var c, w, p [3]time.Duration
	var bareTotal time.Duration
	add := func(sum *[3]time.Duration, r, u, x time.Duration) { sum[0] += r; sum[1] += u; sum[2] += x }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, u, x := task(cold, sandboxed)
		add(&c, r, u, x)
		r, u, x = task(warm, kept)
		add(&w, r, u, x)
		r, u, x = task(cold, plain)
		add(&p, r, u, x)
		t0 := time.Now()
		if out, err := exec.Command("podman", "run", "--rm", image, "true").CombinedOutput(); err != nil {
			b.Fatalf("podman run: %v\n%s", err, out)
		}
		bareTotal += time.Since(t0)
	}
	b.StopTimer()
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	total := func(s [3]time.Duration) time.Duration { return s[0] + s[1] + s[2] }
	b.ReportMetric(ms(bareTotal), "ms-bare-podman-run")
	b.ReportMetric(ms(total(c)), "ms-fresh-network")
	b.ReportMetric(ms(c[0]), "ms-fresh-ready")
	b.ReportMetric(ms(c[2]), "ms-fresh-close")
	b.ReportMetric(ms(total(w)), "ms-kept-network")
	b.ReportMetric(ms(w[0]), "ms-kept-ready")
	b.ReportMetric(ms(w[1]), "ms-kept-run")
	b.ReportMetric(ms(total(p)), "ms-no-sandbox")
	b.ReportMetric(float64(total(w))/float64(bareTotal), "kept/bare")
	b.ReportMetric(float64(total(c))/float64(bareTotal), "fresh/bare")
}
