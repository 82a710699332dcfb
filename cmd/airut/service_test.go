package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

var updateUnits = flag.Bool("update-units", false, "rewrite deploy/systemd from the unit template")

// deployUnits are the paths the checked-in units of deploy/systemd are
// rendered for: where a person installing by hand puts the binary and
// the config.
const (
	deployBinary = "/usr/local/bin/airut"
	deployConfig = "/etc/airut/airut.yaml"
	deployDir    = "../../deploy/systemd"
)

// systemdAnalyze is the path of systemd-analyze, which checks the units
// as systemd reads them. It is a test dependency (internal/hostdeps,
// scripts/install-deps.sh test): without it the unit files would go
// unchecked, so the test fails rather than skips.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found, so the unit files cannot be checked: install systemd (apt-get install systemd, or scripts/install-deps.sh test): %v", err)
	}
	return p
}

// verifyUnit runs `systemd-analyze verify` on the unit file and fails the
// test on any output: systemd-analyze exits 0 on unknown keys and
// unparsable values, and only says so.
//
// It runs with SYSTEMD_UNIT_PATH set to the unit's directory and a
// directory of empty stand-ins for the units ours names, and nothing else,
// so that only our unit is loaded: on the host's unit path it would also
// load what sysinit.target and multi-user.target pull in, and report the
// host's broken units as if they were ours. The stand-ins are needed
// because verify builds the unit's start job, which requires the targets
// of the default dependencies (sysinit.target for a system service,
// basic.target for a user one); systemd 252 does not check [Install]'s
// WantedBy= or a missing After=/Wants= unit, but the stand-ins cover the
// targets we name in case a later version does. A user unit needs a
// runtime directory for the user manager verify emulates.
func verifyUnit(t *testing.T, analyze, path string, system bool) {
	t.Helper()
	stubs := t.TempDir()
	for _, u := range []string{"sysinit.target", "basic.target", "shutdown.target", "network-online.target", "multi-user.target", "default.target"} {
		if err := os.WriteFile(filepath.Join(stubs, u), []byte("[Unit]\nDescription=stand-in for the test\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"verify", "--man=no"}
	if !system {
		args = append(args, "--user")
	}
	cmd := exec.Command(analyze, append(args, path)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+filepath.Dir(path)+":"+stubs, "XDG_RUNTIME_DIR="+t.TempDir(), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		text, _ := os.ReadFile(path)
		t.Errorf("systemd-analyze %s %s: %v\n%s\nthe unit:\n%s", strings.Join(args, " "), path, err, out, text)
	}
}

// fakeSystemd puts a systemctl (unless without is "systemctl") and a
// loginctl on PATH, and nothing else, so no test reaches the host's
// systemd: they append their command lines to the returned log file and
// answer as the FAKE_* variables say. XDG_CONFIG_HOME goes to a temporary
// directory too, so the user's own unit directory is not looked at.
func fakeSystemd(t *testing.T, without string) (log string) {
	t.Helper()
	bin := t.TempDir()
	log = filepath.Join(t.TempDir(), "systemd.log")
	scripts := map[string]string{
		// As systemctl answers in a container, where systemd is not PID 1.
		"systemctl": `#!/bin/sh
echo "systemctl $*" >> "$FAKE_SYSTEMD_LOG"
if [ "$FAKE_SYSTEMCTL" = fail ]; then
  echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
  echo "Failed to connect to bus: Host is down" >&2
  exit 1
fi
case "$1 $2" in *show*) printf '%s\n' "$FAKE_SHOW";; esac
exit 0
`,
		"loginctl": `#!/bin/sh
echo "loginctl $*" >> "$FAKE_SYSTEMD_LOG"
echo "Linger=$FAKE_LINGER"
`,
	}
	for name, text := range scripts {
		if name == without {
			continue
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	t.Setenv("FAKE_SYSTEMD_LOG", log)
	t.Setenv("FAKE_SYSTEMCTL", "")
	t.Setenv("FAKE_LINGER", "yes")
	t.Setenv("FAKE_SHOW", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("AIRUT_CONFIG", "")
	return log
}

// readLog is what the fake programs ran, one command line each.
func readLog(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// testBinary is what install-service writes into ExecStart from a test:
// the test binary itself, a real executable for systemd-analyze.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	word, err := systemdExecutable(exe)
	if err != nil {
		t.Fatalf("the test binary's path cannot be a unit's executable: %v", err)
	}
	return word
}

// For every role and both managers, install-service writes a unit that
// systemd reads without a complaint, runs this binary with the role's
// command and the given config, restarts it, and is removed again by
// uninstall-service.
func TestInstallServiceUnitsVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	fakeSystemd(t, "")
	exe := testBinary(t)
	for _, role := range serviceRoles {
		for _, scope := range []string{"user", "system"} {
			t.Run(role+" "+scope, func(t *testing.T) {
				dir := t.TempDir()
				cfg := filepath.Join(t.TempDir(), "airut.yaml")
				out, code := runAirut(t, "install-service", "--role", role, "--"+scope, "--unit-dir", dir, "--no-enable", "--config", cfg)
				if code != 0 {
					t.Fatalf("install-service: exit %d\n%s", code, out)
				}
				name := "airut-" + role + ".service"
				if role == "run" {
					name = "airut.service"
				}
				path := filepath.Join(dir, name)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("no unit written: %v\n%s", err, out)
				}
				unit := string(b)
				verifyUnit(t, analyze, path, scope == "system")

				wantedBy, stop := "default.target", "30s"
				if scope == "system" {
					wantedBy = "multi-user.target"
				}
				if role == "run" || role == "worker" {
					stop = "15min"
				}
				for _, want := range []string{
					"ExecStart=" + exe + " " + role + " --config " + cfg,
					"Restart=always",
					"RestartSec=10",
					"KillSignal=SIGTERM",
					"TimeoutStopSec=" + stop,
					"WantedBy=" + wantedBy,
				} {
					if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(unit) {
						t.Errorf("the unit lacks the line %s:\n%s", want, unit)
					}
				}
				// Nothing but HOME goes into the environment: secrets stay
				// in the config's .env file.
				envs := regexp.MustCompile(`(?m)^Environment=.*$`).FindAllString(unit, -1)
				if want := []string{"Environment=HOME=/root"}; scope == "system" && !slices.Equal(envs, want) || scope == "user" && len(envs) > 0 {
					t.Errorf("Environment= lines %q", envs)
				}
				// A user manager has no network-online.target.
				if got := strings.Contains(unit, "network-online.target\n"); got != (scope == "system") {
					t.Errorf("network-online.target named: %v, want %v", got, scope == "system")
				}
				if got := strings.Contains(unit, "After=podman.socket\n"); got != (role == "run" || role == "worker") {
					t.Errorf("After=podman.socket: %v", got)
				}
				if !strings.Contains(out, "wrote "+path) || !strings.Contains(out, "not enabled (--no-enable)") {
					t.Errorf("install-service output:\n%s", out)
				}

				out, code = runAirut(t, "uninstall-service", "--role", role, "--"+scope, "--unit-dir", dir)
				if code != 0 {
					t.Fatalf("uninstall-service: exit %d\n%s", code, out)
				}
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("the unit is still there after uninstall-service (%v):\n%s", err, out)
				}
				if !strings.Contains(out, "removed "+path) {
					t.Errorf("uninstall-service does not say what it removed:\n%s", out)
				}
			})
		}
	}
}

// Paths go into ExecStart= as systemd splits and unquotes it: quoted
// around whitespace, backslash and quote escaped, % and $ doubled where
// systemd would expand them; an executable systemd refuses is refused.
func TestServiceExecStartQuoting(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		exe        bool // the executable, not an argument
		want, err  string
	}{
		{name: "plain binary", path: "/usr/local/bin/airut", exe: true, want: "/usr/local/bin/airut"},
		{name: "binary with a space", path: "/opt/my airut/airut", exe: true, want: `"/opt/my airut/airut"`},
		{name: "binary with percent", path: "/opt/100%/airut", exe: true, want: "/opt/100%%/airut"},
		// Variables are not substituted in the executable's path.
		{name: "binary with dollar", path: "/opt/a$b/airut", exe: true, want: "/opt/a$b/airut"},
		{name: "binary with a quote", path: `/opt/a"b/airut`, exe: true, err: "systemd refuses"},
		{name: "binary with an apostrophe", path: "/home/o'brien/airut", exe: true, err: "systemd refuses"},
		{name: "binary with a backslash", path: `/opt/a\b/airut`, exe: true, err: "systemd refuses"},
		{name: "binary with a tab", path: "/opt/a\tb/airut", exe: true, err: "systemd refuses"},
		{name: "binary not UTF-8", path: "/opt/\xff/airut", exe: true, err: "systemd refuses"},
		{name: "relative binary", path: "bin/airut", exe: true, err: "not absolute"},
		{name: "plain config", path: "/etc/airut/airut.yaml", want: "/etc/airut/airut.yaml"},
		{name: "config with a space", path: "/home/me/my config/airut.yaml", want: `"/home/me/my config/airut.yaml"`},
		{name: "config with quote and backslash", path: `/x/a"b\c.yaml`, want: `"/x/a\"b\\c.yaml"`},
		{name: "config with an apostrophe", path: "/home/o'brien/airut.yaml", want: `"/home/o'brien/airut.yaml"`},
		{name: "config with dollar and percent", path: "/x/$HOME/100%.yaml", want: "/x/$$HOME/100%%.yaml"},
		{name: "config with both and a space", path: "/x/$a %b.yaml", want: `"/x/$$a %%b.yaml"`},
		{name: "config with a newline", path: "/x/a\nExecStartPre=/bin/rm.yaml", err: "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			quote := systemdArg
			if tc.exe {
				quote = systemdExecutable
			}
			got, err := quote(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// systemd itself agrees: a unit whose binary sits under a space, a %h and
// a $ and whose config path holds every character that needs escaping
// verifies cleanly, which needs the executable found at its real path.
// And the refusal is systemd's own rule: the same executable with a quote
// or a backslash, however escaped, is rejected by systemd-analyze.
func TestServiceQuotedPathsVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := func(dirName string) string {
		dir := filepath.Join(t.TempDir(), dirName)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "airut")
		if err := os.Symlink(exe, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, system := range []bool{true, false} {
		u := serviceUnit{Role: "run", Binary: link("my airut 100%h $HOME"), Config: `/etc/my "air'ut"\ 100% $HOME/airut.yaml`, System: system}
		text, err := u.Render()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), u.Name())
		if err := os.WriteFile(path, text, 0o644); err != nil {
			t.Fatal(err)
		}
		verifyUnit(t, analyze, path, system)
	}

	for _, dirName := range []string{`quote"d`, `back\slash`, "o'brien"} {
		bin := link(dirName)
		if _, err := systemdExecutable(bin); err == nil {
			t.Errorf("%s: accepted as an executable", bin)
		}
		word, _ := systemdArg(bin) // escaped as an argument would be
		dir := t.TempDir()
		path := filepath.Join(dir, "airut.service")
		os.WriteFile(path, []byte("[Service]\nExecStart="+word+" run\n"), 0o644)
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		stubs := t.TempDir()
		os.WriteFile(filepath.Join(stubs, "sysinit.target"), []byte("[Unit]\n"), 0o644)
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":"+stubs)
		out, _ := cmd.CombinedOutput()
		if !bytes.Contains(out, []byte("special characters")) {
			t.Errorf("systemd-analyze accepts %s (ExecStart=%s); the refusal may no longer be needed:\n%s", bin, word, out)
		}
	}
}

// runAirutPrinting is runAirut with the error in the output as main
// prints it ("airut: ..."): runAirut returns only its exit code.
func runAirutPrinting(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	a := &app{v: viper.New(), stdout: &out, stderr: &out, stdin: strings.NewReader("")}
	code := execute(context.Background(), a, args)
	return out.String(), code
}

// Bad input is refused with a message that says what to do, exit 2, and
// nothing written; a unit that cannot be written exits 3.
func TestInstallServiceRefusesBadInput(t *testing.T) {
	fakeSystemd(t, "")
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown role", []string{"install-service", "--role", "workers"}, exitUsage,
			`--role "workers": not a role of airut; choose one of run, server, worker, ingest, dashboard`},
		{"user and system", []string{"install-service", "--user", "--system"}, exitUsage, "--user and --system together: choose one"},
		{"config with a newline", []string{"install-service", "--config", "/etc/a\nb.yaml"}, exitUsage, "config path: \"/etc/a\\nb.yaml\" holds a control character"},
		{"an argument", []string{"install-service", "worker"}, exitUsage, `unknown command "worker"`},
		{"unit dir is a file", []string{"install-service", "--unit-dir", file}, exitRuntime, "write the unit file: open " + filepath.Join(file, "airut.service") + ": not a directory"},
		{"uninstall unknown role", []string{"uninstall-service", "--role", "all"}, exitUsage, "choose one of run, server"},
		{"uninstall user and system", []string{"uninstall-service", "--user", "--system"}, exitUsage, "--user and --system together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := tc.args
			if !slices.Contains(args, "--unit-dir") {
				args = append(args, "--unit-dir", dir)
			}
			if args[0] == "install-service" {
				args = append(args, "--no-enable")
			}
			out, code := runAirutPrinting(t, args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s", code, tc.code, tc.want, out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("wrote %v", entries)
			}
		})
	}
}

