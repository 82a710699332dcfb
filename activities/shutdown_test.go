package activities

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/airut-go/airut/workflows"
)

// A worker that stops while a run is still being prepared (its image
// building, stalled here on an ADD from a server that never answers)
// counts that run in its grace period and at the end cuts it short: the
// run answers, handed back to be retried, before Shutdown returns, so
// the answer reaches Temporal while the worker is still up instead of
// being lost with the process.
func TestShutdownCutsARunBeingPrepared(t *testing.T) {
	f := newFixture(t)
	f.withSandbox()
	asked := make(chan struct{}, 1)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Minute):
		}
	}))
	t.Cleanup(func() { stall.CloseClientConnections(); stall.Close() })
	dir := filepath.Join(f.upstream, ".airut", "container")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nADD "+stall.URL+"/layer.bin /layer.bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, f.upstream, "add", ".")
	git(t, f.upstream, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "slow image")
	f.cfg.Repos["demo"].ContainerPath = ".airut/container"
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}

	ran := make(chan error, 1)
	go func() {
		_, err := f.env.ExecuteActivity(f.a.RunAgent, workflows.AgentInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1", Prompt: "hello"})
		ran <- err
	}()
	select {
	case <-asked:
	case err := <-ran:
		t.Fatalf("RunAgent ended before its image build reached the stalled server: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the image build never asked the server for its file")
	}

	stopped := make(chan struct{})
	go func() { f.a.Shutdown(context.Background(), time.Second); close(stopped) }()
	select {
	case err := <-ran:
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != "HostRestarting" {
			t.Errorf("the cut run answered %v; want it handed back as HostRestarting", err)
		}
	case <-stopped:
		t.Fatal("Shutdown returned while a run was still being prepared: its answer would be lost with the worker")
	case <-time.After(time.Minute):
		t.Fatal("the run being prepared was not cut short at the end of the grace period")
	}
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("Shutdown did not return after the last run answered")
	}
}

// A stopping worker waits for the reply of a run that ended here (the
// workflow sends it through this host) before it lets the worker stop;
// an acknowledgement is not that reply.
func TestShutdownWaitsForTheReplyOfAFinishedRun(t *testing.T) {
	f := newFixture(t)
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	f.a.awaitReply("0000000a")
	stopped := make(chan struct{})
	go func() { f.a.Shutdown(context.Background(), time.Minute); close(stopped) }()
	reply := func(kind workflows.ReplyKind) {
		t.Helper()
		if _, err := f.env.ExecuteActivity(f.a.DeliverReply, workflows.ReplyInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1",
			Kind: kind, Channel: workflows.ChannelLocal, Text: "done"}); err != nil {
			t.Fatalf("DeliverReply %s: %v", kind, err)
		}
	}
	reply(workflows.ReplyAck)
	select {
	case <-stopped:
		t.Fatal("Shutdown returned before the finished run's reply went out")
	case <-time.After(time.Second):
	}
	reply(workflows.ReplyFinal)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waits after the reply went out")
	}
}
