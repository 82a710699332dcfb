package workflows_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/testing/importguard"
)

// allowedImports is everything workflow code may import: the Temporal
// SDK's workflow-side packages and standard library packages that do no
// I/O. A workflow that reads the clock, the disk or the network directly
// breaks replay; an import added here must be on purpose.
var allowedImports = []string{
	"go.temporal.io/sdk/workflow",
	"go.temporal.io/sdk/temporal",
	"go.temporal.io/api/enums/v1",
	"crypto/sha256",
	"encoding/hex",
	"encoding/json",
	"errors",
	"fmt",
	"slices",
	"sort",
	"strconv",
	"strings",
	"time", // for durations and time values only; workflow.Now is the clock
	"unicode",
	"unicode/utf8",
}

func TestWorkflowsImportNoIO(t *testing.T) {
	for _, imp := range importguard.Imports(t, ".") {
		if !slices.Contains(allowedImports, imp.Path) {
			t.Errorf("%s imports %s: workflow code may import only %v", imp.File, imp.Path, allowedImports)
		}
	}
}

// The clock and randomness come through the SDK; time.Now, time.Sleep and
// goroutines in workflow code replay differently.
func TestWorkflowsUseTheSDKClock(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := readFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"time.Now(", "time.Sleep(", "time.After(", "time.NewTimer(", "go func"} {
			if strings.Contains(src, bad) {
				t.Errorf("%s uses %s; use the workflow package's clock, timers and workflow.Go", file, strings.TrimSuffix(bad, "("))
			}
		}
	}
}

func readFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	return string(b), err
}
