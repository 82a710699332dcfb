package proxy_test

import (
	"os"
	"slices"
	"testing"

	"github.com/airut-go/airut/internal/testing/importguard"
)

// allowedDeps is every non-standard import each proxy package may have.
// The proxy is the security boundary: it stays small enough to read, and
// never depends on Temporal or the rest of Airut. A new package or a new
// dependency must be added here on purpose.
var allowedDeps = map[string][]string{
	"allowlist": {"gopkg.in/yaml.v3"},
	"masking":   {"github.com/airut-go/airut/proxy/allowlist"},
	"dns":       {"github.com/miekg/dns"},
	"ca":        nil,
	"mitm":      {"github.com/airut-go/airut/proxy/ca"},
	"graphql":   {"github.com/airut-go/airut/proxy/allowlist", "github.com/vektah/gqlparser/v2/ast", "github.com/vektah/gqlparser/v2/parser"},
	"awssig": {"github.com/airut-go/airut/proxy/allowlist", "github.com/aws/aws-sdk-go-v2/aws", "github.com/aws/aws-sdk-go-v2/aws/signer/v4",
		"github.com/aws/smithy-go/aws-http-auth/credentials", "github.com/aws/smithy-go/aws-http-auth/sigv4a", "github.com/aws/smithy-go/aws-http-auth/v4"},
	// the proxy package itself assembles the parts
	".": {"github.com/airut-go/airut/proxy/allowlist", "github.com/airut-go/airut/proxy/ca",
		"github.com/airut-go/airut/proxy/dns", "github.com/airut-go/airut/proxy/graphql", "github.com/airut-go/airut/proxy/masking",
		"github.com/airut-go/airut/proxy/mitm", "github.com/airut-go/airut/proxy/awssig",
		// GitHub App tokens are minted with the standard-library-only
		// package the PR loop uses too (it has its own import guard).
		"github.com/airut-go/airut/internal/githubapp"},
}

func TestProxyPackagesImportOnlyWhatTheyMay(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"."}
	for _, d := range dirs {
		if d.IsDir() && d.Name() != "testdata" {
			names = append(names, d.Name())
		}
	}
	for _, name := range names {
		allowed, known := allowedDeps[name]
		if !known {
			t.Errorf("proxy/%s is not listed in allowedDeps", name)
			continue
		}
		for _, imp := range importguard.Imports(t, name) {
			if importguard.Standard(imp.Path) || slices.Contains(allowed, imp.Path) {
				continue // the standard library, or listed
			}
			t.Errorf("%s imports %s, which proxy/%s may not", imp.File, imp.Path, name)
		}
	}
}
