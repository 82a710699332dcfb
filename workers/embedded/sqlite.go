package embedded

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives/timestamp"
	"go.temporal.io/server/common/resolver"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// namespaceRetention is how long closed workflows of the namespace Start
// creates are kept.
const namespaceRetention = 3 * 24 * time.Hour

// Tables that the SQLite schema of the server creates first and last; both
// present means the schema was set up completely.
const (
	firstSchemaTable = "namespaces"
	lastSchemaTable  = "executions_visibility"
)

// sqliteConfig returns the persistence configuration for file ("" means an
// in-memory database).
//
// The Temporal SQLite plugin keeps one connection per distinct DSN open for
// the life of the process (its pool never closes connections), so Start on
// the same file again in one process reuses the connection of the previous
// run, and every in-memory server keeps its database in memory until the
// process exits.
func sqliteConfig(file string) (*config.SQL, error) {
	cfg := &config.SQL{PluginName: sqliteplugin.PluginName}
	if file == "" {
		name := make([]byte, 12)
		if _, err := rand.Read(name); err != nil {
			return nil, fmt.Errorf("name in-memory database: %w", err)
		}
		cfg.DatabaseName = fmt.Sprintf("airut-%x", name)
		cfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		return cfg, nil
	}
	cfg.DatabaseName = file
	cfg.ConnectAttributes = map[string]string{
		"mode": "rwc",
		// WAL with synchronous=NORMAL: one fsync per checkpoint instead of
		// several per transaction; a crash of the process loses nothing,
		// a power loss may lose the last transactions but never corrupts.
		"journal_mode": "wal",
		"synchronous":  "normal",
		// Wait instead of failing with SQLITE_BUSY if another process
		// (say the sqlite3 shell) holds a lock for a moment.
		"busy_timeout": "5000",
	}
	return cfg, nil
}

// openSQLite prepares file ("" for an in-memory database) for the server:
// checks and locks it and sets up the schema if it has none.
func openSQLite(file string) (_ *store, err error) {
	cfg, err := sqliteConfig(file)
	if err != nil {
		return nil, err
	}
	st := &store{
		executions: cfg,
		visibility: cfg,
		names:      [2]string{sqliteStore, sqliteStore},
		describe:   file,
		unlock:     func() error { return nil },
	}
	if file == "" {
		st.describe = "(in memory)"
	} else {
		if err := checkDatabaseFile(file); err != nil {
			return nil, err
		}
		if st.unlock, err = lockDatabase(file); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, st.unlock())
		}
	}()
	if st.created, err = ensureSchema(cfg); err != nil {
		return nil, err
	}
	return st, nil
}

// checkDatabaseFile makes sure file can be opened for writing and that its
// directory can take SQLite's -wal and -shm files, so that problems are
// reported with the file's name rather than as a persistence error from
// inside the server. It creates an empty file if none exists.
func checkDatabaseFile(file string) error {
	if strings.ContainsAny(file, "?#") {
		return fmt.Errorf("database file %s: name must not contain '?' or '#'", file)
	}
	if info, err := os.Stat(file); err == nil && info.IsDir() {
		return fmt.Errorf("database file %s is a directory", file)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close database file: %w", err)
	}
	dir := filepath.Dir(file)
	probe, err := os.CreateTemp(dir, ".airut-write-check-*")
	if err != nil {
		return fmt.Errorf("database file %s: directory is not writable: %w", file, err)
	}
	name := probe.Name()
	return errors.Join(probe.Close(), os.Remove(name))
}

// ensureSchema sets up the Temporal schema in the database of cfg unless it
// is there already. A database that has some of the tables but not all is
// reported rather than touched.
func ensureSchema(cfg *config.SQL) (created bool, err error) {
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return false, fmt.Errorf("open database %s: %w", cfg.DatabaseName, err)
	}
	defer func() { _ = db.Close() }()
	tables, err := db.ListTables(cfg.DatabaseName)
	if err != nil {
		return false, fmt.Errorf("read database %s: %w", cfg.DatabaseName, err)
	}
	hasFirst := slices.Contains(tables, firstSchemaTable)
	hasLast := slices.Contains(tables, lastSchemaTable)
	switch {
	case hasFirst && hasLast:
		return false, nil
	case len(tables) > 0:
		return false, fmt.Errorf("database %s has tables but not a complete Temporal schema (found %d tables, namespaces=%t, executions_visibility=%t); move it away to start afresh",
			cfg.DatabaseName, len(tables), hasFirst, hasLast)
	}
	if err := sqliteschema.SetupSchemaOnDB(db); err != nil {
		return false, fmt.Errorf("set up schema in %s: %w", cfg.DatabaseName, err)
	}
	return true, nil
}

// createNamespace inserts namespace into the executions database of cfg
// before the server starts, unless it exists. A new namespace gets the custom
// search attributes right away, so the server's namespace caches know them
// from the first load and no wait for a cache refresh is needed. An existing
// namespace is left as it is; registerSearchAttributes adds what it lacks
// after start.
//
// The helpers come from the server's schema/sqlite package but use only its
// generic SQL persistence layer, so they serve PostgreSQL as well: SQL
// visibility keeps custom search attributes as aliases, in the namespace
// record, of the visibility table's pre-made columns (Keyword01, ...).
func createNamespace(cfg *config.SQL, clusterName, namespace string, attrs map[string]enums.IndexedValueType) error {
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, attrs)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	ns.Detail.Config.Retention = timestamp.DurationPtr(namespaceRetention)
	if err := sqliteschema.CreateNamespaces(cfg, ns); err != nil {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	return nil
}
