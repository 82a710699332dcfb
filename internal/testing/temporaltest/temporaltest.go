// Package temporaltest starts a real, embedded Temporal server (SQLite in
// memory, no Web UI) for one test and dials a client to it. Its log is
// shown only when the test fails.
package temporaltest

import (
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/airut-go/airut/internal/testing/syncbuf"
	"github.com/airut-go/airut/workers/embedded"
)

// Start runs a server until the test ends and returns a client of its
// namespace, closed when the test ends.
func Start(t testing.TB) client.Client {
	t.Helper()
	logs := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("temporal server log:\n%s", logs.String())
		}
	})
	srv, err := embedded.Start(t.Context(), embedded.Options{UIPort: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("start temporal: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	return c
}
