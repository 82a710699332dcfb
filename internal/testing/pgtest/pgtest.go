// Package pgtest starts a real PostgreSQL server for tests: a cluster of its
// own made with initdb in the test's temporary directory, listening on a
// free loopback TCP port (password logins, SCRAM, TLS offered) and on a Unix
// socket in that directory (no password), stopped when the test ends.
//
// It is for tests only: it never touches a system PostgreSQL (its clusters,
// configuration or service), listens on nothing but 127.0.0.1, and runs with
// fsync off, so a crash of the machine may lose its data. It needs Debian's
// PostgreSQL 15 server binaries in BinDir (the package postgresql-15, which
// `make test-deps` installs); without them the test fails with that hint
// rather than skipping, so a missing dependency is never mistaken for a
// pass.
//
// PostgreSQL refuses to run as root. Run as root (as the tests and CI are),
// the cluster's files belong to, and initdb and postgres run as, the
// "postgres" system user that Debian's postgresql-common creates; run as any
// other user, everything runs as that user.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airut-go/airut/internal/testing/testcert"
)

// BinDir is where Debian's postgresql-15 puts initdb and postgres.
const BinDir = "/usr/lib/postgresql/15/bin"

// TLSServerName is a name the server's certificate is valid for besides
// 127.0.0.1, ::1 and localhost; it resolves nowhere.
const TLSServerName = "pgtest.invalid"

const (
	host = "127.0.0.1"
	// superuser is the cluster's superuser, made by initdb.
	superuser    = "pgtest"
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	// maxSocketPath is the longest Unix socket path Linux takes (108
	// bytes with the terminating NUL).
	maxSocketPath = 107
)

// Server is a running PostgreSQL cluster. Its fields are for clients.
type Server struct {
	// Host and Port are where it listens for TCP connections: 127.0.0.1
	// and a free port.
	Host string
	Port int
	// User is a superuser and Password its password, required (SCRAM)
	// on TCP connections.
	User     string
	Password string
	// SocketDir holds the Unix socket (.s.PGSQL.<Port>); connections
	// there are trusted without a password.
	SocketDir string
	// CAFile is a PEM file that trusts the server's TLS certificate,
	// valid for 127.0.0.1, ::1, localhost and TLSServerName.
	CAFile string

	dir      string
	stopOnce sync.Once
	stopFn   func(testing.TB)
}

// Start runs a fresh PostgreSQL cluster, waits until it accepts password
// logins over TCP and registers its shutdown with t.Cleanup. It fails the
// test if PostgreSQL is not installed or does not come up. Only the
// maintenance database "postgres" (and the templates) exist.
func Start(t testing.TB) *Server {
	t.Helper()
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, bin)); err != nil {
			t.Fatalf("pgtest: %s not found (%v): install PostgreSQL 15 with `make test-deps` (scripts/install-deps.sh test installs the package postgresql-15)",
				filepath.Join(BinDir, bin), err)
		}
	}
	cred, err := runAs()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir := t.TempDir()
	s := &Server{Host: host, User: superuser, dir: dir}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		t.Fatalf("pgtest: making password: %v", err)
	}
	s.Password = hex.EncodeToString(pw)

	// As root, the postgres user must reach the directory: t.TempDir's
	// parent is made 0700.
	if cred != nil {
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatalf("pgtest: chmod %s: %v", filepath.Dir(dir), err)
		}
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatalf("pgtest: chmod %s: %v", dir, err)
		}
	}
	own := func(path string) {
		t.Helper()
		if cred == nil {
			return
		}
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgtest: chown %s to postgres: %v", path, err)
		}
	}
	mkdir := func(path string) {
		t.Helper()
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		own(path)
	}
	data := filepath.Join(dir, "data")
	mkdir(data)
	// The socket goes in the test's directory unless its path would be
	// too long for a Unix socket.
	s.SocketDir = filepath.Join(dir, "run")
	if len(s.SocketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		short, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(short) })
		s.SocketDir = filepath.Join(short, "run")
		if cred != nil {
			if err := os.Chmod(short, 0o711); err != nil {
				t.Fatalf("pgtest: %v", err)
			}
		}
	}
	mkdir(s.SocketDir)
	write := func(path string, data []byte, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		own(path)
	}

	began := time.Now()
	pwfile := filepath.Join(dir, "pwfile")
	write(pwfile, []byte(s.Password+"\n"), 0o600)
	initdb := exec.Command(filepath.Join(BinDir, "initdb"), "-D", data, "-U", superuser, "--pwfile="+pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	_ = os.Remove(pwfile)

	cert, err := testcert.New("pgtest", TLSServerName)
	if err != nil {
		t.Fatalf("pgtest: making certificate: %v", err)
	}
	write(filepath.Join(data, "server.crt"), cert.CertPEM, 0o644)
	write(filepath.Join(data, "server.key"), cert.KeyPEM, 0o600)
	s.CAFile = filepath.Join(dir, "ca.pem")
	write(s.CAFile, cert.CertPEM, 0o644)

	// A port picked here may be taken before postgres binds it; then try
	// another.
	var lastErr error
	for range 3 {
		s.Port, err = freePort()
		if err != nil {
			t.Fatalf("pgtest: finding a free port: %v", err)
		}
		lastErr = s.run(t, data, cred)
		if lastErr == nil {
			break
		}
		if !strings.Contains(s.logs(), "could not bind") && !strings.Contains(s.logs(), "could not create any TCP/IP sockets") {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("pgtest: postgres did not come up: %v\n%s", lastErr, s.logs())
	}
	t.Logf("pgtest: PostgreSQL ready in %v on %s:%d (socket %s)", time.Since(began).Round(time.Millisecond), s.Host, s.Port, s.SocketDir)
	return s
}

// run starts postgres on s.Port and waits until it takes logins; on
// failure it has stopped it again.
func (s *Server) run(t testing.TB, data string, cred *syscall.Credential) error {
	log, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(BinDir, "postgres"), "-D", data,
		"-p", strconv.Itoa(s.Port), "-k", s.SocketDir,
		"-c", "listen_addresses="+host,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key",
		"-c", "max_connections=300",
		"-c", "logging_collector=off", "-c", "log_destination=stderr")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so it can be killed whole; and an immediate
	// shutdown if the test binary dies without running its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); log.Close() }()
	stop := func(t testing.TB) { s.stop(t, cmd, exited) }
	if err := s.waitReady(exited); err != nil {
		stop(t)
		return err
	}
	s.stopFn = stop
	t.Cleanup(func() { s.Stop(t) })
	return nil
}

