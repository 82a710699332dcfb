// Package importguard reads the imports of a package's source files, for
// tests that keep a package's dependencies what its design says (the
// proxy's small list, workflow code without I/O, activities that never
// reach up into the command or the listeners). It is for tests only.
package importguard

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Import is one import of one non-test source file.
type Import struct {
	File string
	Path string
}

// Imports lists the imports of the non-test Go files in dir. It fails the
// test when dir has none, so a guard cannot pass by reading nothing.
func Imports(t testing.TB, dir string) []Import {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []Import
	read := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("read imports of %s: %v", file, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			out = append(out, Import{File: file, Path: path})
		}
		read++
	}
	if read == 0 {
		t.Fatalf("no Go source files in %s", dir)
	}
	return out
}

// Standard reports whether path is in the standard library (its first
// element has no dot).
func Standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
