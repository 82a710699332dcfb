package githubapp_test

import (
	"testing"

	"github.com/airut-go/airut/internal/testing/importguard"
)

// The proxy mints tokens with this package, and the proxy stays small
// enough to read: nothing here may come from outside the standard library
// (go-github least of all; see the package doc).
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	t.Parallel()
	for _, imp := range importguard.Imports(t, ".") {
		if !importguard.Standard(imp.Path) {
			t.Errorf("%s imports %s; githubapp may import only the standard library", imp.File, imp.Path)
		}
	}
}
