package activities

import (
	"errors"
	"fmt"

	"github.com/airut-go/airut/internal/config"
	parts "github.com/airut-go/airut/internal/sandbox"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// sandboxProblem says why the task's sandbox did not start: a task
// the sandbox refuses (a bad allowlist, a mount) is for a person to fix;
// anything else (podman, the proxy) is transient. Either way the agent
// does not run without it.
func sandboxProblem(err error) error {
	switch {
	case errors.Is(err, sandbox.ErrNoProxyBinary):
		return workflows.Fail(workflows.ErrConfig, err.Error()+" (set network.proxy_binary)", err)
	case errors.Is(err, sandbox.ErrInvalidTask):
		return workflows.Fail(workflows.ErrConfig, "network sandbox: "+err.Error(), err)
	}
	return fmt.Errorf("%w; the task did not run without it", err)
}

// allowlistProblem says what is wrong with the repo's allowlist, for the
// user; an allowlist that could not be read is a transient error.
func allowlistProblem(cfg *config.Config, r *config.Repo, err error) error {
	var invalid *parts.AllowlistError
	switch {
	case errors.Is(err, parts.ErrNoAllowlist):
		text := fmt.Sprintf("The network sandbox is on for repo %s but its default branch has no %s, so the task did not run. "+
			"Add the allowlist (domains and url_prefixes the agent may reach), or set repos.%s.network.sandbox_enabled: false in %s.",
			r.ID, parts.AllowlistPath, r.ID, cfg.Path)
		return workflows.Fail(workflows.ErrConfig, text, err)
	case errors.As(err, &invalid):
		text := fmt.Sprintf("The network allowlist %s on the default branch is invalid, so the task did not run: %v", parts.AllowlistPath, invalid.Err)
		return workflows.Fail(workflows.ErrConfig, text, err)
	}
	return fmt.Errorf("network sandbox: %w", err)
}
