package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/airut-go/airut/internal/mailauth"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/claudebin"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/gitmirror"
	"github.com/airut-go/airut/internal/hostdeps"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/workers"
)

func newInitCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Write a commented example config (if none exists)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := a.configPath()
			wrote, err := config.WriteIfMissing(path, config.Example)
			if err != nil {
				return withCode(exitConfig, err)
			}
			if !wrote {
				fmt.Fprintf(a.stdout, "%s already exists; left as it is\n", path)
				return nil
			}
			fmt.Fprintf(a.stdout, "wrote %s; edit it, then run `airut check`\n", path)
			return nil
		},
	}
}

// checker prints one line per check and remembers failures.
type checker struct {
	w      io.Writer
	failed int
}

func (c *checker) ok(name, detail string) { fmt.Fprintf(c.w, "ok    %-22s %s\n", name, detail) }
func (c *checker) warn(name, detail, fix string) {
	fmt.Fprintf(c.w, "warn  %-22s %s\n", name, detail)
	if fix != "" {
		fmt.Fprintf(c.w, "      %-22s fix: %s\n", "", fix)
	}
}
func (c *checker) fail(name, detail, fix string) {
	c.failed++
	fmt.Fprintf(c.w, "FAIL  %-22s %s\n", name, detail)
	if fix != "" {
		fmt.Fprintf(c.w, "      %-22s fix: %s\n", "", fix)
	}
}

func newCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check the config and the host: podman, git, Temporal, the agent binary",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runCheck(cmd.Context(), a) },
	}
}

func runCheck(ctx context.Context, a *app) error {
	ck := &checker{w: a.stdout}
	// The programs need no config, so they come first: on a bare machine
	// the config is often missing too, and both are reported in one run.
	found := checkPrograms(ck)
	checkService(ctx, ck, defaultServiceDirs())
	path := a.configPath()
	cfg, err := config.Load(path)
	if err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			for _, e := range ce {
				ck.fail("config", e.Error(), "")
			}
		} else {
			ck.fail("config", err.Error(), "")
		}
		checkRunningConfig(ck, path, config.StateDirOf(path), config.FileSHA256(path))
		return withCode(exitConfig, fmt.Errorf("%d check(s) failed", ck.failed))
	}
	ck.ok("config", fmt.Sprintf("%s (%d repo(s), schema v%d)", path, len(cfg.Repos), cfg.ConfigVersion))
	checkRunningConfig(ck, path, cfg.StateDir, cfg.SHA256)
	keys := make([]string, 0, len(cfg.UnsetEnv))
	for k := range cfg.UnsetEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck.fail("environment", fmt.Sprintf("%s: $%s is not set", k, cfg.UnsetEnv[k]),
			fmt.Sprintf("export %s=… or put it in %s", cfg.UnsetEnv[k], strings.TrimSuffix(path, "airut.yaml")+".env"))
	}
	if len(cfg.Repos) == 0 {
		ck.warn("repos", "none configured", "add one under repos:, or run `make run` in a checkout")
	}

	if found["git"] {
		checkGit(ctx, ck)
	}
	var pod *podman.Client
	if found["podman"] {
		pod = checkPodman(ctx, ck, cfg)
	}
	if pod != nil {
		defer pod.Close()
	}
	checkTemporal(ctx, ck, cfg)
	for _, id := range cfg.RepoIDs() {
		checkRepo(ctx, ck, cfg, cfg.Repos[id], pod)
	}
	if ck.failed > 0 {
		return withCode(exitConfig, fmt.Errorf("%d check(s) failed", ck.failed))
	}
	fmt.Fprintln(a.stdout, "all checks passed")
	return nil
}

// checkPrograms reports each runtime program of internal/hostdeps (the
// list scripts/install-deps.sh installs from), with the package that
// provides it when it is missing, and returns the names found.
//
// Two are warnings only: newuidmap, which only rootless podman needs, and
// claude, which a repo without claude_binary downloads at its first task
// (the repo's agent check says which applies).
func checkPrograms(ck *checker) map[string]bool {
	warnOnly := map[string]bool{"newuidmap": os.Geteuid() == 0, "claude": true}
	found := map[string]bool{}
	for _, r := range hostdeps.Check(hostdeps.Runtime) {
		name := "program " + r.Program.Name
		if !r.OK() {
			report := ck.fail
			if warnOnly[r.Program.Name] {
				report = ck.warn
			}
			report(name, "not found ("+r.Program.Why+")", r.Program.Install())
			continue
		}
		found[r.Program.Name] = true
		ck.ok(name, r.Path)
	}
	return found
}

var gitVersion = regexp.MustCompile(`(\d+)\.(\d+)`)

