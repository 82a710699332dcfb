package activities

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/podman"
	"github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/proxy"
	"github.com/airut-go/airut/workflows"
)

// startSandbox starts the conversation's network sandbox for one run and
// puts spec behind it; closeSandbox removes it, whatever became of the
// run's context. A missing or broken allowlist, proxy binary or CA
// bundle is for a person to fix; anything else (podman, the proxy) is
// transient. Either way the agent does not run without it.
func (a *Activities) startSandbox(ctx context.Context, cfg *config.Config, r *config.Repo, l conversation.Layout,
	in workflows.AgentInput, secrets []proxy.Secret, spec *podman.RunSpec) (closeSandbox func(), err error) {
	allow, err := sandbox.Allowlist(ctx, mirror(cfg, r))
	if err != nil {
		return nil, allowlistProblem(cfg, r, err)
	}
	bin, err := sandbox.ProxyBinary(cfg.Network.ProxyBinary)
	if err != nil {
		return nil, workflows.Fail(workflows.ErrConfig, "network sandbox: "+err.Error(), err)
	}
	image, err := a.proxyImages.Ensure(ctx, a.Podman, bin)
	if err != nil {
		return nil, fmt.Errorf("network sandbox: %w", err)
	}
	trust, err := sandbox.TrustBundle(cfg.Network.UpstreamCAFile)
	if err != nil {
		return nil, workflows.Fail(workflows.ErrConfig, "network sandbox: "+err.Error(), err)
	}
	log := a.log(in.ConversationID, in.TaskID)
	name := sandbox.ConversationName(in.RepoID, in.ConversationID)
	sb, err := sandbox.Start(ctx, a.Podman, sandbox.Options{
		Name:        name,
		Labels:      spec.Labels,
		ProxyImage:  image,
		WorkDir:     filepath.Join(cfg.SandboxDir(a.HostID), name),
		Allowlist:   allow,
		Secrets:     secrets,
		CADir:       cfg.CADir(),
		LogFile:     l.NetworkLog(),
		Egress:      cfg.Network.EgressNetwork,
		UpstreamDNS: cfg.Network.UpstreamDNS,
		TrustBundle: trust,
		Log:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w; the task did not run without it", err)
	}
	sb.Apply(spec)
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := sb.Close(cctx); err != nil {
			log.Warn("network sandbox cleanup", "error", err)
		}
	}, nil
}

// allowlistProblem says what is wrong with the repo's allowlist, for the
// user; an allowlist that could not be read is a transient error.
func allowlistProblem(cfg *config.Config, r *config.Repo, err error) error {
	var invalid *sandbox.AllowlistError
	switch {
	case errors.Is(err, sandbox.ErrNoAllowlist):
		text := fmt.Sprintf("The network sandbox is on for repo %s but its default branch has no %s, so the task did not run. "+
			"Add the allowlist (domains and url_prefixes the agent may reach), or set repos.%s.network.sandbox_enabled: false in %s.",
			r.ID, sandbox.AllowlistPath, r.ID, cfg.Path)
		return workflows.Fail(workflows.ErrConfig, text, err)
	case errors.As(err, &invalid):
		text := fmt.Sprintf("The network allowlist %s on the default branch is invalid, so the task did not run: %v", sandbox.AllowlistPath, invalid.Err)
		return workflows.Fail(workflows.ErrConfig, text, err)
	}
	return fmt.Errorf("network sandbox: %w", err)
}
