package sandbox_test

import (
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/testing/importguard"
)

// The package is for any program: it must not depend on Airut's service
// (its configuration, Temporal, workflows, channels), so a CI job or
// another orchestrator gets the sandbox and nothing else.
var forbiddenPrefixes = []string{
	"go.temporal.io",
	"github.com/airut-go/airut/internal/config",
	"github.com/airut-go/airut/workflows",
	"github.com/airut-go/airut/activities",
	"github.com/airut-go/airut/workers",
	"github.com/airut-go/airut/ingest",
	"github.com/airut-go/airut/cmd",
	"github.com/airut-go/airut/internal/testing",
}

func TestSandboxImportsNoService(t *testing.T) {
	for _, imp := range importguard.Imports(t, ".") {
		for _, p := range forbiddenPrefixes {
			if imp.Path == p || strings.HasPrefix(imp.Path, p+"/") {
				t.Errorf("%s imports %s: the sandbox package may not import %s", imp.File, imp.Path, p)
			}
		}
	}
}