// checkGit checks the version of the git found by checkPrograms.
func checkGit(ctx context.Context, ck *checker) {
	out, err := exec.CommandContext(ctx, "git", "--version").Output()
	m := gitVersion.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		ck.fail("git", fmt.Sprintf("git --version: %q, %v", strings.TrimSpace(string(out)), err), "reinstall git")
		return
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 2 || major == 2 && minor < 25 {
		ck.fail("git", strings.TrimSpace(string(out))+" is older than 2.25", "upgrade git")
		return
	}
	ck.ok("git", strings.TrimSpace(string(out)))
}

// checkPodman checks the API service of the podman found by checkPrograms.
func checkPodman(ctx context.Context, ck *checker, cfg *config.Config) *podman.Client {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pod, err := podman.Connect(cctx, podman.ConnectOptions{URI: cfg.PodmanSocket})
	if err != nil {
		ck.warn("podman", "API service not running at "+podman.DefaultURI(), "none needed: `airut run` starts it; or `systemctl enable --now podman.socket`")
		return nil
	}
	v, err := pod.Version(cctx)
	if err != nil {
		ck.fail("podman", err.Error(), "")
		pod.Close()
		return nil
	}
	ck.ok("podman", "API "+v+" at "+pod.URI())
	return pod
}

func checkTemporal(ctx context.Context, ck *checker, cfg *config.Config) {
	addr := temporalAddress(cfg)
	c, err := workers.Dial(ctx, cfg.Temporal, addr, nil, nil)
	if err == nil {
		defer c.Close()
		ck.ok("temporal", "answering at "+addr+" (namespace "+cfg.Temporal.Namespace+")")
		switch missing, err := workers.MissingSearchAttributes(ctx, c, cfg.Temporal.Namespace); {
		case err != nil:
			ck.warn("temporal search attributes", err.Error(), "")
		case len(missing) > 0:
			ck.fail("temporal search attributes", "namespace "+cfg.Temporal.Namespace+" lacks "+strings.Join(missing, ", ")+": new conversations cannot start",
				workers.SearchAttributesFix(cfg.Temporal.Namespace, missing))
		}
		return
	}
	if cfg.Temporal.Address != "" {
		ck.fail("temporal", err.Error(), "check temporal.address, namespace and TLS settings")
		return
	}
	// Embedded: nothing answering is fine as long as the port is free.
	l, lerr := net.Listen("tcp", addr)
	if lerr != nil {
		ck.fail("temporal", addr+" is taken by something that is not a Temporal server", "set temporal.embedded.frontend_port to a free port")
		return
	}
	l.Close()
	db := "database " + cfg.Temporal.Embedded.DatabaseFile
	if p := cfg.Temporal.Embedded.Persistence; p.Driver == config.PersistencePostgres {
		db = fmt.Sprintf("PostgreSQL at %s as %s (databases %s and %s)", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)), p.User, p.Database, p.VisibilityDatabase)
	}
	ck.ok("temporal", "embedded server will start on "+addr+" with "+db)
}

// unsetSecret reports whether a credential of the repo is missing only
// because its !env variable is unset (already reported above).
func unsetSecret(cfg *config.Config, repoID string) bool {
	for _, k := range []string{"ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"} {
		for _, key := range []string{".secrets." + k, ".masked_secrets." + k + ".value"} {
			if _, ok := cfg.UnsetEnv["repos."+repoID+key]; ok {
				return true
			}
		}
	}
	return false
}

func checkRepo(ctx context.Context, ck *checker, cfg *config.Config, r *config.Repo, pod *podman.Client) {
	name := "repo " + r.ID
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(lctx, "git", "ls-remote", "--heads", r.RepoURL).CombinedOutput(); err != nil {
		ck.fail(name, "cannot read "+r.RepoURL+": "+ingest.FirstLine(string(out), 200), "check repo_url and the credentials git uses for it")
	} else {
		ck.ok(name, r.RepoURL)
	}
	switch bin, err := claudebin.Resolve(r.ClaudeBinary); {
	case err == nil:
		ck.ok(name+" agent", bin)
	case r.ClaudeBinary == "" && errors.Is(err, claudebin.ErrNotFound):
		ck.warn(name+" agent", "claude not on PATH: version "+r.ClaudeVersion+" will be downloaded at the first task",
			"npm install -g @anthropic-ai/claude-code to use a local copy")
	default:
		ck.fail(name+" agent", err.Error(), "npm install -g @anthropic-ai/claude-code, or fix claude_binary")
	}
	if r.Image != "" && pod != nil {
		if ok, err := pod.ImageExists(ctx, r.Image); err != nil || !ok {
			ck.warn(name+" image", r.Image+" not present (used when the repo has no "+r.ContainerPath+"/Dockerfile)", "make base-image, or build the image")
		} else {
			ck.ok(name+" image", r.Image)
		}
	}
	if r.Network.Sandboxed() {
		checkSandbox(ctx, ck, cfg, r)
	} else {
		ck.warn(name+" sandbox", "network sandbox off: the agent has unrestricted network access and masked secrets do not work",
			"set repos."+r.ID+".network.sandbox_enabled: true and add "+sandbox.AllowlistPath)
	}
	if r.Email != nil && r.Email.MicrosoftOAuth2 != nil {
		checkMicrosoft(ctx, ck, r)
	}
	has := func(k string) bool { return r.Secrets[k] != "" || r.MaskedSecrets[k].Value != "" }
	if !has("ANTHROPIC_API_KEY") && !has("CLAUDE_CODE_OAUTH_TOKEN") && !unsetSecret(cfg, r.ID) {
		ck.fail(name+" credentials", "neither ANTHROPIC_API_KEY nor CLAUDE_CODE_OAUTH_TOKEN is in secrets or masked_secrets", "add ANTHROPIC_API_KEY: !env ANTHROPIC_API_KEY under repos."+r.ID+".secrets")
	}
}

