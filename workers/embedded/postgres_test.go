package embedded_test

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/internal/testing/pgtest"
	"github.com/airut-go/airut/workers/embedded"
	"github.com/airut-go/airut/workflows"
)

// pgPassword is the password of the role the tests' servers log in as;
// errors must never show it.
const pgPassword = "pw-Zq7-not-for-logs"

// startPostgres starts a fresh PostgreSQL with a role "airut" that may
// create databases but is no superuser, as a database administrator would
// set one up, and returns settings that log in as it.
func startPostgres(t *testing.T) (*pgtest.Server, *embedded.Postgres) {
	t.Helper()
	pg := pgtest.Start(t)
	c := pg.Connect(t, "postgres")
	if _, err := c.Exec(t.Context(), "CREATE ROLE airut LOGIN CREATEDB PASSWORD '"+pgPassword+"'"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	return pg, &embedded.Postgres{Host: pg.Host, Port: pg.Port, User: "airut", Password: pgPassword}
}

// airutAttrs are the search attributes airut registers, all keywords.
func airutAttrs() map[string]enums.IndexedValueType {
	attrs := map[string]enums.IndexedValueType{}
	for _, name := range workflows.SearchAttributeNames() {
		attrs[name] = enums.INDEXED_VALUE_TYPE_KEYWORD
	}
	return attrs
}

// aliases returns the namespace's search attributes as SQL visibility
// stores them: pre-made column → attribute name.
func aliases(t *testing.T, c client.Client, namespace string) map[string]string {
	t.Helper()
	resp, err := c.WorkflowService().DescribeNamespace(t.Context(), &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	return resp.GetConfig().GetCustomSearchAttributeAliases()
}

// TestPostgresRestartKeepsHistory starts the server on empty PostgreSQL
// databases (which it creates, with their schemas), runs a workflow that
// sets Airut's search attributes and finds it with a visibility query;
// then restarts the server on the same databases with one more search
// attribute and finds the workflow's history and the workflow by query
// again, with the first attributes still on the same columns.
func TestPostgresRestartKeepsHistory(t *testing.T) {
	pg, settings := startPostgres(t)
	const id = "pg-restart-1"

	var runID string
	var firstAliases map[string]string
	{
		began := time.Now()
		s := start(t, embedded.Options{Postgres: settings, Namespace: "airut-test", UIPort: -1, SearchAttributes: airutAttrs()})
		t.Logf("cold start (databases and schemas created): %v", time.Since(began))
		if got := pg.Databases(t); !slices.Equal(got, []string{"postgres", "temporal", "temporal_visibility"}) {
			t.Errorf("databases after the first start: %v, want postgres, temporal, temporal_visibility", got)
		}
		c := dial(t, s)
		checkAttrs(t, listAttrs(t, c, s.Namespace()), airutAttrs())
		firstAliases = aliases(t, c, s.Namespace())

		run := runTagWorkflow(t, c, id, tags{Keywords: map[string]string{"AirutRepo": "example/repo", "AirutStatus": "idle", "AirutSender": "o'brien"}})
		runID = run.GetRunID()
		waitForVisibility(t, c, `AirutRepo = "example/repo"`, runID)
		c.Close()
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}

	// Restart on the same databases, with one more attribute of another
	// type, which goes through the operator service.
	attrs := airutAttrs()
	attrs["AirutRound"] = enums.INDEXED_VALUE_TYPE_INT
	began := time.Now()
	s := start(t, embedded.Options{Postgres: settings, Namespace: "airut-test", UIPort: -1, SearchAttributes: attrs})
	t.Logf("warm start (existing databases, one new search attribute): %v", time.Since(began))
	c := dial(t, s)

	checkCompletedAfterRestart(t, c, id, runID)
	waitForVisibility(t, c, `AirutRepo = "example/repo" AND AirutStatus = "idle" AND AirutSender = "o'brien"`, runID)

	// Registration was idempotent: the first attributes kept their
	// columns, and the new one took a column of its own.
	checkAttrs(t, listAttrs(t, c, s.Namespace()), attrs)
	now := aliases(t, c, s.Namespace())
	for col, name := range firstAliases {
		if now[col] != name {
			t.Errorf("after restart column %s is %q, was %q (all: %v)", col, now[col], name, now)
		}
	}
	if len(now) != len(attrs) {
		t.Errorf("after restart %d aliases, want %d: %v", len(now), len(attrs), now)
	}
	if !slices.Contains(slices.Collect(maps.Values(now)), "AirutRound") {
		t.Errorf("AirutRound has no column: %v", now)
	}
	run := runTagWorkflow(t, c, "pg-restart-2", tags{Keywords: map[string]string{"AirutRepo": "example/repo"}, Ints: map[string]int64{"AirutRound": 3}})
	waitForVisibility(t, c, `AirutRound >= 3 AND AirutRepo = "example/repo"`, run.GetRunID())

	// A second server cannot take the databases of a running one.
	_, err := embedded.Start(t.Context(), embedded.Options{Postgres: settings, UIPort: -1, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "temporal") {
		t.Fatalf("Start on the databases of a running server: err = %v, want them named as in use", err)
	}
}

// TestPostgresStartErrors checks that Start fails early, naming the server
// and database and never the password, when PostgreSQL cannot be used.
func TestPostgresStartErrors(t *testing.T) {
	pg, good := startPostgres(t)
	admin := pg.Connect(t, "postgres")
	for _, stmt := range []string{
		"CREATE ROLE plain LOGIN PASSWORD '" + pgPassword + "'",
		"CREATE DATABASE appdb OWNER airut",
	} {
		if _, err := admin.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := pg.Connect(t, "appdb").Exec(t.Context(), "CREATE TABLE orders (id int)"); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", pg.Host, pg.Port)
	with := func(f func(p *embedded.Postgres)) *embedded.Postgres {
		p := *good
		f(&p)
		return &p
	}

	tests := []struct {
		name string
		opts embedded.Options
		want []string // substrings of the error
	}{
		{"wrong password", embedded.Options{Postgres: with(func(p *embedded.Postgres) { p.Password = "wrong-" + pgPassword })},
			[]string{addr, "database temporal", "airut", "password authentication failed"}},
		{"nothing listening", embedded.Options{Postgres: with(func(p *embedded.Postgres) { p.Port = freePort(t) })},
			[]string{fmt.Sprintf("%s:", pg.Host), "database temporal", "connect"}},
		{"may not create the database", embedded.Options{Postgres: with(func(p *embedded.Postgres) { p.User = "plain" })},
			[]string{addr, "database temporal does not exist", "CREATEDB"}},
		{"database of another application", embedded.Options{Postgres: with(func(p *embedded.Postgres) { p.Database = "appdb" })},
			[]string{addr, "database appdb has 1 tables but no Temporal schema"}},
		{"TLS for another name", embedded.Options{Postgres: with(func(p *embedded.Postgres) {
			p.TLS = embedded.PostgresTLS{Enabled: true, CAFile: pg.CAFile, ServerName: "db.example.com"}
		})}, []string{addr, "database temporal", "certificate"}},
		{"no host", embedded.Options{Postgres: &embedded.Postgres{}}, []string{"postgres", "host is required"}},
		{"one database for both", embedded.Options{Postgres: with(func(p *embedded.Postgres) { p.VisibilityDatabase = "temporal" })},
			[]string{`"temporal"`, "must differ"}},
		{"database file too", embedded.Options{Postgres: good, DatabaseFile: "/tmp/t.db"}, []string{"/tmp/t.db", "SQLite only"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = testLogger(t)
			tc.opts.UIPort = -1
			began := time.Now()
			s, err := embedded.Start(t.Context(), tc.opts)
			if err == nil {
				_ = s.Stop()
				t.Fatal("Start succeeded")
			}
			msg := err.Error()
			t.Logf("error after %v: %s", time.Since(began).Round(time.Millisecond), msg)
			if !strings.HasPrefix(msg, "start temporal server: ") {
				t.Errorf("error %q lacks the start temporal server prefix", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, pgPassword) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
	// None of that made a database, nor left a lock behind.
	if got := pg.Databases(t); !slices.Equal(got, []string{"appdb", "postgres"}) {
		t.Errorf("databases after the failed starts: %v, want appdb, postgres", got)
	}
}

// freePort returns a loopback TCP port that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
