package activities_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Imports go one way: cmd → workers/ingest → activities → libraries.
// Activities are orchestration over the library packages; they must not
// reach up into the command, the listeners or the worker wiring, nor
// depend on test doubles outside tests.
var forbiddenPrefixes = []string{
	"github.com/airut-go/airut/cmd",
	"github.com/airut-go/airut/ingest",
	"github.com/airut-go/airut/workers",
	"github.com/airut-go/airut/e2e",
	"github.com/airut-go/airut/internal/testing",
}

func TestActivitiesImportOnlyDownward(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, p := range forbiddenPrefixes {
				if path == p || strings.HasPrefix(path, p+"/") {
					t.Errorf("%s imports %s: activities may not import %s", file, path, p)
				}
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no activity source files found")
	}
}