// checkMicrosoft fetches a token of the repo's Microsoft 365 app, as the
// mailbox's logins will, and reads its permissions: a wrong tenant, app
// or secret shows here, and so does a missing IMAP or SMTP permission,
// which the platform does not refuse (only the login fails later).
func checkMicrosoft(ctx context.Context, ck *checker, r *config.Repo) {
	name := "repo " + r.ID + " mailbox"
	ms := r.Email.Microsoft()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := mailauth.OAuth2(r.Email.Account.Username, *ms).Token(tctx)
	if err != nil {
		var te *mailauth.TokenError
		fix := "check the network path to the Microsoft identity platform"
		if errors.As(err, &te) {
			fix = "fix repos." + r.ID + ".email.microsoft_oauth2 (see docs/email.md, Microsoft 365)"
		}
		ck.fail(name, err.Error(), fix)
		return
	}
	missing, err := mailauth.MissingRoles(tok)
	switch {
	case err != nil:
		ck.warn(name, "Microsoft 365 token fetched, but "+err.Error(), "")
	case len(missing) > 0:
		ck.fail(name, "the Microsoft 365 app's token lacks "+strings.Join(missing, " and ")+": logins will be refused",
			"grant the app "+strings.Join(missing, " and ")+" (Office 365 Exchange Online, application permissions) with admin consent")
	default:
		ck.ok(name, "Microsoft 365 token for "+r.Email.Account.Username+" (IMAP.AccessAsApp, SMTP.SendAsApp)")
	}
}

// checkSandbox reports whether the network sandbox can start for a repo:
// the proxy binary, and the allowlist on the default branch once the
// mirror exists.
func checkSandbox(ctx context.Context, ck *checker, cfg *config.Config, r *config.Repo) {
	name := "repo " + r.ID + " sandbox"
	bin, err := sandbox.ProxyBinary(cfg.Network.ProxyBinary)
	if err != nil {
		ck.fail(name, err.Error(), "make build (it builds bin/airut-proxy next to bin/airut), or set network.proxy_binary")
		return
	}
	m := &gitmirror.Mirror{URL: r.RepoURL, Dir: cfg.MirrorDir(r.ID)}
	if _, err := os.Stat(m.Dir); err != nil {
		ck.ok(name, "proxy "+bin+"; the allowlist is read at the first task")
		return
	}
	ok, err := sandbox.CheckAllowlist(ctx, m)
	switch {
	case err != nil:
		ck.fail(name, err.Error(), "fix "+sandbox.AllowlistPath+" on the default branch")
	case !ok:
		ck.fail(name, "no "+sandbox.AllowlistPath+" on the default branch: tasks will not run",
			"add the allowlist, or set repos."+r.ID+".network.sandbox_enabled: false")
	default:
		ck.ok(name, "proxy "+bin+", allowlist present")
	}
}

// checkRunningConfig reports, for each running process of the state dir,
// whether it has the file's current version (sha256 onDisk) in force; a
// refused reload or settings waiting for a restart are warnings (the
// process runs on with the version in force).
func checkRunningConfig(ck *checker, path, stateDir, onDisk string) {
	for _, ps := range runningProcesses(stateDir) {
		summary, pending := describeProcess(ps, onDisk)
		if len(pending) == 0 {
			ck.ok("running config", summary+": the file's current version")
			continue
		}
		fix := "fix " + path + " and save it, or send SIGHUP to reload it"
		if len(ps.NeedsRestart) > 0 && ps.LastError == "" {
			fix = "restart " + ps.Process + " to apply them"
		}
		ck.warn("running config", summary+": "+strings.Join(pending, "; "), fix)
	}
}
