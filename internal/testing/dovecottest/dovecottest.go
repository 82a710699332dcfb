// Package dovecottest starts a real Dovecot IMAP server for tests: its own
// instance with its own configuration, certificate, users and Maildir
// storage in a temporary directory, listening on free loopback ports (one
// implicit-TLS port and one plain port that offers STARTTLS), stopped when
// the test ends.
//
// It is for tests only. It must not touch a system Dovecot (its
// configuration, its service or its mail), must not listen on anything but
// 127.0.0.1, and must not be imported by non-test code. It needs the Debian
// package dovecot-imapd (/usr/sbin/dovecot); without it a test fails with an
// install hint rather than skipping, so a missing dependency is never
// mistaken for a pass.
//
// Running as root, Dovecot refuses to run login processes or to access mail
// as root, so the instance then uses the users the Debian package creates:
// "dovenull" for login processes and "dovecot" for internal services and
// mail. Run as any other user, everything runs as that user.
package dovecottest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/airut-go/airut/internal/testing/testcert"
)

// Binary is where Debian's dovecot-core puts the server.
const Binary = "/usr/sbin/dovecot"

const (
	host         = "127.0.0.1"
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	opTimeout    = 20 * time.Second
)

// Server is a running Dovecot instance. Its methods may be called from
// several goroutines.
type Server struct {
	dir       string
	tlsPort   int
	plainPort int
	pool      *x509.CertPool
	users     map[string]string
	// introspect is the oauth2 passdb's token introspection URL ("" for
	// passwords only).
	introspect string
	startTime  time.Duration
	stopOnce   sync.Once
	stopFn     func(testing.TB)
}

// Start runs a Dovecot instance with the given users (name → plain
// password) and registers its shutdown with t.Cleanup. It fails the test
// if Dovecot is not installed or does not come up.
func Start(t testing.TB, users map[string]string) *Server {
	t.Helper()
	return start(t, users, "")
}

// StartWithOAuth2 is Start, plus XOAUTH2 and OAUTHBEARER logins through
// Dovecot's oauth2 passdb: it posts each token to introspectionURL (form
// field "token") and takes {"active": true, "username": "<user>"} as a
// valid token for that user, {"active": false} as a refused one.
func StartWithOAuth2(t testing.TB, users map[string]string, introspectionURL string) *Server {
	t.Helper()
	return start(t, users, introspectionURL)
}

func start(t testing.TB, users map[string]string, introspect string) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("dovecottest: %s not found (%v): install Dovecot with `apt-get install dovecot-imapd` (scripts/install-deps.sh test does)", Binary, err)
	}
	s := &Server{users: make(map[string]string, len(users)), introspect: introspect}
	for u, p := range users {
		if u == "" || strings.ContainsAny(u, ":\r\n \t") || strings.ContainsAny(p, ":\r\n") {
			t.Fatalf("dovecottest: user %q or its password holds a character a passwd-file cannot (':', space or newline)", u)
		}
		s.users[u] = p
	}

	// Not t.TempDir: Unix socket paths under base_dir must stay under 108
	// bytes, and the mail user must be able to traverse to its Maildir.
	dir, err := os.MkdirTemp("", "dovecottest-")
	if err != nil {
		t.Fatalf("dovecottest: making temp dir: %v", err)
	}
	s.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("dovecottest: chmod temp dir: %v", err)
	}

	ids, err := runAs()
	if err != nil {
		t.Fatalf("dovecottest: choosing users to run as: %v", err)
	}
	cert, err := testcert.New("dovecottest")
	if err != nil {
		t.Fatalf("dovecottest: making certificate: %v", err)
	}
	s.pool = cert.Pool
	s.tlsPort, s.plainPort, err = freePorts()
	if err != nil {
		t.Fatalf("dovecottest: finding free ports: %v", err)
	}

	var passwd strings.Builder
	for u, p := range s.users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", u, p)
	}
	mailDir := filepath.Join(dir, "mail")
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"cert.pem", cert.CertPEM, 0o644},
		{"key.pem", cert.KeyPEM, 0o600},
		{"passwd", []byte(passwd.String()), 0o644},
		{"dovecot.conf", []byte(s.config(ids)), 0o644},
		{"oauth2.conf.ext", []byte("introspection_mode = post\nintrospection_url = " + s.introspect +
			"\nusername_attribute = username\nactive_attribute = active\nactive_value = true\ntimeout_msecs = 5000\n"), 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			t.Fatalf("dovecottest: writing %s: %v", f.name, err)
		}
	}
	if err := os.Mkdir(mailDir, 0o755); err != nil {
		t.Fatalf("dovecottest: making mail dir: %v", err)
	}
	if ids.root {
		if err := os.Chown(mailDir, ids.mailUID, ids.mailGID); err != nil {
			t.Fatalf("dovecottest: chown mail dir to %s: %v", ids.mail, err)
		}
	}

	start := time.Now()
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatalf("dovecottest: creating stderr log: %v", err)
	}
	cmd := exec.Command(Binary, "-F", "-c", filepath.Join(dir, "dovecot.conf"))
	cmd.Dir = dir
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	// Own process group, so the instance can be killed whole; and killed
	// if the test binary dies without running its cleanups (its children
	// then exit on their own when they lose the master).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		stderr.Close()
		t.Fatalf("dovecottest: starting %s: %v", Binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); stderr.Close() }()
	s.stopFn = func(t testing.TB) { s.stop(t, cmd, exited) }
	t.Cleanup(func() { s.Stop(t) })

	if err := s.waitReady(exited); err != nil {
		t.Fatalf("dovecottest: dovecot did not come up: %v\n%s", err, s.logs())
	}
	s.startTime = time.Since(start)
	t.Logf("dovecottest: dovecot ready in %v (imaps %s:%d, imap %s:%d, dir %s)", s.startTime.Round(time.Millisecond), host, s.tlsPort, host, s.plainPort, dir)
	return s
}

