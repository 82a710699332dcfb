package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/airut-go/airut/internal/config"
)

// serviceRoles are the roles install-service writes a unit for: the
// commands of main.go that run until they are stopped. run is everything
// in one process; the others split it across processes or hosts.
var serviceRoles = []string{"run", "server", "worker", "ingest", "dashboard"}

// systemUnitDir is where an administrator's units for the system manager
// go (the package manager's live in /usr/lib/systemd/system).
const systemUnitDir = "/etc/systemd/system"

// How long systemd waits after SIGTERM before it sends SIGKILL.
//
// The worker drains on SIGTERM: main cancels the context, and the run
// worker's WorkerStopTimeout (execution.shutdown_timeout, 60 s by default)
// lets running agents finish before they are cancelled and their
// containers killed. A SIGKILL before that cuts the drain short, so the
// roles with a worker get a long timeout, which also leaves time for the
// embedded Temporal server and podman to stop afterwards. It is a
// constant, not the config's value, so that the units in deploy/systemd
// are the rendered ones; install-service warns when the config's
// shutdown_timeout does not fit. The other roles stop in about a second.
const (
	drainStopTimeout = 15 * time.Minute
	quickStopTimeout = 30 * time.Second
	// drainMargin is what a draining worker needs on top of
	// shutdown_timeout: cancelled activities report back, the server and
	// podman stop.
	drainMargin = time.Minute
)

// serviceUnitName is the unit of a role: airut.service for run (the
// common case keeps the plain name), airut-ROLE.service for the others.
func serviceUnitName(role string) string {
	if role == "run" {
		return "airut.service"
	}
	return "airut-" + role + ".service"
}

func checkRole(role string) error {
	if !slices.Contains(serviceRoles, role) {
		return fmt.Errorf("--role %q: not a role of airut; choose one of %s", role, strings.Join(serviceRoles, ", "))
	}
	return nil
}

// serviceUnit is one unit file: which role, run by which binary with
// which config, for which systemd manager.
type serviceUnit struct {
	Role string
	// Binary and Config are absolute paths.
	Binary string
	Config string
	// System is a unit of the system manager, run as root; otherwise of
	// the user's own manager (systemctl --user), run as that user.
	System bool
}

func (u serviceUnit) Name() string { return serviceUnitName(u.Role) }

// hasWorker reports whether the role runs a worker, which runs agents in
// podman and drains on SIGTERM.
func (u serviceUnit) hasWorker() bool { return u.Role == "run" || u.Role == "worker" }

// unitTemplate is the one source of every unit: install-service renders
// it, and the files of deploy/systemd are it rendered for
// /usr/local/bin/airut and /etc/airut/airut.yaml (a test keeps them
// equal). Its comments are for the person who reads the installed file.
var unitTemplate = template.Must(template.New("unit").Parse(`# {{.Name}}: Airut's {{.Role}} role ({{.Command}}), a {{if .System}}system unit run as root{{else}}user unit{{end}}.
# Written by ` + "`airut install-service`" + `; deploy/systemd/ in the Airut
# repository holds the same units for installing by hand (docs/operations.md,
# "Running as a service"). Secrets belong in the .env file next to the
# config, not here: unit files are readable by every user.

[Unit]
Description=Airut: Claude Code for email and Slack ({{.Command}})
{{- if .System}}
# Started once the network is up: airut binds its ports and reaches Temporal,
# mail servers and Slack as it starts.
Wants=network-online.target
After=network-online.target
{{- else}}
# No network-online.target: a user manager has none and cannot be ordered
# against the system's; Restart= below covers a network that is not up yet.
{{- end}}
{{- if .Worker}}
{{- if .System}}
# Rootful podman: the system manager's podman.socket listens on
# /run/podman/podman.sock, the socket airut uses when it runs as root.
{{- else}}
# Rootless podman: this manager's podman.socket listens on
# $XDG_RUNTIME_DIR/podman/podman.sock, the socket airut uses as this user.
{{- end}}
# Ordered after it, not requiring it: when the socket is enabled, airut finds
# it listening instead of racing it for the path; when it is not, airut
# starts a podman service of its own.
After=podman.socket
{{- end}}
{{- if .AfterServer}}
# With ` + "`airut server`" + ` on this host, start after it and stop before it,
# so Temporal is there while this one starts and stops. No effect otherwise.
After=airut-server.service
{{- end}}

[Service]
Type=exec
ExecStart={{.ExecStart}}
# systemctl reload: airut reloads its config file (it also follows edits
# by itself); what cannot change live is logged as needing a restart.
ExecReload=/bin/kill -HUP $MAINPID
{{- if .System}}
# A system service has no HOME: root's lets airut find its default state dir
# (~/.local/state/airut) and git its credentials where a root shell does.
Environment=HOME=/root
{{- end}}
Restart=always
RestartSec=10
KillSignal=SIGTERM
{{- if .Worker}}
# The worker drains on SIGTERM: running agents get execution.shutdown_timeout
# to finish, hence the long stop timeout. Only airut gets the signal
# (KillMode=mixed): the podman service it started, and containers podman
# keeps in this cgroup, must keep running while it drains; whatever is left
# is killed once it has exited.
KillMode=mixed
{{- end}}
TimeoutStopSec={{.TimeoutStopSec}}

[Install]
WantedBy={{.WantedBy}}
`))

