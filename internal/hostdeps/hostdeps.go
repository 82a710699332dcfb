// Package hostdeps knows the programs Airut and its tests run on the host
// and the Debian package that brings each. The list lives in programs.txt,
// which scripts/install-deps.sh reads to install what is missing; this
// package embeds the same file so that `airut check` can say which program
// is missing and how to install it, and so that the fresh-root test
// (make test-fresh-root) can assert the script installed every one.
package hostdeps

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

//go:embed programs.txt
var programsTxt string

// Set is the column that says when a program is needed.
type Set string

const (
	// Runtime programs are needed to run Airut.
	Runtime Set = "runtime"
	// Test programs are needed, on top of the runtime ones, to run the tests.
	Test Set = "test"
)

// Program is one line of programs.txt.
type Program struct {
	Set  Set
	Name string
	// Where lists the places the program is looked for: a name looked up
	// on PATH, or an absolute path that must exist.
	Where []string
	// Packages bring the program: Debian packages, or npm:NAME for the
	// npm registry.
	Packages []string
	Why      string
}

// Result says whether a program was found, and where.
type Result struct {
	Program Program
	// Path is where the program was found, empty if it was not.
	Path string
}

// OK reports whether the program was found.
func (r Result) OK() bool { return r.Path != "" }

// all is the embedded list. It is parsed once at start-up: a malformed
// line is a bug in this repository, which the unit tests catch.
var all = mustParse(programsTxt)

func mustParse(text string) []Program {
	ps, err := Parse(text)
	if err != nil {
		panic("hostdeps: programs.txt: " + err.Error())
	}
	return ps
}

// Parse reads a list in the format of programs.txt: whitespace-separated
// columns set, program, where (|-separated), packages (comma-separated)
// and a free-text reason; blank lines and lines starting with # are
// skipped.
func Parse(text string) ([]Program, error) {
	var ps []Program
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("line %d: want set, program, where, packages and why, got %q", i+1, line)
		}
		p := Program{
			Set:      Set(f[0]),
			Name:     f[1],
			Where:    strings.Split(f[2], "|"),
			Packages: strings.Split(f[3], ","),
			Why:      strings.Join(f[4:], " "),
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("line %d: %s is listed twice", i+1, p.Name)
		}
		seen[p.Name] = true
		ps = append(ps, p)
	}
	return ps, nil
}

func (p Program) validate() error {
	if p.Set != Runtime && p.Set != Test {
		return fmt.Errorf("%s: set %q is neither runtime nor test", p.Name, p.Set)
	}
	for _, w := range p.Where {
		// A relative path would depend on the working directory, and a
		// name with a slash is not looked up on PATH.
		if w == "" || !strings.HasPrefix(w, "/") && strings.Contains(w, "/") {
			return fmt.Errorf("%s: where %q is neither a name nor an absolute path", p.Name, w)
		}
	}
	for _, pkg := range p.Packages {
		if name := strings.TrimPrefix(pkg, "npm:"); name == "" {
			return fmt.Errorf("%s: empty package name", p.Name)
		}
	}
	return nil
}

// Programs returns the programs of a set from the embedded list. The test
// set includes the runtime programs, as `install-deps.sh test` does.
func Programs(set Set) []Program {
	var ps []Program
	for _, p := range all {
		if p.Set == Runtime || set == Test {
			ps = append(ps, p)
		}
	}
	return ps
}

// Check looks for every program of a set (see Programs).
func Check(set Set) []Result { return CheckPrograms(Programs(set)) }

// CheckPrograms looks for each program at the places it lists, in order.
func CheckPrograms(ps []Program) []Result {
	rs := make([]Result, len(ps))
	for i, p := range ps {
		rs[i] = Result{Program: p, Path: p.locate()}
	}
	return rs
}

func (p Program) locate() string {
	for _, w := range p.Where {
		if strings.HasPrefix(w, "/") {
			if _, err := os.Stat(w); err == nil {
				return w
			}
			continue
		}
		if path, err := exec.LookPath(w); err == nil {
			return path
		}
	}
	return ""
}

// Install is the command that installs the program's packages, e.g.
// "apt-get install gcc libc6-dev" or
// "npm install -g @anthropic-ai/claude-code".
func (p Program) Install() string {
	var apt, npm []string
	for _, pkg := range p.Packages {
		if name, ok := strings.CutPrefix(pkg, "npm:"); ok {
			npm = append(npm, name)
		} else {
			apt = append(apt, pkg)
		}
	}
	var cmds []string
	if len(apt) > 0 {
		cmds = append(cmds, "apt-get install "+strings.Join(apt, " "))
	}
	if len(npm) > 0 {
		cmds = append(cmds, "npm install -g "+strings.Join(npm, " "))
	}
	return strings.Join(cmds, "; ")
}