// Stop kills the instance now, as a crash or network loss would: open
// connections drop without a BYE. It is also run by t.Cleanup; calling it
// again does nothing.
func (s *Server) Stop(t testing.TB) {
	s.stopOnce.Do(func() { s.stopFn(t) })
}

// Addr returns where the server listens: implicit TLS on tlsPort, plain
// IMAP with STARTTLS on plainPort.
func (s *Server) Addr() (host string, tlsPort, plainPort int) {
	return "127.0.0.1", s.tlsPort, s.plainPort
}

// CACert returns a pool holding the server's self-signed certificate.
func (s *Server) CACert() *x509.CertPool { return s.pool }

// TLSConfig returns a client TLS configuration that trusts the server's
// certificate, which is valid for 127.0.0.1, ::1 and localhost.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: host, MinVersion: tls.VersionTLS12}
}

// StartTime is how long Start waited for Dovecot to accept connections.
func (s *Server) StartTime() time.Duration { return s.startTime }

// Dir is the instance's directory (configuration, logs, Maildirs).
func (s *Server) Dir() string { return s.dir }

// Deliver appends raw to user's INBOX over IMAP, so that connections
// IDLEing on that INBOX are notified as with real delivery. Dovecot stores
// messages with LF line endings and serves them with CRLF, so raw should
// use CRLF to be fetched back byte for byte.
func (s *Server) Deliver(t testing.TB, user string, raw []byte) {
	t.Helper()
	if err := s.withInbox(user, false, func(c *imapclient.Client) error {
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			return fmt.Errorf("writing message: %w", err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("ending append: %w", err)
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("append: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatalf("dovecottest: delivering to %s: %v\n%s", user, err, s.logs())
	}
}

// Count returns how many messages in user's INBOX are not flagged
// \Deleted.
func (s *Server) Count(t testing.TB, user string) int {
	t.Helper()
	n := 0
	if err := s.withInbox(user, true, func(c *imapclient.Client) error {
		data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		n = len(data.AllUIDs())
		return nil
	}); err != nil {
		t.Fatalf("dovecottest: counting %s's messages: %v\n%s", user, err, s.logs())
	}
	return n
}

// Flags returns the flags of every message in user's INBOX by UID.
func (s *Server) Flags(t testing.TB, user string) map[uint32][]string {
	t.Helper()
	out := map[uint32][]string{}
	if err := s.withInbox(user, true, func(c *imapclient.Client) error {
		data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		uids := data.AllUIDs()
		if len(uids) == 0 {
			return nil
		}
		msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			return fmt.Errorf("fetch flags: %w", err)
		}
		for _, m := range msgs {
			flags := []string{}
			for _, f := range m.Flags {
				flags = append(flags, string(f))
			}
			out[uint32(m.UID)] = flags
		}
		return nil
	}); err != nil {
		t.Fatalf("dovecottest: reading %s's flags: %v\n%s", user, err, s.logs())
	}
	return out
}

// withInbox logs in as user over the plain port, selects INBOX (read-only
// if examine) and runs f, all bounded by opTimeout.
func (s *Server) withInbox(user string, examine bool, f func(*imapclient.Client) error) error {
	pass, ok := s.users[user]
	if !ok {
		return fmt.Errorf("no such user %q", user)
	}
	c, err := imapclient.DialInsecure(net.JoinHostPort(host, strconv.Itoa(s.plainPort)), nil)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	// imapclient has no deadline for a silent server; close it after
	// opTimeout so every pending command fails instead of hanging.
	watchdog := time.AfterFunc(opTimeout, func() { c.Close() })
	defer watchdog.Stop()
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: examine}).Wait(); err != nil {
		return fmt.Errorf("select INBOX: %w", err)
	}
	if err := f(c); err != nil {
		return err
	}
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// waitReady waits until the plain port sends an IMAP greeting.
func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	addr := net.JoinHostPort(host, strconv.Itoa(s.plainPort))
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("dovecot exited: %v", err)
		default:
		}
		last = greeting(addr)
		if last == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no greeting on %s within %v: %w", addr, startTimeout, last)
}

