package githubaction

// These tests run the action here, without GitHub: action.yml is parsed
// and its steps are walked in order, as the runner would. Each run: step's
// script runs for real, with the env: action.yml gives it (its ${{ }}
// expressions evaluated against the test's inputs, event and the earlier
// steps' outputs) and GITHUB_OUTPUT, GITHUB_PATH, GITHUB_WORKSPACE and
// RUNNER_TEMP as the runner sets them. The uses: steps cannot run here;
// they are stood in for: actions/checkout clones a local "origin" at the
// ref action.yml asks for, actions/cache/restore and /save copy files to
// and from a directory keyed as action.yml keys them (directories, the Go
// caches, are too big to copy and are only recorded), and actions/setup-go
// checks that the Go on PATH is there. The sandbox steps need root and
// Podman (make test-deps) and the local base image, which TestMain builds
// (scripts/base-image.sh).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	// actionDir is this directory, the action's GITHUB_ACTION_PATH.
	actionDir string
	// repoRoot is the airut repository the action builds from.
	repoRoot string
	// noSandbox says why the steps that need root and Podman cannot run
	// here ("" when they can).
	noSandbox string
	// containerHost is the tests' own Podman API service, so the steps'
	// airut-sandbox runs neither start one nor stop one another process
	// uses.
	containerHost string
	// testID marks this process's images (a LABEL in the test
	// Dockerfile), so the first run is a cache miss and they can be
	// removed.
	testID string
)

const labelKey = "airut.test.githubaction"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	actionDir = filepath.Dir(file)
	repoRoot = filepath.Join(actionDir, "..", "..")
	b := make([]byte, 4)
	rand.Read(b)
	testID = hex.EncodeToString(b)

	switch {
	case os.Geteuid() != 0:
		noSandbox = "needs root (rootful Podman), as on a runner through sudo"
	case !onPath("podman"):
		noSandbox = "needs podman (make test-deps)"
	}
	if noSandbox != "" {
		return m.Run()
	}
	base := exec.Command(filepath.Join(repoRoot, "scripts", "base-image.sh"))
	base.Stdout, base.Stderr = os.Stderr, os.Stderr
	if err := base.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "scripts/base-image.sh:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "airut-github-action-podman-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	sock := filepath.Join(tmp, "podman.sock")
	svc := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	// Its chatter (idle connections, image copies) would drown the
	// steps' output; it is kept in a file for when something fails.
	svcLog, err := os.Create(filepath.Join(tmp, "podman-service.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer svcLog.Close()
	svc.Stdout, svc.Stderr = svcLog, svcLog
	if err := svc.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "podman system service:", err)
		return 1
	}
	defer func() {
		svc.Process.Signal(syscall.SIGTERM)
		svc.Wait()
	}()
	containerHost = "unix://" + sock
	for deadline := time.Now().Add(30 * time.Second); ; {
		if exec.Command("podman", "--url", containerHost, "version").Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "the podman service did not answer at", containerHost)
			return 1
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer removeTestImages()
	code := m.Run()
	if code != 0 {
		if data, err := os.ReadFile(svcLog.Name()); err == nil && len(data) > 0 {
			fmt.Fprintf(os.Stderr, "the tests' podman service said:\n%s", tail(string(data), 40))
		}
	}
	return code
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "") + "\n"
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// testImages lists the images of this process's Dockerfile (its repo
// layer and the overlay on it, which inherits the label).
func testImages() []string {
	out, _ := exec.Command("podman", "images", "-q", "--filter", "label="+labelKey+"="+testID).Output()
	return strings.Fields(string(out))
}

