package sandbox_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/sandbox"
)

// A command runs in a container whose only way out is the proxy: the
// allowlist lets it reach api.example.com and nothing else, and the
// masked secret API_TOKEN is in its environment only as a surrogate.
// The request to another host is refused by the proxy (which answers
// every name) and logged; it never leaves the machine.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sandbox-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	sb, err := sandbox.New(ctx, sandbox.Options{StateDir: filepath.Join(dir, "state"), StartPodmanService: true})
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()

	image, err := sb.EnsureImage(ctx, sandbox.ImageSpec{
		Dockerfile: []byte("FROM localhost/airut-base:latest\nRUN echo built > /etc/example\n"),
		MaxAge:     24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	task, err := sb.NewTask(ctx, sandbox.TaskSpec{
		ID:        "example",
		Dir:       filepath.Join(dir, "task"),
		Image:     image,
		Allowlist: []byte("domains:\n  - api.example.com\n"),
		MaskedSecrets: []proxy.Secret{{
			Name: "API_TOKEN", Value: "tok-real-0123456789", Scopes: []string{"api.example.com"}, Headers: []string{"Authorization"},
		}},
		Timeout: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer task.Close(ctx)

	script := `cat /etc/example
case "$API_TOKEN" in tok-real-0123456789) echo "sees the secret";; *) echo "sees a surrogate";; esac
curl -s -o /dev/null -w '%{http_code}\n' https://elsewhere.example.net/`
	res, err := task.Run(ctx, sandbox.Command{
		Args:    []string{"sh", "-c", script},
		OnEvent: func(e sandbox.Event) { fmt.Printf("%s\n", e.Line) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Outcome, res.ExitCode, res.Network.Blocked, res.Network.BlockedExamples)
	// Output:
	// built
	// sees a surrogate
	// 403
	// success 0 1 [GET elsewhere.example.net/]
}
