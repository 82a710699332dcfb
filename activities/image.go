package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// agentImage is the repo's agent image: the Dockerfile under
// container_path on the default branch (so the agent changes its image
// only through a merged pull request), or the configured image, with the
// sandbox's overlay on top; built if needed.
func (a *Activities) agentImage(ctx context.Context, cfg *config.Config, r *config.Repo, log *slog.Logger) (string, error) {
	files, err := mirror(cfg, r).ReadDir(ctx, r.ContainerPath)
	if err != nil {
		return "", fmt.Errorf("agent image: read %s from the default branch: %w", r.ContainerPath, err)
	}
	spec := sandbox.ImageSpec{Base: r.Image, MaxAge: imageMaxAge(cfg)}
	if df, ok := files["Dockerfile"]; ok {
		delete(files, "Dockerfile")
		spec.Dockerfile, spec.Context = df, files
	}
	image, err := a.Sandbox.EnsureImage(ctx, spec)
	if err != nil {
		return "", imageProblem(r, err)
	}
	return image, nil
}

// imageProblem says what is wrong with the repo's image, for the user;
// failures that are no fault of the repo (podman, the mirror) are
// transient.
func imageProblem(r *config.Repo, err error) error {
	switch {
	case errors.Is(err, sandbox.ErrNoDockerfile):
		text := fmt.Sprintf("repo %s has no %s/Dockerfile on its default branch and no image configured (repos.%s.image)", r.ID, r.ContainerPath, r.ID)
		return workflows.Fail(workflows.ErrConfig, text, err)
	case errors.Is(err, sandbox.ErrImageNotFound):
		text := fmt.Sprintf("image %s not found (repos.%s.image); build or pull it first", r.Image, r.ID)
		return workflows.Fail(workflows.ErrConfig, text, err)
	case errors.Is(err, sandbox.ErrBuildFailed):
		return workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	return fmt.Errorf("agent image: %w", err)
}

// PruneImages removes dangling images and Airut's built images older than
// execution.image_max_age_hours (those still in use stay), waiting for
// any build in progress.
func (a *Activities) PruneImages(ctx context.Context) ([]string, error) {
	return a.Sandbox.PruneImages(ctx, imageMaxAge(a.Config()))
}

func imageMaxAge(cfg *config.Config) time.Duration {
	return time.Duration(cfg.Execution.ImageMaxAgeHours) * time.Hour
}