func removeTestImages() {
	if ids := testImages(); len(ids) > 0 {
		exec.Command("podman", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
}

func needSandbox(t *testing.T) {
	t.Helper()
	if noSandbox != "" {
		t.Skip("the sandbox steps " + noSandbox)
	}
}

// --- action.yml --------------------------------------------------------

type input struct {
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
	Default     string `yaml:"default"`
}

type step struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	With  map[string]string `yaml:"with"`
}

type action struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Inputs      map[string]input `yaml:"inputs"`
	Outputs     map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

func loadAction(t *testing.T) *action {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(actionDir, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a action
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return &a
}

// runLine is the only form a run: may take: one script of steps/.
var runLine = regexp.MustCompile(`^"\$GITHUB_ACTION_PATH/steps/([a-z][a-z0-9-]*\.sh)"$`)

// exprRef finds the contexts an expression reads.
var exprRef = regexp.MustCompile(`\b(inputs|steps|github|runner)\.([A-Za-z0-9_.-]+)`)

func (s step) label() string {
	for _, v := range []string{s.ID, s.Name, s.Uses} {
		if v != "" {
			return v
		}
	}
	return strings.TrimSpace(s.Run)
}

// TestActionFile checks action.yml without running anything: every run:
// step only calls an existing, executable steps/*.sh (and every such
// script is called), passes its inputs through env: (no ${{ }} in any
// run: text, where it would be shell injection), reads only declared
// inputs and earlier steps' outputs, saves the caches before the pull
// request's code runs, and ends with the run step.
func TestActionFile(t *testing.T) {
	a := loadAction(t)
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite", a.Runs.Using)
	}
	for name, want := range map[string]string{"merge": "true", "max-image-age": "168", "cache-version": "", "network-log": ""} {
		in, ok := a.Inputs[name]
		if !ok {
			t.Errorf("input %s missing", name)
		} else if in.Default != want {
			t.Errorf("input %s defaults to %q, want %q", name, in.Default, want)
		}
	}
	if !a.Inputs["command"].Required {
		t.Error("input command is not required")
	}

	steps := a.Runs.Steps
	if len(steps) == 0 {
		t.Fatal("no steps")
	}
	ids := map[string]int{}
	called := map[string]bool{}
	runIndex := -1
	for i, s := range steps {
		if s.ID != "" {
			if _, dup := ids[s.ID]; dup {
				t.Errorf("step id %s twice", s.ID)
			}
			ids[s.ID] = i
		}
		if (s.Run == "") == (s.Uses == "") {
			t.Errorf("step %s: want exactly one of run: and uses:", s.label())
			continue
		}
		// Every expression reads a declared input or an earlier step's
		// output.
		texts := []string{s.If}
		for _, m := range []map[string]string{s.Env, s.With} {
			for _, v := range m {
				texts = append(texts, v)
			}
		}
		for _, text := range texts {
			for _, ref := range exprRef.FindAllStringSubmatch(text, -1) {
				switch ref[1] {
				case "inputs":
					if _, ok := a.Inputs[ref[2]]; !ok {
						t.Errorf("step %s reads undeclared input %s", s.label(), ref[2])
					}
				case "steps":
					id, rest, _ := strings.Cut(ref[2], ".")
					if j, ok := ids[id]; !ok || j >= i {
						t.Errorf("step %s reads steps.%s, not an earlier step", s.label(), id)
					}
					if !strings.HasPrefix(rest, "outputs.") {
						t.Errorf("step %s reads steps.%s: only outputs are read", s.label(), ref[2])
					}
				}
			}
		}
		if s.Uses != "" {
			if !regexp.MustCompile(`^actions/(checkout|setup-go|cache/restore|cache/save)@v\d+$`).MatchString(s.Uses) {
				t.Errorf("step uses %s: the test stands in only for actions/checkout, setup-go and cache", s.Uses)
			}
			if strings.HasPrefix(s.Uses, "actions/checkout@") {
				if s.With["persist-credentials"] != "false" {
					t.Errorf("actions/checkout: persist-credentials = %q, want false: no credentials in the workspace the sandbox mounts", s.With["persist-credentials"])
				}
				if !strings.Contains(s.With["ref"], "github.event.pull_request.base.ref") {
					t.Errorf("actions/checkout: ref = %q, want the base branch: its .airut/ is the trusted one", s.With["ref"])
				}
			}
			if strings.HasPrefix(s.Uses, "actions/cache/save@") && runIndex >= 0 {
				t.Errorf("a cache is saved after the run step: the pull request's code could poison it")
			}
			continue
		}
		if strings.Contains(s.Run, "${{") {
			t.Errorf("step %s: ${{ }} in run: is shell injection; pass the value through env:", s.label())
		}
		if s.Shell != "bash" {
			t.Errorf("step %s: shell = %q, want bash", s.label(), s.Shell)
		}
		m := runLine.FindStringSubmatch(strings.TrimSpace(s.Run))
		if m == nil {
			t.Errorf("step %s: run: %q must only call \"$GITHUB_ACTION_PATH/steps/NAME.sh\"", s.label(), s.Run)
			continue
		}
		called[m[1]] = true
		checkScript(t, m[1])
		if m[1] == "run.sh" {
			runIndex = i
		}
	}
	if runIndex != len(steps)-1 {
		t.Errorf("the last step is %s, want the run step (steps/run.sh): after it the workspace holds the pull request's leftovers", steps[len(steps)-1].label())
	}
	scripts, _ := filepath.Glob(filepath.Join(actionDir, "steps", "*.sh"))
	for _, p := range scripts {
		if name := filepath.Base(p); name != "lib.sh" && !called[name] {
			t.Errorf("steps/%s is no step's script", name)
		}
	}
	for name, out := range a.Outputs {
		for _, ref := range exprRef.FindAllStringSubmatch(out.Value, -1) {
			if id, _, _ := strings.Cut(ref[2], "."); ref[1] == "steps" && !hasKey(ids, id) {
				t.Errorf("output %s reads unknown step %s", name, id)
			}
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// checkScript: the step's script exists, is executable, is bash with
// errexit, nounset and pipefail, and parses.
func checkScript(t *testing.T, name string) {
	t.Helper()
	p := filepath.Join(actionDir, "steps", name)
	st, err := os.Stat(p)
	if err != nil {
		t.Errorf("steps/%s: %v", name, err)
		return
	}
	if st.Mode()&0o111 != 0o111 {
		t.Errorf("steps/%s is not executable (mode %v)", name, st.Mode())
	}
	data, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(data), "#!/usr/bin/env bash\n") {
		t.Errorf("steps/%s does not start with #!/usr/bin/env bash", name)
	}
	if !strings.Contains(string(data), "\nset -euo pipefail\n") {
		t.Errorf("steps/%s does not set -euo pipefail", name)
	}
	if out, err := exec.Command("bash", "-n", p).CombinedOutput(); err != nil {
		t.Errorf("steps/%s: bash -n: %v\n%s", name, err, out)
	}
}

// --- a job, as the runner runs the action -------------------------------

// job walks the action's steps once, as one job on a fresh runner.
type job struct {
	t        *testing.T
	a        *action
	inputs   map[string]string
	context  map[string]string // github.* and runner.* values
	outputs  map[string]map[string]string
	env      []string // the base environment of every script
	temp     string   // RUNNER_TEMP
	work     string   // GITHUB_WORKSPACE
	pathFile string   // GITHUB_PATH
	origin   string   // what actions/checkout clones
	cache    *cacheStore
	// before runs before the step of that id (if it runs).
	before map[string]func()
	// ran holds the ids (or labels) of the steps that ran, skipped those
	// that did not; out the output of each script step by id.
	ran, skipped []string
	out          map[string]string
}

type event struct {
	prSHA, baseRef, refName string
}

func newJob(t *testing.T, inputs map[string]string, ev event, origin string, cache *cacheStore) *job {
	t.Helper()
	a := loadAction(t)
	root := t.TempDir()
	j := &job{
		t: t, a: a, inputs: map[string]string{}, outputs: map[string]map[string]string{},
		temp: filepath.Join(root, "runner-temp"), work: filepath.Join(root, "workspace"),
		pathFile: filepath.Join(root, "github-path"), origin: origin, cache: cache,
		before: map[string]func(){}, out: map[string]string{},
	}
	for _, d := range []string{j.temp, j.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(j.pathFile, nil, 0o644)
	j.context = map[string]string{
		"github.action_path":                 actionDir,
		"github.token":                       "test-token-never-used",
		"github.event.pull_request.head.sha": ev.prSHA,
		"github.event.pull_request.base.ref": ev.baseRef,
		"github.ref_name":                    ev.refName,
		"runner.temp":                        j.temp,
		"runner.os":                          "Linux",
		"runner.arch":                        "X64",
	}
	for name, in := range a.Inputs {
		v, given := inputs[name]
		if !given {
			if in.Required {
				t.Fatalf("input %s is required", name)
			}
			v = j.expand(in.Default)
		}
		j.inputs[name] = v
	}
	for name := range inputs {
		if _, ok := a.Inputs[name]; !ok {
			t.Fatalf("the test gives input %s, which action.yml does not declare", name)
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "RUNNER_") || k == "CONTAINER_HOST" || k == "PATH" {
			continue
		}
		j.env = append(j.env, kv)
	}
	j.env = append(j.env,
		"GITHUB_ACTIONS=true",
		"GITHUB_ACTION_PATH="+actionDir,
		"GITHUB_WORKSPACE="+j.work,
		"GITHUB_PATH="+j.pathFile,
		"GITHUB_SERVER_URL=https://github.com",
		"RUNNER_TEMP="+j.temp,
		"RUNNER_OS=Linux",
		"RUNNER_ARCH=X64",
	)
	if containerHost != "" {
		j.env = append(j.env, "CONTAINER_HOST="+containerHost)
	}
	return j
}

var exprPattern = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// expand evaluates the ${{ }} expressions in s.
func (j *job) expand(s string) string {
	return exprPattern.ReplaceAllStringFunc(s, func(m string) string {
		return j.eval(exprPattern.FindStringSubmatch(m)[1])
	})
}

// eval evaluates the expressions action.yml uses: a context value, a
// quoted string, or `a || b` (the first that is not empty).
func (j *job) eval(expr string) string {
	for _, alt := range strings.Split(expr, "||") {
		if v := j.value(strings.TrimSpace(alt)); v != "" {
			return v
		}
	}
	return ""
}

func (j *job) value(p string) string {
	j.t.Helper()
	if len(p) >= 2 && p[0] == '\'' && p[len(p)-1] == '\'' {
		return p[1 : len(p)-1]
	}
	if name, ok := strings.CutPrefix(p, "inputs."); ok {
		v, ok := j.inputs[name]
		if !ok {
			j.t.Fatalf("expression %q: no such input", p)
		}
		return v
	}
	if rest, ok := strings.CutPrefix(p, "steps."); ok {
		id, name, _ := strings.Cut(rest, ".outputs.")
		return j.outputs[id][name] // a skipped step's outputs are empty
	}
	v, ok := j.context[p]
	if !ok {
		j.t.Fatalf("expression %q: the test does not know this context value", p)
	}
	return v
}

var comparison = regexp.MustCompile(`^(\S+)\s*(==|!=)\s*'([^']*)'$`)

// cond evaluates an if: as GitHub does for the forms action.yml uses:
// comparisons with a string, joined by && and || (&& binds tighter).
func (j *job) cond(s string) bool {
	j.t.Helper()
	s = strings.TrimSpace(s)
	if s == "" {
		return true
	}
	if m := exprPattern.FindStringSubmatch(s); m != nil && m[0] == s {
		s = m[1]
	}
	for _, alt := range strings.Split(s, "||") {
		all := true
		for _, c := range strings.Split(alt, "&&") {
			m := comparison.FindStringSubmatch(strings.TrimSpace(c))
			if m == nil {
				j.t.Fatalf("if: %q: the test evaluates only X == 'v' and X != 'v'", c)
			}
			if (j.value(m[1]) == m[3]) != (m[2] == "==") {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

// path is PATH as the runner makes it: GITHUB_PATH's lines, the latest
// first, before the job's own.
func (j *job) path() string {
	data, _ := os.ReadFile(j.pathFile)
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			dirs = append([]string{l}, dirs...)
		}
	}
	return strings.Join(append(dirs, os.Getenv("PATH")), ":")
}

// walk runs the steps up to and including the one with id last (all of
// them if last is ""), and returns the exit code of the last script
// step. A script step before the last that fails fails the test.
func (j *job) walk(last string) int {
	j.t.Helper()
	code := 0
	for i, s := range j.a.Runs.Steps {
		if !j.cond(s.If) {
			j.skipped = append(j.skipped, s.label())
		} else {
			if f := j.before[s.ID]; f != nil {
				f()
			}
			j.ran = append(j.ran, s.label())
			if s.Run != "" {
				code = j.script(s, i == len(j.a.Runs.Steps)-1 || s.ID == last)
			} else {
				j.uses(s)
			}
		}
		if last != "" && s.ID == last {
			break
		}
	}
	return code
}

// script runs a run: step's script as the runner would. Unless mayFail,
// a non-zero exit fails the test.
func (j *job) script(s step, mayFail bool) int {
	t := j.t
	t.Helper()
	name := runLine.FindStringSubmatch(strings.TrimSpace(s.Run))
	if name == nil {
		t.Fatalf("step %s: run: %q", s.label(), s.Run)
	}
	outFile := filepath.Join(j.temp, "_output_"+s.ID)
	os.WriteFile(outFile, nil, 0o644)
	env := append(slices.Clone(j.env), "GITHUB_OUTPUT="+outFile, "PATH="+j.path())
	for k, v := range s.Env {
		env = append(env, k+"="+j.expand(v))
	}
	cmd := exec.Command("bash", "-c", s.Run) // as the runner: bash runs the run: text
	cmd.Env = env
	cmd.Dir = j.work
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("step %s: %v", s.label(), err)
		}
		code = ee.ExitCode()
	}
	t.Logf("step %s (steps/%s): exit %d after %s\n%s", s.label(), name[1], code, time.Since(start).Round(time.Millisecond), indent(out.String()))
	j.out[s.ID] = out.String()
	if code != 0 && !mayFail {
		t.Fatalf("step %s failed (exit %d)", s.label(), code)
	}
	j.outputs[s.ID] = readOutputs(t, outFile)
	return code
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// readOutputs reads a GITHUB_OUTPUT file: NAME=VALUE lines and
// NAME<<DELIMITER blocks.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	outs := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			outs[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is neither NAME=VALUE nor NAME<<DELIMITER", line)
		}
		outs[name] = val
	}
	return outs
}

// uses stands in for an action step.
func (j *job) uses(s step) {
	t := j.t
	t.Helper()
	with := map[string]string{}
	for k, v := range s.With {
		with[k] = j.expand(v)
	}
	action, _, _ := strings.Cut(s.Uses, "@")
	switch action {
	case "actions/setup-go":
		if !regexp.MustCompile(`^\d+\.\d+(\.\d+)?$`).MatchString(with["go-version"]) {
			t.Fatalf("setup-go: go-version %q is not a Go version", with["go-version"])
		}
		if !onPath("go") {
			t.Fatal("setup-go: no go on PATH here to stand in for it")
		}
		t.Logf("step %s: Go %s wanted; the Go on PATH stands in", s.label(), with["go-version"])
	case "actions/checkout":
		// fetch-depth 0: a full clone of the branch (not the pull
		// request's refs, which the fetch step brings).
		git(t, "", "clone", "--quiet", "--branch", with["ref"], j.origin, j.work)
		t.Logf("step %s: cloned %s at %s into the workspace", s.label(), j.origin, with["ref"])
	case "actions/cache/restore":
		hit := j.cache.restore(t, with["key"], with["path"])
		if hit {
			j.outputs[s.ID] = map[string]string{"cache-hit": "true", "cache-primary-key": with["key"], "cache-matched-key": with["key"]}
		} else {
			// As actions/cache/restore: on a miss cache-hit is not set.
			j.outputs[s.ID] = map[string]string{"cache-primary-key": with["key"]}
		}
		t.Logf("step %s: key %s: hit %v", s.label(), with["key"], hit)
	case "actions/cache/save":
		j.cache.save(t, with["key"], with["path"])
		t.Logf("step %s: saved key %s", s.label(), with["key"])
	default:
		t.Fatalf("no stand-in for %s", s.Uses)
	}
}

// cacheStore stands in for the Actions cache: entries by key, never
// overwritten.
type cacheStore struct {
	dir  string
	mu   sync.Mutex
	keys []string
}

func (c *cacheStore) entry(key string) string {
	return filepath.Join(c.dir, hex.EncodeToString([]byte(key)))
}

func cachePaths(t *testing.T, key, paths string) []string {
	t.Helper()
	if key == "" {
		t.Fatal("cache: empty key (actions/cache fails: key is required)")
	}
	var ps []string
	for _, p := range strings.Split(paths, "\n") {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		t.Fatal("cache: no path")
	}
	return ps
}

func (c *cacheStore) restore(t *testing.T, key, paths string) bool {
	ps := cachePaths(t, key, paths)
	e := c.entry(key)
	if _, err := os.Stat(e); err != nil {
		return false
	}
	for i, p := range ps {
		src := filepath.Join(e, fmt.Sprint(i))
		if _, err := os.Stat(src); err != nil {
			continue // a directory, recorded only
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		copyFile(t, src, p)
	}
	return true
}

func (c *cacheStore) save(t *testing.T, key, paths string) {
	ps := cachePaths(t, key, paths)
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	if _, err := os.Stat(e); err == nil {
		t.Logf("cache: %s exists; not saved again (as actions/cache/save)", key)
		return
	}
	os.MkdirAll(e, 0o755)
	for i, p := range ps {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("cache save %s: %v (actions/cache/save would save nothing)", key, err)
		}
		if st.IsDir() {
			continue // the Go caches: too big to copy here
		}
		copyFile(t, p, filepath.Join(e, fmt.Sprint(i)))
	}
	c.keys = append(c.keys, key)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// --- the tests that run the steps ---------------------------------------

// TestInputErrors: the prepare step refuses bad inputs before anything is
// installed, saying which input and why.
func TestInputErrors(t *testing.T) {
	for _, tc := range []struct {
		inputs map[string]string
		want   string
	}{
		{map[string]string{"command": "true", "merge": "yes"}, "merge must be true or false"},
		{map[string]string{"command": "true", "max-image-age": "1w"}, "max-image-age must be a whole number"},
		{map[string]string{"command": "true", "cache-version": "a b"}, "cache-version goes into cache keys"},
	} {
		j := newJob(t, tc.inputs, event{}, "", nil)
		if code := j.walk("prepare"); code == 0 {
			t.Errorf("inputs %v: prepare passed", tc.inputs)
		}
		if !strings.Contains(j.out["prepare"], tc.want) || !strings.Contains(j.out["prepare"], "::error") {
			t.Errorf("inputs %v: prepare said %q, want an ::error with %q", tc.inputs, j.out["prepare"], tc.want)
		}
	}
	j := newJob(t, map[string]string{"command": "true"}, event{}, "", nil)
	j.walk("prepare")
	gomod, _ := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if v := j.outputs["prepare"]["go-version"]; v == "" || !strings.Contains(string(gomod), "go "+v) && !strings.Contains(string(gomod), "toolchain go"+v) {
		t.Errorf("prepare: go-version %q is not go.mod's", v)
	}
	if src := j.outputs["prepare"]["src"]; src != filepath.Clean(repoRoot) {
		t.Errorf("prepare: src %q, want the repository %s", src, repoRoot)
	}
}

// TestInstall runs the install step (scripts/install-deps.sh runtime, then
// the builds) as the action does, and checks airut-sandbox and the static
// airut-proxy land in the bin directory, which is on the PATH the step
// wrote to GITHUB_PATH.
func TestInstall(t *testing.T) {
	needSandbox(t)
	j := newJob(t, map[string]string{"command": "true"}, event{}, "", &cacheStore{dir: t.TempDir()})
	start := time.Now()
	j.walk("install")
	t.Logf("prepare to install took %s", time.Since(start).Round(time.Millisecond))
	if !slices.Contains(j.ran, "install") {
		t.Fatalf("the install step did not run: ran %v", j.ran)
	}
	bin := j.outputs["prepare"]["bin"]
	if !strings.HasPrefix(bin, j.temp+"/") {
		t.Errorf("bin %s is not in RUNNER_TEMP %s", bin, j.temp)
	}
	data, _ := os.ReadFile(j.pathFile)
	if strings.TrimSpace(string(data)) != bin {
		t.Errorf("GITHUB_PATH = %q, want the bin directory %s", data, bin)
	}
	for _, name := range []string{"airut-sandbox", "airut-proxy"} {
		cmd := exec.Command("bash", "-c", "command -v "+name)
		cmd.Env = append(slices.Clone(j.env), "PATH="+j.path())
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != filepath.Join(bin, name) {
			t.Errorf("%s on the PATH the step wrote: %q (%v), want %s", name, got, err, filepath.Join(bin, name))
		}
	}
	f, err := elf.Open(filepath.Join(bin, "airut-proxy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("airut-proxy is dynamically linked; the proxy image needs it static")
		}
	}
	help, err := exec.Command(filepath.Join(bin, "airut-sandbox"), "image", "--help").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^\s+hash\s`).Match(help) || !regexp.MustCompile(`(?m)^\s+save\s`).Match(help) || !regexp.MustCompile(`(?m)^\s+load\s`).Match(help) {
		t.Errorf("airut-sandbox image --help: %v\n%s", err, help)
	}
}

// makeOrigin makes the repository a pull request is against: main with
// .airut/ (a Dockerfile on the local base image, an allowlist that allows
// nothing), a pull request branched from it (refs/pull/1/head, as GitHub
// keeps it), and main moved on since, so merging needs a merge commit.
func makeOrigin(t *testing.T) (origin, prSHA string) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	origin = filepath.Join(root, "origin.git")
	git(t, "", "init", "--quiet", "-b", "main", src)
	files := map[string]string{
		".airut/container/Dockerfile":   "FROM localhost/airut-base:latest\nLABEL " + labelKey + "=" + testID + "\n",
		".airut/network-allowlist.yaml": "domains: []\n",
		"README.md":                     "the base branch\n",
	}
	for name, content := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, src, "add", "-A")
	git(t, src, "commit", "--quiet", "-m", "base")
	git(t, src, "checkout", "--quiet", "-b", "pr")
	os.WriteFile(filepath.Join(src, "pr.txt"), []byte("from the pull request\n"), 0o644)
	git(t, src, "add", "pr.txt")
	git(t, src, "commit", "--quiet", "-m", "the pull request")
	prSHA = git(t, src, "rev-parse", "HEAD")
	git(t, src, "checkout", "--quiet", "main")
	os.WriteFile(filepath.Join(src, "base2.txt"), []byte("main moved on\n"), 0o644)
	git(t, src, "add", "base2.txt")
	git(t, src, "commit", "--quiet", "-m", "main moves on")
	git(t, "", "init", "--quiet", "--bare", "-b", "main", origin)
	git(t, src, "push", "--quiet", origin, "main", "pr:refs/pull/1/head")
	return origin, prSHA
}

// runnerUID owns the checkout before the run step, as the runner user
// owns it on GitHub while the container runs as root: git in the
// container must still work there.
const runnerUID = 1001

func chownTree(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
	}
	return strings.TrimSpace(string(data))
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{12,}$`)

// TestPullRequest walks the whole action twice for a pull request, as two
// jobs on fresh runners sharing one cache:
//
//  1. merge (the default), an empty cache: the images are built and saved
//     by the action's keys, the pull request is merged in the sandbox, the
//     command runs there (what it writes in /workspace is in the
//     checkout; its request to a host the allowlist lacks is blocked and
//     logged) and its exit code, 3, is the step's;
//  2. merge: false, with the images removed from Podman: both cache keys
//     hit, load brings the images back, nothing is saved, the pull
//     request's head is checked out and the command's 0 is the step's.
func TestPullRequest(t *testing.T) {
	needSandbox(t)
	origin, prSHA := makeOrigin(t)
	cache := &cacheStore{dir: t.TempDir()}
	ev := event{prSHA: prSHA, baseRef: "main", refName: "1/merge"}

	// 1: merge, cache miss.
	start := time.Now()
	j := newJob(t, map[string]string{
		"command": `git rev-parse HEAD^2 > merged-parent.txt
cat pr.txt base2.txt > both.txt
curl -s -o /dev/null -w '%{http_code}' https://example.com/ > blocked.txt || true
echo "the command ran as $(id -u) in $PWD"
exit 3`,
	}, ev, origin, cache)
	j.before["run"] = func() { chownTree(t, j.work, runnerUID) }
	code := j.walk("")
	t.Logf("job 1 (merge, cache miss) took %s", time.Since(start).Round(time.Millisecond))

	h := j.outputs["hash"]
	if !hexHash.MatchString(h["repo"]) || !hexHash.MatchString(h["proxy"]) {
		t.Errorf("hash outputs repo=%q proxy=%q: want hex hashes", h["repo"], h["proxy"])
	}
	if !strings.HasPrefix(h["repo-key"], "airut-repo-"+h["repo"]+"-X64-p") || h["proxy-key"] != "airut-proxy-"+h["proxy"]+"-X64" {
		t.Errorf("cache keys %q and %q do not name the hashes", h["repo-key"], h["proxy-key"])
	}
	if !slices.Contains(j.ran, "save") {
		t.Errorf("the save step did not run on a cache miss (ran %v)", j.ran)
	}
	for _, name := range []string{"repo.tar", "proxy.tar"} {
		if st, err := os.Stat(filepath.Join(h["dir"], name)); err != nil || st.Size() == 0 {
			t.Errorf("save wrote no %s: %v", name, err)
		}
	}
	for _, key := range []string{h["repo-key"], h["proxy-key"]} {
		if !slices.Contains(cache.keys, key) {
			t.Errorf("cache key %s was not saved (saved: %v)", key, cache.keys)
		}
	}
	if code != 3 {
		t.Errorf("the run step exited %d, want the command's 3", code)
	}
	if got := readFile(t, filepath.Join(j.work, "merged-parent.txt")); got != prSHA {
		t.Errorf("HEAD^2 in the sandbox = %q, want the pull request's head %s (a merge)", got, prSHA)
	}
	if got := readFile(t, filepath.Join(j.work, "both.txt")); got != "from the pull request\nmain moved on" {
		t.Errorf("both.txt = %q: want the pull request's file and the base's", got)
	}
	if got := readFile(t, filepath.Join(j.work, "blocked.txt")); got != "403" {
		t.Errorf("a request to a host the allowlist lacks got %q, want the proxy's 403", got)
	}
	if _, err := os.Stat(filepath.Join(j.work, ".git")); !os.IsNotExist(err) {
		t.Errorf("the checkout's .git is still there after the run (%v): a host git could run what the pull request wrote into it", err)
	}
	if _, err := os.Stat(filepath.Join(j.temp, "airut-sandbox-state")); !os.IsNotExist(err) {
		t.Errorf("the sandbox's state directory (its CA) is still in RUNNER_TEMP after the run (%v)", err)
	}
	netLog := j.expand(j.a.Outputs["network-log"].Value)
	if strings.HasPrefix(netLog, j.work+"/") || !strings.HasPrefix(netLog, j.temp+"/") {
		t.Errorf("network-log output %q: want a file in RUNNER_TEMP, outside the workspace", netLog)
	}
	if log := readFile(t, netLog); !strings.Contains(log, "example.com") {
		t.Errorf("the network log does not have the blocked request:\n%s", log)
	}
	run := j.out["run"]
	stop := regexp.MustCompile(`(?m)^::stop-commands::([0-9a-f]{32})$`).FindStringSubmatch(run)
	if stop == nil || !strings.Contains(run, "\n::"+stop[1]+"::\n") || strings.Index(run, "the command ran as") < strings.Index(run, stop[0]) {
		t.Errorf("workflow commands are not stopped around the command's output:\n%s", run)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 2: checkout, cache hit, images gone from Podman.
	removeTestImages()
	if ids := testImages(); len(ids) != 0 {
		t.Fatalf("could not remove the test images %v", ids)
	}
	start = time.Now()
	j = newJob(t, map[string]string{
		"command": `git rev-parse HEAD > head.txt
test ! -e base2.txt
echo ok > ok.txt`,
		"merge": "false",
	}, ev, origin, cache)
	var loaded []string
	j.before["run"] = func() {
		loaded = testImages()
		chownTree(t, j.work, runnerUID)
	}
	code = j.walk("")
	t.Logf("job 2 (checkout, cache hit) took %s", time.Since(start).Round(time.Millisecond))
	for _, id := range []string{"restore-repo", "restore-proxy"} {
		if j.outputs[id]["cache-hit"] != "true" {
			t.Errorf("%s: no cache hit", id)
		}
	}
	if !slices.Contains(j.skipped, "save") {
		t.Errorf("the save step ran on a cache hit (ran %v)", j.ran)
	}
	if len(loaded) == 0 {
		t.Errorf("after the load step Podman has no image of the test Dockerfile; load said:\n%s", j.out["load"])
	}
	if code != 0 {
		t.Errorf("the run step exited %d, want 0", code)
	}
	if got := readFile(t, filepath.Join(j.work, "head.txt")); got != prSHA {
		t.Errorf("HEAD in the sandbox = %q, want the pull request's head %s (checked out)", got, prSHA)
	}
	if got := readFile(t, filepath.Join(j.work, "ok.txt")); got != "ok" {
		t.Errorf("ok.txt = %q", got)
	}
}
