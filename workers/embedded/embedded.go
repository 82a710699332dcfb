// Package embedded runs a Temporal server inside the current process: the
// frontend, history, matching and worker services of go.temporal.io/server,
// plus the Temporal Web UI. It is what `airut run` and `airut server` use so
// that a single airut binary needs no external Temporal deployment.
//
// The server keeps its state either in one SQLite file (Options.DatabaseFile,
// or in memory), which needs nothing else, or in PostgreSQL
// (Options.Postgres): an executions database and a visibility database on a
// PostgreSQL server, Temporal's production layout, for state that outgrows
// one machine's disk or should live in a managed database. Either way
// visibility is Temporal's SQL visibility, with Airut's custom search
// attributes mapped onto the visibility table's pre-made columns, and Start
// creates the schema (and, with PostgreSQL, the databases) on first use and
// reuses it after that.
//
// The package links the whole Temporal server and starts goroutines,
// listeners and file I/O. It must not be imported by workflow code (which has
// to stay deterministic and light); only the command-line entry points should
// import it.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
)

const (
	defaultIP        = "127.0.0.1"
	defaultNamespace = "default"
	// clusterName is persisted in the database on first start and must
	// stay the same for as long as database files made by it are in use.
	clusterName = "active"
	// sqliteStore names the single SQLite data store used for both
	// execution and visibility persistence.
	sqliteStore = "sqlite-default"
	// startTimeout bounds Start when its context has no deadline.
	startTimeout = time.Minute
	// namespaceRefresh is how often each service re-reads namespaces
	// (the server's default, set explicitly because Start waits for it
	// after adding search attributes to an existing namespace).
	namespaceRefresh = 2 * time.Second
	// readyPoll is the pause between readiness probes in Start.
	readyPoll = 20 * time.Millisecond
)

// Options configures Start. The zero value is usable: an in-memory server on
// 127.0.0.1 with free ports, the Web UI and the namespace "default".
type Options struct {
	// DatabaseFile is the SQLite file that holds all Temporal state. It is
	// created, and the schema set up, on first use and reused after that,
	// so workflows survive restarts. Its directory must exist. Alongside
	// it live SQLite's -wal and -shm files and a ".lock" file that keeps a
	// second server off the same database. "" means an in-memory database
	// that is lost when the server stops (unless Postgres is set).
	DatabaseFile string
	// Postgres, when set, keeps all Temporal state in PostgreSQL instead
	// of SQLite; DatabaseFile must then be "". An advisory lock on its
	// executions database keeps a second server off the same databases.
	Postgres *Postgres
	// IP is the address that the frontend, the Web UI and the internal
	// history, matching and worker services listen on; default
	// "127.0.0.1". It must be an IP literal. With an unspecified address
	// (0.0.0.0 or ::) the services listen on all interfaces and are
	// reached through loopback.
	IP string
	// FrontendPort is the gRPC frontend port that clients dial; 0 picks a
	// free port.
	FrontendPort int
	// UIPort is the Web UI port; 0 picks a free port and -1 disables the
	// UI.
	UIPort int
	// UIReadOnly hides the UI's write actions (start, signal, reset,
	// terminate, ...): anyone who reaches the UI can then only look.
	UIReadOnly bool
	// Namespace is created if missing, with a retention of three days;
	// default "default".
	Namespace string
	// SearchAttributes are custom search attributes registered on
	// Namespace, by name and type. Registration is idempotent across
	// restarts; an attribute already registered with another type is an
	// error. SQL visibility (SQLite and PostgreSQL alike) allows per
	// namespace at most 10 Keyword, and 3 each of Bool, Int, Double,
	// Datetime, Text and KeywordList attributes, counting those registered
	// earlier.
	SearchAttributes map[string]enums.IndexedValueType
	// Logger receives the server's log records; nil discards them.
	Logger *slog.Logger
	// LogLevel is the lowest level of server records passed to Logger;
	// nil means slog.LevelWarn, since the server is chatty below that.
	LogLevel slog.Leveler
}

// store is the persistence a server runs on: the SQL configurations of its
// executions and visibility stores (one and the same for SQLite) and what
// it took to use them.
type store struct {
	executions, visibility *config.SQL
	// names are the data store names of executions and visibility in
	// the server's configuration.
	names [2]string
	// describe names the database(s) for log records, without secrets.
	describe string
	// created reports whether a database or schema was made.
	created bool
	// unlock releases the store for another server.
	unlock func() error
}