// Render is the unit file's text. It fails on paths systemd cannot run.
func (u serviceUnit) Render() ([]byte, error) {
	if err := checkRole(u.Role); err != nil {
		return nil, err
	}
	exe, err := systemdExecutable(u.Binary)
	if err != nil {
		return nil, err
	}
	cfg, err := systemdArg(u.Config)
	if err != nil {
		return nil, fmt.Errorf("config path: %w", err)
	}
	stop, wantedBy := quickStopTimeout, "default.target"
	if u.hasWorker() {
		stop = drainStopTimeout
	}
	// default.target is what a user manager starts; multi-user.target is
	// the system's at boot, whether or not a desktop comes up after it.
	if u.System {
		wantedBy = "multi-user.target"
	}
	data := struct {
		Name, Role, Command, ExecStart, TimeoutStopSec, WantedBy string
		System, Worker, AfterServer                              bool
	}{
		Name: u.Name(), Role: u.Role, Command: "airut " + u.Role,
		ExecStart:      exe + " " + u.Role + " --config " + cfg,
		TimeoutStopSec: systemdDuration(stop),
		WantedBy:       wantedBy,
		System:         u.System,
		Worker:         u.hasWorker(),
		// run and server have their own server (or a remote one).
		AfterServer: u.Role != "run" && u.Role != "server",
	}
	var b bytes.Buffer
	if err := unitTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", u.Name(), err)
	}
	return b.Bytes(), nil
}

// systemdDuration writes d as systemd's time spans read it ("15min",
// "30s").
func systemdDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dmin", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// systemdExecutable is path as the first word of ExecStart=.
//
// systemd refuses an executable whose path holds a quote, a backslash or
// a control character, quoted or escaped or not ("Executable name
// contains special characters", a fatal error of the unit), so those are
// refused here, where the message can say what to do. What remains only
// needs double quotes around whitespace and % doubled: specifiers (%h,
// %n...) are expanded in the executable's path. $ is left alone: variables
// are substituted in the arguments only, so $$ would stay $$ in the path.
func systemdExecutable(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("the airut binary's path %q is not absolute", path)
	}
	if !utf8.ValidString(path) || hasControl(path) || strings.ContainsAny(path, `"'\`) {
		return "", fmt.Errorf("the airut binary's path %q holds a quote, a backslash, a control character or bytes that are not UTF-8, which systemd refuses in ExecStart=; "+
			"move the binary (e.g. to /usr/local/bin/airut) and run install-service from there", path)
	}
	w := strings.ReplaceAll(path, "%", "%%")
	if needsQuotes(w) {
		w = `"` + w + `"`
	}
	return w, nil
}

// systemdArg is s as one argument of ExecStart=. systemd splits the line
// at whitespace and unquotes like a shell but with C escapes: a word with
// whitespace, quotes or a backslash is double-quoted, with backslash and
// double quote escaped inside. % (specifiers) and $ (environment
// variables) are expanded inside quotes too, so they are doubled in any
// case. A control character cannot be written safely (a newline would
// end the line and start another directive), nor can bytes that are not
// UTF-8 (systemd skips such lines), so those are refused.
func systemdArg(s string) (string, error) {
	if !utf8.ValidString(s) || hasControl(s) {
		return "", fmt.Errorf("%q holds a control character or bytes that are not UTF-8, which a unit file cannot carry", s)
	}
	w := strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if !needsQuotes(w) {
		return w, nil
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`, nil
}