// install-service runs systemctl daemon-reload and enable --now for the
// unit's manager; where systemd does not run, or systemctl is missing, it
// still writes the unit, prints the commands, and exits 0. A user unit
// without lingering gets a note on how to keep it running.
func TestInstallServiceEnables(t *testing.T) {
	me := currentUser()
	for _, tc := range []struct {
		name      string
		args      []string
		without   string // a program missing from PATH
		systemctl string // FAKE_SYSTEMCTL
		linger    string
		// ran is what the fake programs ran; want, what the output says.
		ran  []string
		want []string
		not  []string
	}{
		{
			name:   "user unit, systemd answers",
			args:   []string{"--user"},
			linger: "yes",
			ran:    []string{"systemctl --user daemon-reload", "systemctl --user enable --now airut.service", "loginctl show-user " + me + " -p Linger"},
			want:   []string{"enabled and started airut.service; follow its log with `journalctl --user -u airut.service -f`"},
			not:    []string{"lingering", "could not"},
		},
		{
			name:   "system unit, systemd answers",
			args:   []string{"--system", "--role", "worker"},
			linger: "no", // not asked: lingering is a user manager's
			ran:    []string{"systemctl daemon-reload", "systemctl enable --now airut-worker.service"},
			want:   []string{"enabled and started airut-worker.service; follow its log with `journalctl -u airut-worker.service -f`"},
			not:    []string{"lingering"},
		},
		{
			name:      "no systemd as PID 1",
			args:      []string{"--user", "--role", "ingest"},
			systemctl: "fail",
			linger:    "yes",
			ran:       []string{"systemctl --user daemon-reload", "loginctl show-user " + me + " -p Linger"},
			want: []string{
				"could not enable it: systemctl --user daemon-reload: System has not been booted with systemd as init system (PID 1). Can't operate.\n",
				"where systemd runs, enable and start it with:\n  systemctl --user daemon-reload\n  systemctl --user enable --now airut-ingest.service\n",
			},
		},
		{
			name:    "systemctl missing",
			args:    []string{"--system"},
			without: "systemctl",
			want:    []string{"could not enable it: systemctl is not installed (not on PATH)", "  systemctl daemon-reload\n  systemctl enable --now airut.service\n"},
		},
		{
			name:   "lingering off",
			args:   []string{"--user"},
			linger: "no",
			want:   []string{"note: lingering is off for " + me + ", so airut.service runs only while " + me + " is logged in", "`sudo loginctl enable-linger " + me + "`"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := fakeSystemd(t, tc.without)
			t.Setenv("FAKE_SYSTEMCTL", tc.systemctl)
			t.Setenv("FAKE_LINGER", tc.linger)
			dir := t.TempDir()
			out, code := runAirut(t, append([]string{"install-service", "--unit-dir", dir, "--config", "/etc/airut/airut.yaml"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("unit dir holds %v, want the unit", entries)
			}
			if tc.ran != nil && !slices.Equal(readLog(t, log), tc.ran) {
				t.Errorf("ran %q, want %q", readLog(t, log), tc.ran)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
}

// The config in ExecStart is the one the command was given, as every
// command resolves it (--config, else $AIRUT_CONFIG), made absolute: the
// service does not run in this directory. Installing again says whether
// the unit changed, and how to apply a change to a running service.
func TestInstallServiceConfigAndReinstall(t *testing.T) {
	fakeSystemd(t, "")
	dir := t.TempDir()
	unit := filepath.Join(dir, "airut.service")
	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	execStart := func() string {
		b, _ := os.ReadFile(unit)
		return regexp.MustCompile(`(?m)^ExecStart=.*$`).FindString(string(b))
	}

	out, _ := runAirut(t, "install-service", "--user", "--unit-dir", dir, "--config", "conf/airut.yaml")
	if want := " run --config " + filepath.Join(wd, "conf/airut.yaml"); !strings.HasSuffix(execStart(), want) || !strings.Contains(out, "wrote "+unit) {
		t.Errorf("relative --config: %s, want it ending %q\n%s", execStart(), want, out)
	}
	out, _ = runAirut(t, "install-service", "--user", "--unit-dir", dir, "--config", "conf/airut.yaml")
	if !strings.Contains(out, "unchanged "+unit) || strings.Contains(out, "restart") {
		t.Errorf("the same unit again:\n%s", out)
	}
	t.Setenv("AIRUT_CONFIG", "/srv/airut/airut.yaml")
	out, _ = runAirut(t, "install-service", "--user", "--unit-dir", dir)
	if want := " run --config /srv/airut/airut.yaml"; !strings.HasSuffix(execStart(), want) {
		t.Errorf("$AIRUT_CONFIG: %s, want it ending %q", execStart(), want)
	}
	if want := "replaced " + unit; !strings.Contains(out, want) || !strings.Contains(out, "apply the new unit with `systemctl --user restart airut.service`") {
		t.Errorf("output lacks %q and the restart hint:\n%s", want, out)
	}
}

// uninstall-service stops and disables the unit through systemctl, or,
// without systemd, removes the unit and its enable link itself and prints
// what is left to do; a unit that is not there is not an error.
func TestUninstallService(t *testing.T) {
	install := func(t *testing.T, dir, role string) string {
		out, code := runAirut(t, "install-service", "--user", "--unit-dir", dir, "--role", role, "--no-enable")
		if code != 0 {
			t.Fatalf("install-service: exit %d\n%s", code, out)
		}
		return filepath.Join(dir, serviceUnitName(role))
	}

	t.Run("systemd answers", func(t *testing.T) {
		log := fakeSystemd(t, "")
		dir := t.TempDir()
		path := install(t, dir, "worker")
		os.Remove(log)
		out, code := runAirut(t, "uninstall-service", "--user", "--unit-dir", dir, "--role", "worker")
		if want := []string{"systemctl --user disable --now airut-worker.service", "systemctl --user daemon-reload"}; code != 0 || !slices.Equal(readLog(t, log), want) {
			t.Errorf("exit %d, ran %q, want %q\n%s", code, readLog(t, log), want, out)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s is still there", path)
		}
		if want := "removed " + path + "\nstopped and disabled airut-worker.service\n"; !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	})

	t.Run("no systemd", func(t *testing.T) {
		fakeSystemd(t, "")
		t.Setenv("FAKE_SYSTEMCTL", "fail")
		dir := t.TempDir()
		path := install(t, dir, "run")
		// As systemctl enable left it.
		wants := filepath.Join(dir, "default.target.wants", "airut.service")
		os.Mkdir(filepath.Dir(wants), 0o755)
		if err := os.Symlink(path, wants); err != nil {
			t.Fatal(err)
		}
		out, code := runAirut(t, "uninstall-service", "--user", "--unit-dir", dir)
		if code != 0 {
			t.Errorf("exit %d", code)
		}
		for _, p := range []string{path, wants} {
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("%s is still there", p)
			}
		}
		for _, want := range []string{
			"removed " + path + "\n",
			"removed " + wants + "\n",
			"could not stop and disable it: systemctl --user disable --now airut.service: System has not been booted with systemd",
			"stop it and reload with:\n  systemctl --user stop airut.service\n  systemctl --user daemon-reload\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("not installed", func(t *testing.T) {
		log := fakeSystemd(t, "")
		dir := t.TempDir()
		other := install(t, dir, "dashboard")
		os.Remove(log)
		out, code := runAirut(t, "uninstall-service", "--user", "--unit-dir", dir)
		if code != 0 || readLog(t, log) != nil {
			t.Errorf("exit %d, ran %q", code, readLog(t, log))
		}
		for _, want := range []string{
			"airut.service is not installed in " + dir + ": nothing to remove\n",
			"installed: " + other + " (remove it with `airut uninstall-service --role dashboard --unit-dir " + dir + "`)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if _, err := os.Stat(other); err != nil {
			t.Errorf("the other unit is gone: %v", err)
		}
	})
}

// airut check reports each installed unit with its state, warns when
// there is none, when one failed or when a user unit would stop at
// logout, and never fails for it.
func TestCheckService(t *testing.T) {
	me := currentUser()
	for _, tc := range []struct {
		name      string
		units     []string // "user/ROLE" or "system/ROLE"
		systemctl string
		show      string
		linger    string
		want      []string
	}{
		{
			name: "none",
			want: []string{`(?m)^warn +service +not installed as a service: nothing starts airut at boot or restarts it when it stops\n +fix: airut install-service`},
		},
		{
			name:   "user unit running",
			units:  []string{"user/run"},
			show:   "ActiveState=active\nSubState=running\nUnitFileState=enabled",
			linger: "yes",
			want:   []string{`(?m)^ok +service airut +\S+/airut.service \(user unit\): active \(running\), enabled$`},
		},
		{
			name:   "system units, one failed",
			units:  []string{"system/server", "system/worker"},
			show:   "ActiveState=failed\nSubState=failed\nUnitFileState=enabled",
			linger: "no",
			want: []string{
				`(?m)^warn +service airut-server +\S+/airut-server.service \(system unit\): failed \(failed\), enabled\n +fix: see why in ` + "`journalctl -u airut-server.service -f`",
				`(?m)^warn +service airut-worker +`,
			},
		},
		{
			name:      "no systemd, lingering off",
			units:     []string{"user/ingest"},
			systemctl: "fail",
			linger:    "no",
			want: []string{
				`(?m)^ok +service airut-ingest +\S+/airut-ingest.service \(user unit\); state unknown: systemctl --user show -p ActiveState,SubState,UnitFileState airut-ingest.service: System has not been booted`,
				`(?m)^warn +service airut-ingest +lingering is off for ` + regexp.QuoteMeta(me) + `: it runs only while ` + regexp.QuoteMeta(me) + ` is logged in\n +fix: sudo loginctl enable-linger ` + regexp.QuoteMeta(me) + `$`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeSystemd(t, "")
			t.Setenv("FAKE_SYSTEMCTL", tc.systemctl)
			t.Setenv("FAKE_SHOW", tc.show)
			t.Setenv("FAKE_LINGER", tc.linger)
			dirs := serviceDirs{User: t.TempDir(), System: t.TempDir()}
			for _, u := range tc.units {
				scope, role, _ := strings.Cut(u, "/")
				dir := dirs.User
				if scope == "system" {
					dir = dirs.System
				}
				if err := os.WriteFile(filepath.Join(dir, serviceUnitName(role)), []byte("[Service]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			ck := &checker{w: &out}
			checkService(context.Background(), ck, dirs)
			if ck.failed != 0 {
				t.Errorf("%d failure(s)", ck.failed)
			}
			for _, want := range tc.want {
				if !regexp.MustCompile(want).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", want, out.String())
				}
			}
		})
	}
}

// Root gets a system unit and anyone else a user unit, unless they say.
func TestServiceScope(t *testing.T) {
	for _, tc := range []struct {
		user, system bool
		euid         int
		want         bool
		err          bool
	}{
		{euid: 0, want: true},
		{euid: 1000, want: false},
		{user: true, euid: 0, want: false},
		{system: true, euid: 1000, want: true},
		{user: true, system: true, err: true},
	} {
		got, err := serviceScope(tc.user, tc.system, tc.euid)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("serviceScope(user %v, system %v, euid %d) = %v, %v", tc.user, tc.system, tc.euid, got, err)
		}
	}
}

// The units in deploy/systemd, for installing by hand, are the template
// rendered for /usr/local/bin/airut and /etc/airut/airut.yaml, so they
// cannot drift from what install-service writes. After a change to the
// template: go test ./cmd/airut/ -run TestServiceDeployFilesMatchTemplate -update-units
func TestServiceDeployFilesMatchTemplate(t *testing.T) {
	var names []string
	for _, role := range serviceRoles {
		u := serviceUnit{Role: role, Binary: deployBinary, Config: deployConfig, System: true}
		want, err := u.Render()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(deployDir, u.Name())
		names = append(names, u.Name())
		if *updateUnits {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (write it with -update-units)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the template; run go test ./cmd/airut/ -run %s -update-units\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
		}
	}
	entries, err := os.ReadDir(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".service") && !slices.Contains(names, e.Name()) {
			t.Errorf("%s: a unit the template does not render", filepath.Join(deployDir, e.Name()))
		}
	}
}
