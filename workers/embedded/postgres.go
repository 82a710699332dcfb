package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iancoleman/strcase"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	toolsql "go.temporal.io/server/tools/sql"
)

// Postgres says where the server keeps its state in PostgreSQL: executions
// (histories, task queues, namespaces, cluster metadata) in Database, and
// visibility (the workflow lists and their search attributes, queried with
// SQL) in VisibilityDatabase, both on one PostgreSQL server.
//
// Start creates either database if it is missing (connecting to the
// maintenance database "postgres", or "defaultdb", to do so: User then needs
// the CREATEDB privilege; otherwise create them beforehand, owned by User)
// and sets up or updates its schema with the Temporal server's own schema
// tool and schema files, so the first start on an empty PostgreSQL works and
// later starts, of this or a newer airut, reuse and upgrade it. A database
// that has tables but no Temporal schema is refused rather than touched.
type Postgres struct {
	// Host is the server's host name or IP address, or the directory of
	// its Unix socket (an absolute path). Required.
	Host string
	// Port is the server's port; default 5432.
	Port int
	// User is the role to log in as; "" means libpq's default (PGUSER,
	// else the name of the user running airut).
	User string
	// Password is User's password; "" means none (or PGPASSWORD, or
	// ~/.pgpass). It appears in no error or log record.
	Password string
	// Database holds executions; default "temporal".
	Database string
	// VisibilityDatabase holds visibility; default
	// "temporal_visibility". It must differ from Database. It is also the
	// name the server files the search attributes of SQL visibility
	// under, so renaming it later starts visibility afresh.
	VisibilityDatabase string
	// TLS secures the connections; off by default.
	TLS PostgresTLS
	// MaxConns caps each of the server's connection pools; 0 means no
	// cap. The server has several pools (each of its four services has
	// one for executions and one for visibility, plus a few for
	// start-up), so the connections in use can reach a multiple of this.
	MaxConns int
}

// PostgresTLS configures TLS towards PostgreSQL. When enabled the server's
// certificate must chain to CAFile (default: the system's roots) and be
// valid for ServerName (default: Host), as with libpq's sslmode=verify-full.
type PostgresTLS struct {
	Enabled bool
	// CAFile is a PEM bundle of the CAs to trust; "" means the system's.
	CAFile string
	// ServerName is the name the certificate must be valid for, when it
	// differs from Host (say Host is an IP address).
	ServerName string
}

const (
	defaultPostgresPort               = 5432
	defaultPostgresDatabase           = "temporal"
	defaultPostgresVisibilityDatabase = "temporal_visibility"
	// postgresPlugin is the server's PostgreSQL persistence plugin on the
	// pgx driver ("postgres12" is the same plugin on lib/pq). Its
	// error checks expect pgx's errors, which the connections made by
	// openDB return.
	postgresPlugin = postgresql.PluginNamePGX
	// Store names in the server's configuration.
	postgresStore           = "postgres-default"
	postgresVisibilityStore = "postgres-visibility"
	// The server's embedded schema directories (go.temporal.io/server/
	// schema), as `temporal-sql-tool update-schema --schema-name` takes
	// them.
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
	// schemaVersionTable is made by the schema tool in every database it
	// manages.
	schemaVersionTable = "schema_version"
	// pgConnectTimeout bounds each connection attempt.
	pgConnectTimeout = 10 * time.Second
	// pgConnMaxLifetime recycles pooled connections, so a server behind a
	// load balancer or a fail-over address is found again.
	pgConnMaxLifetime = time.Hour
	// sqlstateInvalidCatalogName is PostgreSQL's error code for a
	// database that does not exist.
	sqlstateInvalidCatalogName = "3D000"
)

// maintenanceDatabases are tried, in order, to create a missing database:
// PostgreSQL's default and Aiven's (as the server's plugin does).
var maintenanceDatabases = []string{"postgres", "defaultdb"}

// postgresName is what Start accepts as a database name: it is written
// unquoted into the server's schema tables and used as an index name, so
// plain identifiers only (PostgreSQL truncates names at 63 bytes).
var postgresName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)