// Server is a running embedded Temporal server. Its methods are safe for
// concurrent use.
type Server struct {
	temporal     temporal.Server
	ui           *uiserver.Server
	uiDone       chan struct{}
	unlock       func() error
	logPhase     *atomic.Int32
	frontendAddr string
	uiAddr       string
	namespace    string
	database     string

	stopOnce sync.Once
	stopErr  error
}

// Start starts a Temporal server and, unless disabled, the Web UI, and
// returns once the frontend serves requests for the namespace, its search
// attributes are registered and the UI accepts connections. ctx bounds the
// start-up (one minute if it has no deadline); it has no effect on the
// server after Start returns. Call Stop to shut the server down.
//
// On an existing SQLite file Start takes about 0.1 s, except the first
// time in a process: the server's internal SDK workers then make the
// Temporal SDK hash the whole executable once to derive its default worker
// build ID (about 0.3 s for a 200 MB binary). A host that calls
// go.temporal.io/sdk/worker.SetBinaryChecksum first skips that. Adding a
// search attribute to an existing namespace costs another two seconds or so,
// the interval in which the server's services re-read namespaces. On
// PostgreSQL (a local one) Start takes about 1.5 s on existing databases,
// most of it the server opening its connection pools, and about 3 s the
// first time, when it creates the databases and their schemas.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	return s, nil
}

func start(ctx context.Context, opts Options) (_ *Server, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	opts, err = withDefaults(opts)
	if err != nil {
		return nil, err
	}
	logger := serverLogger{out: opts.Logger, level: opts.LogLevel, phase: new(atomic.Int32)}
	began := time.Now()
	var elapsed []any // time since began at the end of each phase, for the final debug record
	mark := func(phase string) {
		elapsed = append(elapsed, slog.Duration(phase, time.Since(began)))
	}

	// Listen on the IP, dial through loopback if it is a wildcard.
	ip := net.ParseIP(opts.IP)
	dialIP := opts.IP
	if ip.IsUnspecified() {
		dialIP = "127.0.0.1"
		if ip.To4() == nil {
			dialIP = "::1"
		}
	}

	reqs := []portRequest{
		{role: "frontend", port: opts.FrontendPort},
		{role: "history", port: 0},
		{role: "matching", port: 0},
		{role: "worker", port: 0},
	}
	if opts.UIPort >= 0 {
		reqs = append(reqs, portRequest{role: "web UI", port: opts.UIPort})
	}
	ports, err := reservePorts(opts.IP, reqs)
	if err != nil {
		return nil, err
	}
	hostPort := func(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	s := &Server{
		logPhase:     logger.phase,
		frontendAddr: hostPort(dialIP, ports[0]),
		namespace:    opts.Namespace,
		unlock:       func() error { return nil },
	}

	var st *store
	if opts.Postgres != nil {
		st, err = openPostgres(ctx, *opts.Postgres, logger)
	} else {
		st, err = openSQLite(opts.DatabaseFile)
	}
	if err != nil {
		return nil, err
	}
	s.unlock = st.unlock
	s.database = st.describe
	// From here on, undo what was done if anything fails.
	defer func() {
		if err != nil {
			err = errors.Join(err, s.stop())
		}
	}()
	if err := createNamespace(st.executions, clusterName, opts.Namespace, opts.SearchAttributes); err != nil {
		return nil, err
	}

	mark("database")

	services := map[primitives.ServiceName]int{
		primitives.FrontendService: ports[0],
		primitives.HistoryService:  ports[1],
		primitives.MatchingService: ports[2],
		primitives.WorkerService:   ports[3],
	}
	conf := serverConfig(opts.IP, dialIP, st, services)
	hosts := make(map[primitives.ServiceName]static.Hosts, len(services))
	for svc, port := range services {
		hosts[svc] = static.SingleLocalHost(hostPort(dialIP, port))
	}
	dynamic := dynamicconfig.StaticClient{
		dynamicconfig.NamespaceCacheRefreshInterval.Key(): namespaceRefresh,
		// The Web UI lists workflows often; the default of 10/s throttles it.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// Bound the mutable-state cache (default 128k entries): an idle
		// conversation's state is reloaded from the database at its next
		// event. 8,192 entries held about 94 MB with 10,000 idle
		// conversations (BenchmarkIdleConversationsMemory).
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 1024,
	}
	if err := catchFatal(func() error {
		srv, err := temporal.NewServer(
			temporal.WithConfig(conf),
			temporal.ForServices(temporal.DefaultServices),
			temporal.WithStaticHosts(hosts),
			temporal.WithLogger(logger),
			temporal.WithDynamicConfigClient(dynamic),
			temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
				return authorization.NewNoopClaimMapper()
			}),
		)
		if err != nil {
			return fmt.Errorf("create server: %w", err)
		}
		if err := srv.Start(); err != nil {
			// Services that did start are stopped by Start itself.
			return err
		}
		s.temporal = srv
		return nil
	}); err != nil {
		return nil, err
	}

	mark("server")

	if opts.UIPort >= 0 {
		s.uiAddr = "http://" + hostPort(dialIP, ports[4])
		if err := s.startUI(opts.IP, ports[4], opts.Namespace, opts.UIReadOnly); err != nil {
			return nil, err
		}
	}

	c, err := dialFrontend(ctx, s.frontendAddr, opts.Namespace)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	mark("frontend")
	added, err := registerSearchAttributes(ctx, c, opts.Namespace, opts.SearchAttributes)
	if err != nil {
		return nil, err
	}
	if added {
		// Each service reads namespaces, and so learns of the new
		// aliases, within one refresh interval.
		if err := sleepCtx(ctx, namespaceRefresh+250*time.Millisecond); err != nil {
			return nil, fmt.Errorf("wait for search attributes: %w", err)
		}
	}
	if s.uiAddr != "" {
		if err := waitTCP(ctx, hostPort(dialIP, ports[4])); err != nil {
			return nil, fmt.Errorf("web UI: %w", err)
		}
	}
	mark("ready")
	opts.Logger.Debug("embedded temporal server started",
		slog.String("frontend", s.frontendAddr),
		slog.String("ui", s.uiAddr),
		slog.String("database", st.describe),
		slog.Bool("schema_created", st.created),
		slog.Bool("search_attributes_added", added),
		slog.Group("elapsed", elapsed...))
	return s, nil
}

