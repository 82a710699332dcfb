package hostdeps

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The embedded list parses (mustParse would have panicked otherwise) and
// holds what the rest of the repository relies on by name.
func TestEmbeddedList(t *testing.T) {
	ps, err := Parse(programsTxt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(all) {
		t.Fatalf("parsed %d programs, the package holds %d", len(ps), len(all))
	}
	names := map[Set][]string{}
	for _, p := range ps {
		names[p.Set] = append(names[p.Set], p.Name)
	}
	// iptables is here because its absence broke every bridge network on
	// a bare machine; git and podman because `airut check` looks them up.
	for _, want := range []string{"git", "podman", "netavark", "iptables", "claude"} {
		if !slices.Contains(names[Runtime], want) {
			t.Errorf("runtime set lacks %s: %v", want, names[Runtime])
		}
	}
	if len(Programs(Test)) != len(ps) || len(Programs(Runtime)) != len(names[Runtime]) {
		t.Errorf("Programs: test set has %d of %d, runtime set %d of %d",
			len(Programs(Test)), len(ps), len(Programs(Runtime)), len(names[Runtime]))
	}
}

// Every line of the embedded file is well-formed by itself: Parse checks
// the whole, this names the line that is wrong.
func TestEmbeddedLinesWellFormed(t *testing.T) {
	for i, line := range strings.Split(programsTxt, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if _, err := Parse(line); err != nil {
			t.Errorf("line %d: %v", i+1, err)
		}
		// The script splits packages on commas with no spaces, and npm
		// packages need the npm: prefix it looks for.
		for _, pkg := range strings.Split(f[3], ",") {
			if strings.HasPrefix(pkg, "@") {
				t.Errorf("line %d: %s looks like an npm package without npm:", i+1, pkg)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []Program
		err        string
	}{
		{name: "comments and blank lines", text: "# c\n\n  # indented\n", want: nil},
		{
			name: "full line",
			text: "test gcc gcc|/usr/bin/gcc gcc,libc6-dev cgo for  the race detector\n",
			want: []Program{{Set: Test, Name: "gcc", Where: []string{"gcc", "/usr/bin/gcc"},
				Packages: []string{"gcc", "libc6-dev"}, Why: "cgo for the race detector"}},
		},
		{name: "too few columns", text: "runtime git git git", err: "line 1: want set"},
		{name: "unknown set", text: "build git git git why", err: `set "build"`},
		{name: "relative path", text: "runtime git bin/git git why", err: `where "bin/git"`},
		{name: "empty where", text: "runtime git git| git why", err: `where ""`},
		{name: "empty package", text: "runtime claude claude npm: why", err: "empty package"},
		{name: "duplicate", text: "runtime git git git a\ntest git git git b", err: "line 2: git is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Set != w.Set || g.Name != w.Name || g.Why != w.Why ||
					!slices.Equal(g.Where, w.Where) || !slices.Equal(g.Packages, w.Packages) {
					t.Errorf("got %+v, want %+v", g, w)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if err := os.WriteFile(filepath.Join(bin, "here"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "certs.crt")
	os.WriteFile(file, nil, 0o644)
	t.Setenv("PATH", bin)

	ps, err := Parse(`
runtime here      here                          here-pkg       on PATH
runtime second    nowhere|` + file + `          ca-certificates  the second place
runtime gone      gone|/nonexistent/gone        gone-pkg,libgone the apt package
runtime claude    claude                        npm:@anthropic-ai/claude-code the agent
`)
	if err != nil {
		t.Fatal(err)
	}
	rs := CheckPrograms(ps)
	for i, want := range []struct {
		path, install string
	}{
		{filepath.Join(bin, "here"), "apt-get install here-pkg"},
		{file, "apt-get install ca-certificates"},
		{"", "apt-get install gone-pkg libgone"},
		{"", "npm install -g @anthropic-ai/claude-code"},
	} {
		r := rs[i]
		if r.Path != want.path || r.OK() != (want.path != "") {
			t.Errorf("%s: path %q (ok %v), want %q", r.Program.Name, r.Path, r.OK(), want.path)
		}
		if got := r.Program.Install(); got != want.install {
			t.Errorf("%s: install %q, want %q", r.Program.Name, got, want.install)
		}
	}
}