// needsQuotes reports whether a word would not survive systemd's
// splitting bare: empty, whitespace, quotes, escapes, or a lone ";" (the
// command separator).
func needsQuotes(w string) bool {
	return w == "" || strings.ContainsAny(w, " \t\"'\\") || w == ";"
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// execFunc runs a program and returns what it printed, stdout and stderr
// together; the error carries the first line of it.
type execFunc func(ctx context.Context, name string, args ...string) (string, error)

// runProgram runs systemctl and loginctl for real. The timeout bounds a
// manager that does not answer; starting a unit of Type=exec returns as
// soon as the binary runs.
func runProgram(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	out := strings.TrimSpace(string(b))
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, exec.ErrNotFound):
		return out, fmt.Errorf("%s is not installed (not on PATH)", name)
	case out != "":
		first, _, _ := strings.Cut(out, "\n")
		return out, fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), first)
	default:
		return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
}

// manager is the systemd instance a unit belongs to: the system's, or the
// user's own (systemctl --user).
type manager struct {
	system bool
	exec   execFunc
}

func (m manager) args(args ...string) []string {
	if m.system {
		return args
	}
	return append([]string{"--user"}, args...)
}

// command is the systemctl command line to show a person.
func (m manager) command(args ...string) string {
	return strings.Join(append([]string{"systemctl"}, m.args(args...)...), " ")
}

func (m manager) systemctl(ctx context.Context, args ...string) (string, error) {
	return m.exec(ctx, "systemctl", m.args(args...)...)
}

func (m manager) journal(unit string) string {
	if m.system {
		return "journalctl -u " + unit + " -f"
	}
	return "journalctl --user -u " + unit + " -f"
}

// serviceScope decides between a system and a user unit: the flag, else
// a system unit for root (root's own user manager runs only while root is
// logged in) and a user unit for anyone else (who cannot write the
// system's units).
func serviceScope(user, system bool, euid int) (bool, error) {
	switch {
	case user && system:
		return false, errors.New("--user and --system together: choose one (--user: a unit of your own systemd user manager; --system: a unit of the system manager, run as root)")
	case user:
		return false, nil
	case system:
		return true, nil
	}
	return euid == 0, nil
}

// userUnitDir is where a user's manager reads the units its user writes:
// $XDG_CONFIG_HOME/systemd/user, by default ~/.config/systemd/user.
func userUnitDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user unit directory: %w (set HOME, or pass --unit-dir)", err)
	}
	return filepath.Join(d, "systemd", "user"), nil
}

func unitDir(flag string, system bool) (string, error) {
	switch {
	case flag != "":
		return filepath.Abs(flag)
	case system:
		return systemUnitDir, nil
	}
	return userUnitDir()
}

// serviceFlags are the flags install-service and uninstall-service share.
type serviceFlags struct {
	Role         string
	User, System bool
	UnitDir      string
}

func (f *serviceFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Role, "role", "run", "what the service runs: "+strings.Join(serviceRoles, ", "))
	cmd.Flags().BoolVar(&f.User, "user", false, "a unit of your own systemd user manager, in ~/.config/systemd/user (default unless root)")
	cmd.Flags().BoolVar(&f.System, "system", false, "a unit of the system manager, run as root, in "+systemUnitDir+" (default for root)")
	cmd.Flags().StringVar(&f.UnitDir, "unit-dir", "", "the directory of the unit file, instead of the manager's")
}