func withDefaults(opts Options) (Options, error) {
	if opts.IP == "" {
		opts.IP = defaultIP
	}
	if net.ParseIP(opts.IP) == nil {
		return opts, fmt.Errorf("listen address %q is not an IP address", opts.IP)
	}
	if opts.FrontendPort < 0 || opts.FrontendPort > 65535 {
		return opts, fmt.Errorf("frontend port %d out of range", opts.FrontendPort)
	}
	if opts.UIPort < -1 || opts.UIPort > 65535 {
		return opts, fmt.Errorf("web UI port %d out of range (-1 disables the UI)", opts.UIPort)
	}
	if opts.Namespace == "" {
		opts.Namespace = defaultNamespace
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelWarn
	}
	if err := validateSearchAttributes(opts.SearchAttributes); err != nil {
		return opts, err
	}
	if opts.Postgres != nil {
		if opts.DatabaseFile != "" {
			return opts, fmt.Errorf("database file %s given with PostgreSQL persistence; the file is for SQLite only", opts.DatabaseFile)
		}
		pg, err := opts.Postgres.withDefaults()
		if err != nil {
			return opts, err
		}
		opts.Postgres = &pg
	}
	return opts, nil
}

// serverConfig builds the static server configuration: one cluster, one
// history shard, every service on bindIP, st for all persistence (SQL
// visibility), archival off.
func serverConfig(bindIP, dialIP string, st *store, ports map[primitives.ServiceName]int) *config.Config {
	frontend := net.JoinHostPort(dialIP, strconv.Itoa(ports[primitives.FrontendService]))
	conf := &config.Config{}
	conf.Global.Membership.BroadcastAddress = dialIP
	conf.Persistence = config.Persistence{
		DefaultStore:     st.names[0],
		VisibilityStore:  st.names[1],
		NumHistoryShards: 1,
		DataStores: map[string]config.DataStore{
			st.names[0]: {SQL: st.executions},
			st.names[1]: {SQL: st.visibility},
		},
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = make(map[string]config.Service, len(ports))
	for svc, port := range ports {
		conf.Services[string(svc)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: bindIP}}
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service's own SDK client dials this.
	conf.PublicClient.HostPort = frontend
	return conf
}

// startUI starts the Web UI server in the background.
func (s *Server) startUI(ip string, port int, namespace string, readOnly bool) error {
	host := ip
	if parsed := net.ParseIP(ip); parsed.To4() == nil {
		host = "[" + ip + "]" // ui-server joins host and port with a bare ':'
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: s.frontendAddr,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		DisableNewsFetch:    true,
		HideLogs:            true,
		DisableWriteActions: readOnly,
		// Served over plain HTTP, so its cookies cannot be Secure.
		CORS: uiconfig.CORS{CookieInsecure: true},
	}
	err := catchFatal(func() error {
		s.ui = uiserver.NewServer(uioptions.WithConfigProvider(cfg))
		return nil
	})
	if err != nil {
		return fmt.Errorf("web UI: %w", err)
	}
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		// Start blocks until Stop. If it cannot listen (the port was taken
		// after reservePorts released it) ui-server exits the process; the
		// port check in reservePorts makes that a narrow race.
		_ = s.ui.Start()
	}()
	return nil
}

