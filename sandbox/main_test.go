package sandbox_test

// These tests run the real thing: Podman (its API service is started
// when none answers), the proxy container built from the static
// airut-proxy binary, and containers of the local base image
// (scripts/base-image.sh). Every name a container looks up resolves to
// its proxy, so no test traffic leaves the machine. They need root and
// podman (make test-deps).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/airut-go/airut/internal/testing/podmantest"
)

const baseImage = "localhost/airut-base:latest"

// binDir holds the binaries the tests build: airut-proxy (found on PATH
// by the package, as a user's would be) and the probe.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	tmp, err := os.MkdirTemp("", "airut-sandbox-pkg-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binDir = tmp
	for _, b := range [][2]string{{"airut-proxy", "./cmd/airut-proxy"}, {"probe", "./internal/sandbox/testdata/probe"},
		{"s3client", "./internal/sandbox/testdata/s3client"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, b[0]), b[1])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b[1], err, out)
			return 1
		}
	}
	os.Setenv("PATH", tmp+string(os.PathListSeparator)+os.Getenv("PATH"))
	stop, err := podmantest.Private()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	cmd := exec.Command(filepath.Join(root, "scripts", "base-image.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "base image: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
