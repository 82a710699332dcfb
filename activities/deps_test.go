package activities_test

import (
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/testing/importguard"
)

// Imports go one way: cmd → workers/ingest → activities → libraries.
// Activities are orchestration over the library packages; they must not
// reach up into the command, the listeners or the worker wiring, nor
// depend on test doubles outside tests. Containers run through the
// public sandbox package only, so the agent has one implementation.
var forbiddenPrefixes = []string{
	"github.com/airut-go/airut/internal/podman",
	"github.com/airut-go/airut/cmd",
	"github.com/airut-go/airut/ingest",
	"github.com/airut-go/airut/workers",
	"github.com/airut-go/airut/e2e",
	"github.com/airut-go/airut/internal/testing",
}

func TestActivitiesImportOnlyDownward(t *testing.T) {
	for _, imp := range importguard.Imports(t, ".") {
		for _, p := range forbiddenPrefixes {
			if imp.Path == p || strings.HasPrefix(imp.Path, p+"/") {
				t.Errorf("%s imports %s: activities may not import %s", imp.File, imp.Path, p)
			}
		}
	}
}