// resolve checks the flags and returns the unit's manager scope and
// directory.
func (f serviceFlags) resolve(euid int) (system bool, dir string, err error) {
	if err := checkRole(f.Role); err != nil {
		return false, "", withCode(exitUsage, err)
	}
	system, err = serviceScope(f.User, f.System, euid)
	if err != nil {
		return false, "", withCode(exitUsage, err)
	}
	dir, err = unitDir(f.UnitDir, system)
	if err != nil {
		return false, "", withCode(exitUsage, err)
	}
	return system, dir, nil
}

// installServiceOptions are the inputs of `airut install-service`.
type installServiceOptions struct {
	IO ioStreams
	serviceFlags
	NoEnable bool
	// ConfigPath is the config the service runs with: --config,
	// $AIRUT_CONFIG or the default, as for every command.
	ConfigPath string
	// Executable is this binary's path (os.Executable).
	Executable func() (string, error)
	Exec       execFunc
	Euid       int
}

func newInstallServiceCmd(a *app) *cobra.Command {
	opts := installServiceOptions{
		IO:         ioStreams{In: a.stdin, Out: a.stdout, ErrOut: a.stderr},
		Executable: os.Executable,
		Exec:       runProgram,
	}
	cmd := &cobra.Command{
		Use:   "install-service [--role ROLE] [--user|--system] [--unit-dir DIR] [--no-enable]",
		Short: "Run Airut as a systemd service: started at boot (or login) and restarted when it stops",
		Long: `Install-service writes a systemd unit that runs this airut binary with
this command's config (--config, $AIRUT_CONFIG or the default, made
absolute), then reloads systemd and enables and starts the unit.

The unit is airut.service for --role run (everything in one process), else
airut-ROLE.service: server, worker, ingest or dashboard, for split setups.
Run as root it is a system unit in /etc/systemd/system, started at boot;
otherwise a unit of your user's manager in ~/.config/systemd/user, which
runs from boot to shutdown only if lingering is on for you (loginctl
enable-linger), else from your first login to your last logout.

It restarts 10 s after it stops for any reason; on systemctl stop the
worker drains first (execution.shutdown_timeout). Secrets stay in the .env
file next to the config. Where systemd does not run (a container), the unit
is written and the commands to enable it are printed. Run it again after
moving the binary or the config; deploy/systemd in the repository has the
same units for installing by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ConfigPath = a.configPath()
			opts.Euid = os.Geteuid()
			return runInstallService(cmd.Context(), opts)
		},
	}
	opts.serviceFlags.register(cmd)
	cmd.Flags().BoolVar(&opts.NoEnable, "no-enable", false, "write the unit only; do not run systemctl")
	return cmd
}

func runInstallService(ctx context.Context, opts installServiceOptions) error {
	system, dir, err := opts.resolve(opts.Euid)
	if err != nil {
		return err
	}
	bin, err := opts.Executable()
	if err != nil {
		return withCode(exitRuntime, fmt.Errorf("find this binary's path for ExecStart=: %w", err))
	}
	// The unit must name the file itself: a relative path or a link
	// could point elsewhere by the time systemd starts it.
	if resolved, err := filepath.EvalSymlinks(bin); err == nil {
		bin = resolved
	}
	cfgPath, err := filepath.Abs(opts.ConfigPath)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("make the config path %q absolute: %w", opts.ConfigPath, err))
	}
	u := serviceUnit{Role: opts.Role, Binary: bin, Config: cfgPath, System: system}
	text, err := u.Render()
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("write no unit: %w", err))
	}
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	path := filepath.Join(dir, u.Name())
	what, err := writeUnitFile(path, text)
	if err != nil {
		hint := ""
		if errors.Is(err, fs.ErrPermission) && system {
			hint = "\nrun it as root (sudo), or install a unit of your own user with --user"
		}
		return withCode(exitRuntime, fmt.Errorf("write the unit file: %w%s", err, hint))
	}
	fmt.Fprintf(out, "%s %s: airut %s --config %s\n", what, path, u.Role, cfgPath)
	installNotes(errOut, u)

	m := manager{system: system, exec: opts.Exec}
	enable := []string{m.command("daemon-reload"), m.command("enable", "--now", u.Name())}
	if opts.NoEnable {
		fmt.Fprintf(out, "not enabled (--no-enable); to start it now and at every %s, run:\n  %s\n", startsAt(system), strings.Join(enable, "\n  "))
	} else if err := enableUnit(ctx, m, u.Name()); err != nil {
		// Not a failure of the command: the unit is written, and is
		// enabled by the same two commands once systemd runs (in a
		// container there is none as PID 1).
		fmt.Fprintf(errOut, "could not enable it: %v\nthe unit is written; where systemd runs, enable and start it with:\n  %s\n", err, strings.Join(enable, "\n  "))
	} else {
		fmt.Fprintf(out, "enabled and started %s; follow its log with `%s`\n", u.Name(), m.journal(u.Name()))
		if what == "replaced" {
			fmt.Fprintf(out, "if it was already running, it still runs as before: apply the new unit with `%s` (the worker drains first)\n", m.command("restart", u.Name()))
		}
	}
	if !system {
		lingerNote(ctx, errOut, opts.Exec, u.Name())
	}
	return nil
}

// enableUnit reloads the manager, so it reads the new file, and enables
// and starts the unit.
func enableUnit(ctx context.Context, m manager, unit string) error {
	if _, err := m.systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	_, err := m.systemctl(ctx, "enable", "--now", unit)
	return err
}

func startsAt(system bool) string {
	if system {
		return "boot"
	}
	return "login (or boot, with lingering)"
}

// writeUnitFile writes the unit through a temporary file and a rename, so
// that systemd never reads half a unit, and says what it did: "wrote",
// "replaced" or "unchanged".
func writeUnitFile(path string, text []byte) (string, error) {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, text):
		return "unchanged", nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	what := "wrote"
	if err == nil {
		what = "replaced"
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(text); err != nil {
		f.Close()
		return "", err
	}
	// Units are public: systemctl reads them as any user.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", err
	}
	return what, nil
}

// installNotes says what would keep the service from running as the
// command did when typed: a binary that goes away, a config that does
// not load, a drain longer than systemd waits, a ./.env it does not read.
func installNotes(w io.Writer, u serviceUnit) {
	if strings.Contains(u.Binary, string(filepath.Separator)+"go-build") {
		fmt.Fprintf(w, "note: %s is a temporary build (go run or go test) and the unit fails once it is gone; build airut (make build) and run install-service from that binary\n", u.Binary)
	}
	if _, err := os.Stat(u.Config); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "note: %s does not exist yet, so the service runs with the defaults (no repos) until it does; write one with `airut init --config %s`\n", u.Config, u.Config)
	} else if cfg, err := config.Load(u.Config); err != nil {
		fmt.Fprintf(w, "note: %s does not load, so the service fails and restarts every 10 s until it does; see `airut check --config %s`\n", u.Config, u.Config)
	} else if drain := time.Duration(cfg.Execution.ShutdownTimeout) * time.Second; u.hasWorker() && drain+drainMargin > drainStopTimeout {
		fmt.Fprintf(w, "note: execution.shutdown_timeout is %s, but systemd kills the service %s after asking it to stop, which would kill running agents mid-drain; "+
			"lower shutdown_timeout, or raise TimeoutStopSec in a drop-in (systemctl edit %s)\n", drain, drainStopTimeout, u.Name())
	}
	// config.Load also reads ./.env. The service's working directory is
	// / (system) or the home directory (user), so a .env that only the
	// working directory provides is not read by it.
	serviceWD := "/"
	if !u.System {
		serviceWD, _ = os.UserHomeDir()
	}
	wd, err := os.Getwd()
	if err != nil || wd == filepath.Dir(u.Config) || wd == serviceWD {
		return
	}
	if _, err := os.Stat(".env"); err == nil {
		fmt.Fprintf(w, "note: the service does not read %s (its working directory is not this one); move its variables to %s\n",
			filepath.Join(wd, ".env"), filepath.Join(filepath.Dir(u.Config), ".env"))
	}
}

// lingerDir is where logind keeps the users that linger, one empty file
// each; read when loginctl cannot answer (no logind, as in a container).
const lingerDir = "/var/lib/systemd/linger"

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// lingers reports whether the user's manager runs from boot to shutdown
// rather than from their first login to their last logout.
func lingers(ctx context.Context, run execFunc, username string) bool {
	// loginctl fails for a user who neither lingers nor is logged in;
	// the file then says no too.
	if out, err := run(ctx, "loginctl", "show-user", username, "-p", "Linger"); err == nil {
		if v, ok := strings.CutPrefix(strings.TrimSpace(out), "Linger="); ok {
			return v == "yes"
		}
	}
	_, err := os.Stat(filepath.Join(lingerDir, username))
	return err == nil
}

func lingerNote(ctx context.Context, w io.Writer, run execFunc, unit string) {
	name := currentUser()
	if name == "" || lingers(ctx, run, name) {
		return
	}
	fmt.Fprintf(w, "note: lingering is off for %s, so %s runs only while %s is logged in: it stops at the last logout and starts again at the next login; "+
		"to start it at boot and keep it running, run `sudo loginctl enable-linger %s`\n", name, unit, name, name)
}

// uninstallServiceOptions are the inputs of `airut uninstall-service`.
type uninstallServiceOptions struct {
	IO ioStreams
	serviceFlags
	Exec execFunc
	Euid int
}

func newUninstallServiceCmd(a *app) *cobra.Command {
	opts := uninstallServiceOptions{
		IO:   ioStreams{In: a.stdin, Out: a.stdout, ErrOut: a.stderr},
		Exec: runProgram,
	}
	cmd := &cobra.Command{
		Use:   "uninstall-service [--role ROLE] [--user|--system] [--unit-dir DIR]",
		Short: "Stop, disable and remove the systemd unit install-service wrote",
		Long: `Uninstall-service stops and disables the role's unit (airut.service for
--role run, else airut-ROLE.service), removes its file and reloads systemd.
The state directory, the config and its .env are left as they are. Where
systemd does not run, the file and its enable links are removed and the
commands to finish are printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Euid = os.Geteuid()
			return runUninstallService(cmd.Context(), opts)
		},
	}
	opts.serviceFlags.register(cmd)
	return cmd
}

