// Package podmantest gives a test binary a Podman API service of its own,
// for tests only.
//
// Test binaries of several packages run at once (go test runs up to
// GOMAXPROCS of them). A service one of them started on the shared
// default socket ends with it (podman.Connect ties a started service to
// its starter), pulling the socket from under the others mid-test. With
// Private in TestMain each binary starts its own service on a socket of
// its own, and every client in the process, and in the processes it
// starts, finds it through CONTAINER_HOST.
package podmantest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/airut-go/airut/internal/podman"
)

// Private starts a Podman API service on a socket in a new temporary
// directory and sets CONTAINER_HOST to it; stop ends the service and
// removes the directory.
func Private() (stop func(), err error) {
	dir, err := os.MkdirTemp("", "airut-podman-")
	if err != nil {
		return nil, fmt.Errorf("podmantest: %w", err)
	}
	uri := "unix://" + filepath.Join(dir, "podman.sock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := podman.Connect(ctx, podman.ConnectOptions{URI: uri, StartService: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("podmantest: %w (these tests need podman: make test-deps)", err)
	}
	os.Setenv("CONTAINER_HOST", uri)
	return func() {
		c.Close()
		os.RemoveAll(dir)
	}, nil
}