// lockKey is the PostgreSQL advisory lock that a running server holds on
// its executions database (see lock).
var lockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("airut embedded temporal server"))
	return int64(h.Sum64())
}()

// withDefaults fills the defaults and checks p.
func (p Postgres) withDefaults() (Postgres, error) {
	if p.Port == 0 {
		p.Port = defaultPostgresPort
	}
	if p.Database == "" {
		p.Database = defaultPostgresDatabase
	}
	if p.VisibilityDatabase == "" {
		p.VisibilityDatabase = defaultPostgresVisibilityDatabase
	}
	switch {
	case p.Host == "":
		return p, errors.New("postgres: host is required")
	case strings.ContainsAny(p.Host, " \t\r\n'\\"):
		return p, fmt.Errorf("postgres: host %q is not a host name, IP address or socket directory", p.Host)
	case strings.Contains(p.Host, ":") && net.ParseIP(p.Host) == nil && !strings.HasPrefix(p.Host, "/"):
		return p, fmt.Errorf("postgres: host %q must not include a port (set Port)", p.Host)
	}
	if p.Port < 1 || p.Port > 65535 {
		return p, fmt.Errorf("postgres: port %d out of range", p.Port)
	}
	for _, name := range []string{p.Database, p.VisibilityDatabase} {
		if !postgresName.MatchString(name) {
			return p, fmt.Errorf("postgres: database name %q: use letters, digits, '_' and '-', at most 63 characters", name)
		}
	}
	if p.Database == p.VisibilityDatabase {
		return p, fmt.Errorf("postgres: database and visibility database are both %q; they must differ", p.Database)
	}
	if p.MaxConns < 0 {
		return p, fmt.Errorf("postgres: max conns %d is negative", p.MaxConns)
	}
	return p, nil
}

// String names the server and user for messages, without the password:
// "PostgreSQL at db.example.com:5432 as temporal". Being a value method, it
// also keeps the password out of a Postgres printed with %v.
func (p Postgres) String() string {
	where := net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	if strings.HasPrefix(p.Host, "/") {
		where = fmt.Sprintf("socket %s/.s.PGSQL.%d", p.Host, p.Port)
	}
	s := "PostgreSQL at " + where
	if p.User != "" {
		s += " as " + p.User
	}
	return s
}

// connConfig returns the pgx configuration for database.
func (p *Postgres) connConfig(database string) (*pgx.ConnConfig, error) {
	sslmode := "disable"
	if p.TLS.Enabled {
		sslmode = "verify-full"
	}
	kv := [][2]string{
		{"host", p.Host},
		{"port", strconv.Itoa(p.Port)},
		{"dbname", database},
		{"connect_timeout", strconv.Itoa(int(pgConnectTimeout / time.Second))},
		{"application_name", "airut-temporal"},
		{"sslmode", sslmode},
	}
	if p.User != "" {
		kv = append(kv, [2]string{"user", p.User})
	}
	if p.TLS.Enabled && p.TLS.CAFile != "" {
		kv = append(kv, [2]string{"sslrootcert", p.TLS.CAFile})
	}
	var b strings.Builder
	for _, e := range kv {
		fmt.Fprintf(&b, "%s='%s' ", e[0], strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(e[1]))
	}
	cc, err := pgx.ParseConfig(b.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	// Set here rather than in the string, so it is in no string at all.
	if p.Password != "" {
		cc.Password = p.Password
	}
	if p.TLS.Enabled && p.TLS.ServerName != "" {
		if cc.TLSConfig != nil {
			cc.TLSConfig.ServerName = p.TLS.ServerName
		}
		for _, fb := range cc.Fallbacks {
			if fb.TLSConfig != nil {
				fb.TLSConfig.ServerName = p.TLS.ServerName
			}
		}
	}
	return cc, nil
}

// connect opens one connection to database.
func (p *Postgres) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	cc, err := p.connConfig(database)
	if err != nil {
		return nil, err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, p.connectError(database, err)
	}
	return c, nil
}