func runUninstallService(ctx context.Context, opts uninstallServiceOptions) error {
	system, dir, err := opts.resolve(opts.Euid)
	if err != nil {
		return err
	}
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	name := serviceUnitName(opts.Role)
	path := filepath.Join(dir, name)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "%s is not installed in %s: nothing to remove\n", name, dir)
		dirs := defaultServiceDirs()
		for _, u := range findServiceUnits(serviceDirs{User: dirs.User, System: dirs.System, Other: dir}) {
			fmt.Fprintf(out, "installed: %s (remove it with `airut uninstall-service %s`)\n", u.Path, u.flags(dirs))
		}
		return nil
	} else if err != nil {
		return withCode(exitRuntime, fmt.Errorf("look for the unit file: %w", err))
	}

	m := manager{system: system, exec: opts.Exec}
	// Disabled while the file is there: disable reads its [Install]
	// section to find the links to remove.
	_, disableErr := m.systemctl(ctx, "disable", "--now", name)
	if err := os.Remove(path); err != nil {
		return withCode(exitRuntime, fmt.Errorf("remove the unit file: %w", err))
	}
	fmt.Fprintf(out, "removed %s\n", path)
	if disableErr == nil {
		fmt.Fprintf(out, "stopped and disabled %s\n", name)
		if _, err := m.systemctl(ctx, "daemon-reload"); err != nil {
			fmt.Fprintf(errOut, "could not reload systemd: %v\nrun `%s`\n", err, m.command("daemon-reload"))
		}
		return nil
	}
	// Without systemctl, what enable did by hand (or before systemd
	// went away) is undone here: links to a missing file would fail every
	// boot.
	links, _ := filepath.Glob(filepath.Join(dir, "*.wants", name))
	for _, l := range links {
		if fi, err := os.Lstat(l); err == nil && fi.Mode()&fs.ModeSymlink != 0 && os.Remove(l) == nil {
			fmt.Fprintf(out, "removed %s\n", l)
		}
	}
	fmt.Fprintf(errOut, "could not stop and disable it: %v\nwhere systemd runs, if %s is still running, stop it and reload with:\n  %s\n  %s\n",
		disableErr, name, m.command("stop", name), m.command("daemon-reload"))
	return nil
}