func greeting(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading greeting: %w", err)
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	_, _ = conn.Write([]byte("x LOGOUT\r\n"))
	return nil
}

// stop kills the instance's process group. Dovecot's own shutdown
// (SIGTERM) takes one to two seconds, spent waiting for its children; a
// test instance has nothing worth a graceful stop, so SIGKILL it all.
func (s *Server) stop(t testing.TB, cmd *exec.Cmd, exited <-chan error) {
	pgid := cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Logf("dovecottest: killing dovecot's process group %d: %v", pgid, err)
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		t.Logf("dovecottest: dovecot (pid %d) still running %v after SIGKILL", pgid, stopTimeout)
	}
	if t.Failed() {
		t.Logf("dovecottest: logs of the failed test's dovecot:\n%s", s.logs())
	}
}

// logs returns the tail of Dovecot's log and its stderr.
func (s *Server) logs() string {
	var b strings.Builder
	for _, name := range []string{"stderr.log", "dovecot.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		if len(data) > 8000 {
			data = data[len(data)-8000:]
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", name, data)
	}
	return b.String()
}

// ids says which users the instance's processes run as.
type ids struct {
	root             bool
	login, internal  string
	mail             string
	mailUID, mailGID int
	mailGroup        string
}

// runAs chooses the users: as root, Debian's dovenull and dovecot (Dovecot
// refuses root for login processes and for mail access); otherwise the
// current user for everything.
func runAs() (ids, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return ids{}, fmt.Errorf("looking up current user: %w", err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return ids{}, fmt.Errorf("looking up current group: %w", err)
		}
		return ids{login: u.Username, internal: u.Username, mail: u.Username, mailGroup: g.Name}, nil
	}
	for _, name := range []string{"dovenull", "dovecot"} {
		if _, err := user.Lookup(name); err != nil {
			return ids{}, fmt.Errorf("user %q (created by Debian's dovecot-core) is missing: %w", name, err)
		}
	}
	u, _ := user.Lookup("dovecot")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return ids{}, fmt.Errorf("looking up dovecot's group: %w", err)
	}
	return ids{root: true, login: "dovenull", internal: "dovecot", mail: "dovecot", mailUID: uid, mailGID: gid, mailGroup: g.Name}, nil
}

func (s *Server) config(id ids) string {
	d := s.dir
	oauthMechs, oauthPassdb := "", ""
	if s.introspect != "" {
		oauthMechs = " xoauth2 oauthbearer"
		oauthPassdb = "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = " + d + "/oauth2.conf.ext\n}"
	}
	return fmt.Sprintf(`# dovecottest instance; see internal/dovecottest.
instance_name = %[1]s
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login%[8]s
auth_failure_delay = 0

default_login_user = %[2]s
default_internal_user = %[3]s
default_internal_group = %[6]s
mail_uid = %[4]s
mail_gid = %[6]s
first_valid_uid = 1
first_valid_gid = 1

mail_location = maildir:%[1]s/mail/%%u
mail_fsync = never
mailbox_idle_check_interval = 1 secs

passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
%[9]s
userdb {
  driver = static
  args = home=%[1]s/mail/%%u
}

service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[7]d
    ssl = yes
  }
}
service anvil {
  chroot =
  # No growing delay after failed logins (Dovecot's auth penalty).
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service ipc {
  chroot =
}
`, d, id.login, id.internal, id.mail, s.plainPort, id.mailGroup, s.tlsPort, oauthMechs, oauthPassdb)
}

// freePorts returns two distinct loopback ports that were free a moment
// ago. Another process could take one before Dovecot binds it; Start then
// fails with Dovecot's bind error in the log.
func freePorts() (int, int, error) {
	var ports [2]int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", host+":0")
		if err != nil {
			return 0, 0, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}