// ping checks that database takes a login.
func (p *Postgres) ping(ctx context.Context, database string) error {
	c, err := p.connect(ctx, database)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

// connectError says which server, database and user a failed connection
// was for; the password is in no part of it.
func (p *Postgres) connectError(database string, err error) error {
	return fmt.Errorf("connect to %s, database %s: %w", p, database, err)
}

// isMissingDatabase reports whether err says the database does not exist.
func isMissingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidCatalogName
}

// sqlConfig is the server's persistence configuration for database. The
// server makes its connections through openDB, which knows the password;
// the configuration itself holds none.
func (p *Postgres) sqlConfig(database string) *config.SQL {
	return &config.SQL{
		PluginName:      postgresPlugin,
		DatabaseName:    database,
		ConnectAddr:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		ConnectProtocol: "tcp",
		User:            p.User,
		MaxConns:        p.MaxConns,
		MaxIdleConns:    p.MaxConns,
		MaxConnLifetime: pgConnMaxLifetime,
		Connect:         p.openDB,
	}
}

// openDB opens a connection pool for cfg.DatabaseName as the server's
// PostgreSQL plugin does for postgres12_pgx, but from p's typed settings:
// user and database names need no escaping, TLS can verify a ServerName
// other than the host, and the password is never put in a DSN.
func (p *Postgres) openDB(cfg *config.SQL) (*sqlx.DB, error) {
	cc, err := p.connConfig(cfg.DatabaseName)
	if err != nil {
		return nil, err
	}
	connector := stdlib.GetConnector(*cc, stdlib.OptionAfterConnect(durationsAsBigint))
	db := sqlx.NewDb(sql.OpenDB(connector), "pgx")
	ctx, cancel := context.WithTimeout(context.Background(), pgConnectTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, p.connectError(cfg.DatabaseName, err)
	}
	if cfg.MaxConns > 0 {
		db.SetMaxOpenConns(cfg.MaxConns)
	}
	if cfg.MaxIdleConns > 0 {
		db.SetMaxIdleConns(cfg.MaxIdleConns)
	}
	if cfg.MaxConnLifetime > 0 {
		db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	}
	// The plugin's queries scan rows into structs by snake_case column
	// names without struct tags, as its own sessions set up.
	db.MapperFunc(strcase.ToSnake)
	return db, nil
}

// durationsAsBigint makes pgx send time.Duration as bigint nanoseconds, as
// the server stores durations; its own pgx driver does the same.
func durationsAsBigint(_ context.Context, conn *pgx.Conn) error {
	conn.TypeMap().RegisterDefaultPgType(time.Duration(0), "int8")
	conn.TypeMap().RegisterDefaultPgType((*time.Duration)(nil), "int8")
	return nil
}