// serviceDirs are the directories searched for installed units; an
// empty one is skipped.
type serviceDirs struct {
	User, System string
	// Other is one more directory (uninstall-service's --unit-dir), for
	// the scope of the command.
	Other string
}

func defaultServiceDirs() serviceDirs {
	user, _ := userUnitDir()
	return serviceDirs{User: user, System: systemUnitDir}
}

// installedUnit is a unit file of install-service found on disk.
type installedUnit struct {
	Role, Path string
	System     bool
}

// flags are the uninstall-service flags that name the unit.
func (u installedUnit) flags(dirs serviceDirs) string {
	f := "--role " + u.Role
	switch dir := filepath.Dir(u.Path); {
	case dir == dirs.System:
		f += " --system"
	case dir == dirs.User:
		f += " --user"
	default:
		f += " --unit-dir " + dir
	}
	return f
}

// findServiceUnits lists the units of every role in the directories, the
// user's first.
func findServiceUnits(dirs serviceDirs) []installedUnit {
	var units []installedUnit
	seen := map[string]bool{}
	for _, d := range []struct {
		dir    string
		system bool
	}{{dirs.User, false}, {dirs.System, true}, {dirs.Other, false}} {
		if d.dir == "" || seen[d.dir] {
			continue
		}
		seen[d.dir] = true
		for _, role := range serviceRoles {
			path := filepath.Join(d.dir, serviceUnitName(role))
			if _, err := os.Stat(path); err == nil {
				units = append(units, installedUnit{Role: role, Path: path, System: d.system})
			}
		}
	}
	return units
}

