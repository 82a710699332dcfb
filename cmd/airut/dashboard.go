package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/gitmirror"
	"github.com/airut-go/airut/internal/sandbox"
)

func newDashboardCmd(a *app) *cobra.Command {
	opts := serveOptions{name: "dashboard", dashboard: true}
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Serve only the web dashboard, against temporal.address (split setups)",
		Long: `Dashboard serves the web dashboard on dashboard.host:dashboard.port
against the Temporal service in the config, for setups where the server,
workers and listeners run elsewhere. Every page comes from Temporal; a
conversation's live activity and network log are read from its worker
host through Temporal, so no shared storage is needed. ` + "`airut run`" + ` serves
the same dashboard itself (dashboard.enabled).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return serve(cmd.Context(), a, opts) },
	}
}

// dashboardServer is a running dashboard.
type dashboardServer struct {
	URL  string
	stop func()
}

// startDashboard serves the dashboard until stopped. localHost is the
// worker host of this process ("" without a worker); temporalUI the Web
// UI's base URL ("" for none).
func startDashboard(ctx context.Context, live func() *config.Config, c client.Client, localHost, temporalUI string, log *slog.Logger) (*dashboardServer, error) {
	// The dashboard's own settings (address, token) are read once; its
	// pages read the repos in force.
	cfg := live()
	d := cfg.Dashboard
	src := &dashboard.TemporalSource{Client: c, Namespace: cfg.Temporal.Namespace, Config: live, LocalHost: localHost}
	var allowed []string
	if u, err := url.Parse(d.URL()); err == nil && u.Host != "" {
		allowed = append(allowed, u.Host)
	}
	if !isLoopback(d.Host) {
		allowed = append(allowed, d.Host)
	}
	srv, err := dashboard.New(dashboard.Options{
		Source: src, Repos: func() []dashboard.RepoInfo { return repoInfos(ctx, live()) },
		BaseURL: d.BaseURL, TemporalUI: temporalUI, Namespace: cfg.Temporal.Namespace,
		AuthToken: d.AuthToken, TrustedProxyHeader: d.TrustedProxyHeader, AllowedHosts: allowed, Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	addr := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen on %s (dashboard.host, dashboard.port): %w", addr, err)
	}
	if !isLoopback(d.Host) {
		if d.AuthToken == "" && d.TrustedProxyHeader == "" {
			log.Warn("the dashboard listens beyond this machine without authentication: anyone who reaches it can read every conversation and stop, retry or send tasks; set dashboard.auth_token or put an authenticating proxy in front (dashboard.trusted_proxy_header)", "address", addr)
		} else {
			log.Warn("the dashboard listens beyond this machine", "address", addr)
		}
	}
	// No WriteTimeout: it would cut the live streams, which set their
	// own write deadlines.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	// Shutdown waits for handlers; the live streams end when told.
	hs.RegisterOnShutdown(srv.Close)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("dashboard stopped", "error", err)
		}
	}()
	return &dashboardServer{URL: d.URL(), stop: func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-done
	}}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// repoInfos is what the repo pages show of the configured repos: their
// settings as loaded, secrets by name only, and the allowlist from the
// mirror's default branch.
func repoInfos(ctx context.Context, cfg *config.Config) []dashboard.RepoInfo {
	var out []dashboard.RepoInfo
	for _, id := range cfg.RepoIDs() {
		r := cfg.Repos[id]
		info := dashboard.RepoInfo{ID: id, Channels: []string{"local"}}
		if r.Email != nil {
			info.Channels = append(info.Channels, "email")
		}
		if r.Slack != nil {
			info.Channels = append(info.Channels, "slack")
		}
		sandboxed := "on"
		if !r.Network.Sandboxed() {
			sandboxed = "off"
		}
		rl := r.ResourceLimits
		for _, kv := range [][2]string{
			{"repo_url", r.RepoURL}, {"model", r.Model}, {"effort", r.Effort}, {"image", r.Image},
			{"container_path", r.ContainerPath}, {"network sandbox", sandboxed},
			{"resource_limits.timeout", strconv.Itoa(rl.Timeout) + " s"}, {"resource_limits.memory", rl.Memory},
			{"resource_limits.cpus", strconv.FormatFloat(rl.CPUs, 'f', -1, 64)}, {"resource_limits.pids_limit", strconv.FormatInt(rl.PidsLimit, 10)},
		} {
			if kv[1] != "" {
				info.Settings = append(info.Settings, dashboard.Setting{Key: kv[0], Value: kv[1]})
			}
		}
		for name := range r.Secrets {
			info.Secrets = append(info.Secrets, name)
		}
		for name := range r.MaskedSecrets {
			info.Secrets = append(info.Secrets, name+" (masked)")
		}
		slices.Sort(info.Secrets)
		if r.Network.Sandboxed() {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			m := &gitmirror.Mirror{URL: r.RepoURL, Dir: cfg.MirrorDir(id)}
			if allow, err := sandbox.Allowlist(actx, m); err == nil {
				info.Allowlist = allow
			}
			cancel()
		}
		out = append(out, info)
	}
	return out
}