// dialFrontend connects an SDK client once the frontend answers
// DescribeNamespace for namespace.
func dialFrontend(ctx context.Context, addr, namespace string) (client.Client, error) {
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	var last error
	for {
		c, err := tryDial(ctx, addr, namespace, quiet)
		if err == nil {
			return c, nil
		}
		last = err
		if sleepCtx(ctx, readyPoll) != nil {
			return nil, fmt.Errorf("frontend %s not ready: %w (last error: %w)", addr, ctx.Err(), last)
		}
	}
}

func tryDial(ctx context.Context, addr, namespace string, logger sdklog.Logger) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: namespace, Logger: logger})
	if err != nil {
		return nil, err
	}
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// waitTCP waits until addr accepts TCP connections.
func waitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		if sleepCtx(ctx, readyPoll) != nil {
			return fmt.Errorf("%s not listening: %w (last error: %w)", addr, ctx.Err(), err)
		}
	}
}

// catchFatal runs f and turns a panic, such as the one serverLogger.Fatal
// raises where the server would exit the process, into an error.
func catchFatal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// FrontendAddress returns the host:port of the gRPC frontend, for
// client.Options.HostPort.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress returns the Web UI's base URL, "http://host:port", or "" when
// the UI is disabled.
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace returns the namespace that Start created or found.
func (s *Server) Namespace() string { return s.namespace }

// Database describes where the server keeps its state, for log records and
// messages: the SQLite file, "(in memory)", or "PostgreSQL at host:port as
// user, databases temporal and temporal_visibility". It holds no password.
func (s *Server) Database() string { return s.database }

// Stop shuts down the Web UI and the server and releases the database;
// it takes about a second, the frontend's minimum drain time. Calls after
// the first return the first call's result.
//
// Some goroutines of the server outlive Stop (about a hundred: the server
// does not close its internal gRPC connections, and a few SDK worker
// goroutines of its worker service linger). That is harmless for one server
// per process but adds up when a process starts and stops many, as tests do.
// Server logs are dropped once Stop has begun, except errors until it
// returns.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if err := s.stop(); err != nil {
			s.stopErr = fmt.Errorf("stop temporal server: %w", err)
		}
	})
	return s.stopErr
}

func (s *Server) stop() error {
	s.logPhase.Store(phaseStopping)
	defer s.logPhase.Store(phaseStopped)
	var errs []error
	if s.ui != nil {
		s.ui.Stop()
		if s.uiDone != nil {
			<-s.uiDone
		}
	}
	if s.temporal != nil {
		if err := catchFatal(s.temporal.Stop); err != nil {
			errs = append(errs, err)
		}
	}
	if s.unlock != nil {
		if err := s.unlock(); err != nil {
			errs = append(errs, fmt.Errorf("release database lock: %w", err))
		}
	}
	return errors.Join(errs...)
}