// Stop shuts the server down at once (an immediate shutdown: no
// checkpoint, open connections drop). It is also run by t.Cleanup; calling
// it again does nothing.
func (s *Server) Stop(t testing.TB) {
	s.stopOnce.Do(func() { s.stopFn(t) })
}

// ConnString returns a keyword/value connection string for database over
// TCP with the password, TLS off.
func (s *Server) ConnString(database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=5",
		s.Host, s.Port, quote(s.User), quote(s.Password), quote(database))
}

// Connect opens a connection to database as the superuser, closed when
// the test ends.
func (s *Server) Connect(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.ConnString(database))
	if err != nil {
		t.Fatalf("pgtest: connecting to database %s: %v", database, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// Databases returns the names of the databases other than the templates,
// sorted.
func (s *Server) Databases(t testing.TB) []string {
	t.Helper()
	c := s.Connect(t, "postgres")
	rows, err := c.Query(t.Context(), "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname")
	if err != nil {
		t.Fatalf("pgtest: listing databases: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("pgtest: listing databases: %v", err)
	}
	return names
}

// Logs returns the tail of the server's log.
func (s *Server) Logs() string { return s.logs() }

func (s *Server) logs() string {
	data, err := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return fmt.Sprintf("(no postgres log: %v)", err)
	}
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return "--- postgres.log ---\n" + string(data)
}

// waitReady waits until a password login over TCP works.
func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.ConnString("postgres"))
		if err == nil {
			err = c.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no login on %s:%d within %v: %w", s.Host, s.Port, startTimeout, last)
}

// stop asks for an immediate shutdown (SIGQUIT: the postmaster ends its
// backends and exits without a checkpoint), then kills the process group
// if that takes too long.
func (s *Server) stop(t testing.TB, cmd *exec.Cmd, exited <-chan error) {
	pgid := cmd.Process.Pid
	if err := syscall.Kill(pgid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Logf("pgtest: signalling postgres (pid %d): %v", pgid, err)
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		t.Logf("pgtest: postgres (pid %d) still running %v after SIGQUIT; killing it", pgid, stopTimeout)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	if t.Failed() {
		t.Logf("pgtest: log of the failed test's PostgreSQL:\n%s", s.logs())
	}
}

// runAs returns the credentials to run initdb and postgres with: the
// postgres system user's when running as root, nil (the current user)
// otherwise.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the system user postgres, made by Debian's postgresql-common (`make test-deps` installs it): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: false}, nil
}

// freePort returns a TCP port on host that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quote quotes a connection string value.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