// openPostgres prepares p's databases for the server: creates them if
// missing, takes the lock that keeps a second server off them, and sets up
// or updates both schemas. On success the returned store's unlock releases
// the lock.
func openPostgres(ctx context.Context, p Postgres, logger log.Logger) (_ *store, err error) {
	st := &store{
		executions: p.sqlConfig(p.Database),
		visibility: p.sqlConfig(p.VisibilityDatabase),
		names:      [2]string{postgresStore, postgresVisibilityStore},
		describe:   fmt.Sprintf("%s, databases %s and %s", p, p.Database, p.VisibilityDatabase),
	}
	// The lock lives in the executions database, and is taken before
	// any schema work so that two servers never migrate at once.
	for i, s := range []struct{ db, schema, version string }{
		{p.Database, postgresSchema, pgschema.Version},
		{p.VisibilityDatabase, postgresVisibilitySchema, pgschema.VisibilityVersion},
	} {
		created, err := p.ensureDatabase(ctx, s.db, logger)
		if err != nil {
			return nil, err
		}
		st.created = st.created || created
		if i == 0 {
			if st.unlock, err = p.lock(ctx); err != nil {
				return nil, err
			}
			defer func() {
				if err != nil {
					_ = st.unlock()
				}
			}()
		}
		if err := catchFatal(func() error { return p.setupSchema(ctx, s.db, s.schema, s.version, logger) }); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// ensureDatabase makes sure database exists and takes a login, creating it
// through a maintenance database if it does not exist. It reports whether
// it created it.
func (p *Postgres) ensureDatabase(ctx context.Context, database string, logger log.Logger) (created bool, err error) {
	err = p.ping(ctx, database)
	if err == nil {
		return false, nil
	}
	if !isMissingDatabase(err) {
		return false, err
	}
	var tried []error
	for _, maint := range maintenanceDatabases {
		if err := p.ping(ctx, maint); err != nil {
			tried = append(tried, err)
			continue
		}
		// As `temporal-sql-tool create-database` does; it is a no-op if
		// the database appeared meanwhile.
		if err := toolsql.DoCreateDatabase(p.sqlConfig(database), maint, logger); err != nil {
			return false, fmt.Errorf("%s: database %s does not exist, and creating it failed (create it beforehand, owned by the user, or grant the user CREATEDB): %w",
				p, database, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("%s: database %s does not exist, and no maintenance database (%s) takes a login to create it; create it beforehand: %w",
		p, database, strings.Join(maintenanceDatabases, ", "), errors.Join(tried...))
}

// lock takes an advisory lock on the executions database, held on a
// connection of its own until unlock is called, so that no second embedded
// server (of this process or another host) runs on the same databases: with
// one history shard and static membership, two servers would keep taking
// the shard from each other. The lock goes if the connection drops, so it
// is a guard against mistakes rather than a fence.
func (p *Postgres) lock(ctx context.Context) (unlock func() error, err error) {
	c, err := p.connect(ctx, p.Database)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got); err != nil {
		_ = c.Close(ctx)
		return nil, fmt.Errorf("%s, database %s: take lock: %w", p, p.Database, err)
	}
	if !got {
		_ = c.Close(ctx)
		return nil, fmt.Errorf("%s, database %s is in use by another embedded Temporal server (it holds advisory lock %d)", p, p.Database, lockKey)
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Closing the session releases its advisory locks.
		return c.Close(ctx)
	}, nil
}

// tables lists the tables in database's public schema, where the schema
// tool puts Temporal's, including those the user may not read (which the
// tool's own listing leaves out).
func (p *Postgres) tables(ctx context.Context, database string) ([]string, error) {
	c, err := p.connect(ctx, database)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close(ctx) }()
	rows, err := c.Query(ctx, "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public'")
	if err != nil {
		return nil, fmt.Errorf("%s, database %s: list tables: %w", p, database, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("%s, database %s: list tables: %w", p, database, err)
	}
	return names, nil
}

// setupSchema brings database to the newest schema of schemaName as
// `temporal-sql-tool setup-schema -v 0.0` followed by `update-schema
// --schema-name schemaName` would: the versioning tables first, then every
// versioned step above the recorded version, from the server's embedded
// schema files. On a database that is up to date it changes nothing.
func (p *Postgres) setupSchema(ctx context.Context, database, schemaName, want string, logger log.Logger) error {
	tables, err := p.tables(ctx, database)
	if err != nil {
		return err
	}
	if len(tables) > 0 && !slices.Contains(tables, schemaVersionTable) {
		return fmt.Errorf("%s, database %s has %d tables but no Temporal schema (no %s table); use an empty database or another name",
			p, database, len(tables), schemaVersionTable)
	}
	conn, err := toolsql.NewConnection(p.sqlConfig(database), logger)
	if err != nil {
		return fmt.Errorf("%s, database %s: %w", p, database, err)
	}
	defer conn.Close()
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("%s, database %s: set up schema versioning: %w", p, database, err)
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{DBName: database, SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("%s, database %s: update schema %s: %w", p, database, schemaName, err)
	}
	got, err := conn.ReadSchemaVersion()
	if err != nil {
		return fmt.Errorf("%s, database %s: read schema version: %w", p, database, err)
	}
	logger.Debug("postgres schema ready", tag.NewStringTag("database", database), tag.NewStringTag("version", got), tag.NewStringTag("expected", want))
	return nil
}
