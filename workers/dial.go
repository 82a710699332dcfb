package workers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/workflows"
)

// Dial connects to the Temporal service at address (the embedded server's
// or temporal.address) and checks that the namespace answers, so a wrong
// address fails here with a clear message rather than on the first task.
func Dial(ctx context.Context, t config.Temporal, address string, log *slog.Logger, mh client.MetricsHandler) (client.Client, error) {
	if log == nil {
		log = slog.Default()
	}
	opts := client.Options{
		HostPort:  address,
		Namespace: t.Namespace,
		// The SDK is chatty at info level; keep the log one line per step.
		Logger: sdklog.NewStructuredLogger(slog.New(levelFloor{log.Handler(), slog.LevelWarn})),
		// Workers report their slots to the server this often; the
		// dashboard's hosts come from these reports (the SDK's default
		// is a minute).
		WorkerHeartbeatInterval: 10 * time.Second,
		// The SDK's own metrics (polls, latencies, slots) go to the
		// process's /metrics; nil records nothing.
		MetricsHandler: mh,
	}
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	if t.TLS.Enabled || t.TLS.CertFile != "" || t.TLS.CAFile != "" || t.APIKey != "" {
		tc, err := tlsConfig(t.TLS)
		if err != nil {
			return nil, err
		}
		opts.ConnectionOptions.TLS = tc
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("%w at %s (namespace %s): %v; check temporal.address in the config, or leave it empty to run the embedded server", ErrUnreachable, address, t.Namespace, err)
	}
	if _, err := c.CheckHealth(dctx, &client.CheckHealthRequest{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, address, err)
	}
	return c, nil
}

func tlsConfig(t config.TemporalTLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal.tls: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal.tls.ca_file %s: no PEM certificates found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// levelFloor passes only records at or above min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}
func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}

// MissingSearchAttributes are the search attributes Airut's workflows set
// that namespace lacks. The embedded server registers them itself; a
// cluster or Temporal Cloud namespace needs them registered once
// (deploy/compose/scripts/setup-namespace.sh), or every new conversation
// fails to start.
func MissingSearchAttributes(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for _, name := range workflows.SearchAttributeNames() {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// SearchAttributesFix is how to register missing search attributes.
func SearchAttributesFix(namespace string, missing []string) string {
	var b strings.Builder
	b.WriteString("register them once: ")
	for i, name := range missing {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "temporal operator search-attribute create --namespace %s --name %s --type Keyword", namespace, name)
	}
	return b.String()
}
