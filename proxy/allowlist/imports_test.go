package allowlist

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundary keeps this security-boundary package small: its
// non-test files may import only the standard library and yaml.v3.
func TestImportBoundary(t *testing.T) {
	checkImports(t, map[string]bool{"gopkg.in/yaml.v3": true})
}

func checkImports(t *testing.T, allowed map[string]bool) {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") || allowed[path] {
				continue // standard library, or explicitly allowed
			}
			t.Errorf("%s imports %s, outside the allowed set", name, path)
		}
	}
}