// checkService reports, for `airut check`, each unit of install-service
// in the user's and the system's unit directories, with its state when
// systemctl answers. Not being a service is a warning, never a failure:
// `airut run` in a terminal is a fine way to run Airut.
func checkService(ctx context.Context, ck *checker, dirs serviceDirs) {
	units := findServiceUnits(dirs)
	if len(units) == 0 {
		ck.warn("service", "not installed as a service: nothing starts airut at boot or restarts it when it stops",
			"airut install-service (docs/operations.md, Running as a service)")
		return
	}
	for _, u := range units {
		m := manager{system: u.System, exec: runProgram}
		unit := serviceUnitName(u.Role)
		name := "service " + strings.TrimSuffix(unit, ".service")
		where := u.Path + " (user unit)"
		if u.System {
			where = u.Path + " (system unit)"
		}
		out, err := m.systemctl(ctx, "show", "-p", "ActiveState,SubState,UnitFileState", unit)
		if err != nil {
			ck.ok(name, where+"; state unknown: "+err.Error())
		} else {
			p := map[string]string{}
			for _, line := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
					p[k] = v
				}
			}
			state := fmt.Sprintf("%s (%s), %s", p["ActiveState"], p["SubState"], p["UnitFileState"])
			if p["ActiveState"] == "failed" {
				ck.warn(name, where+": "+state, "see why in `"+m.journal(unit)+"`")
			} else {
				ck.ok(name, where+": "+state)
			}
		}
		if !u.System {
			if who := currentUser(); who != "" && !lingers(ctx, runProgram, who) {
				ck.warn(name, "lingering is off for "+who+": it runs only while "+who+" is logged in",
					"sudo loginctl enable-linger "+who)
			}
		}
	}
}
