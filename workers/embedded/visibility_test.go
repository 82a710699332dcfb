package embedded_test

import (
	"path/filepath"
	"testing"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/airut-go/airut/internal/testing/pgtest"
	"github.com/airut-go/airut/internal/visibility"
	"github.com/airut-go/airut/workers/embedded"
	"github.com/airut-go/airut/workflows"
)

// The conversation listing against the real visibility stores, SQLite and
// PostgreSQL (reached over TLS, its certificate checked for a server name
// other than the address dialled): a filter value with quotes and
// backslashes matches only itself and cannot widen the query; the subject
// comes from the memo.
func TestVisibilityListQuotesValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) embedded.Options
	}{
		{"sqlite", func(t *testing.T) embedded.Options {
			return embedded.Options{DatabaseFile: filepath.Join(t.TempDir(), "t.db")}
		}},
		{"postgres", func(t *testing.T) embedded.Options {
			pg, settings := startPostgres(t)
			settings.TLS = embedded.PostgresTLS{Enabled: true, CAFile: pg.CAFile, ServerName: pgtest.TLSServerName}
			return embedded.Options{Postgres: settings}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testVisibilityListQuotesValues(t, tc.opts(t)) })
	}
}

func testVisibilityListQuotesValues(t *testing.T, opts embedded.Options) {
	attrs := map[string]enums.IndexedValueType{}
	for _, name := range workflows.SearchAttributeNames() {
		attrs[name] = enums.INDEXED_VALUE_TYPE_KEYWORD
	}
	opts.UIPort, opts.SearchAttributes = -1, attrs
	s := start(t, opts)
	c := dial(t, s)
	ctx := t.Context()
	w := worker.New(c, "visibility-test", worker.Options{})
	w.RegisterWorkflowWithOptions(tagWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	odd := `mallory' OR AirutRepo != 'x`
	var runID string
	for i, sender := range []string{"alice", odd} {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.WorkflowID("demo", []string{"0000000a", "0000000b"}[i]), TaskQueue: "visibility-test",
			WorkflowExecutionTimeout: time.Minute, Memo: map[string]any{"subject": "Fix the build " + sender},
		}, workflows.WorkflowName, tags{Keywords: map[string]string{"AirutRepo": "demo", "AirutSender": sender, "AirutStatus": "idle"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		runID = run.GetRunID()
	}
	waitForVisibility(t, c, visibility.Query(visibility.Filter{Sender: odd}), runID)

	got, err := visibility.List(ctx, c, s.Namespace(), visibility.Filter{Sender: odd})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ConversationID != "0000000b" || got[0].Sender != odd || got[0].Subject != "Fix the build "+odd || got[0].Status != visibility.Closed {
		t.Errorf("List(sender %q) = %+v, want conversation 0000000b, closed, with its subject", odd, got)
	}
	for _, sender := range []string{`nobody' OR '1'='1`, `nobody\' OR AirutRepo = 'demo`} {
		got, err = visibility.List(ctx, c, s.Namespace(), visibility.Filter{Sender: sender})
		if err != nil || len(got) != 0 {
			t.Errorf("List(sender %q) = %+v, %v; want nothing and no error", sender, got, err)
		}
	}
	got, err = visibility.List(ctx, c, s.Namespace(), visibility.Filter{Repo: "demo"})
	if err != nil || len(got) != 2 {
		t.Errorf("List(repo demo) = %+v, %v; want both", got, err)
	}
}
