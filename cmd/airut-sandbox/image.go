package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/airut-go/airut/sandbox"
)

func newImageCmd(a *app) *cobra.Command {
	var o imageOptions
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, hash, save and load the sandbox's images (for CI caches)",
		Long: `The sandbox runs in two images, each named by a content hash: the image of
the Dockerfile (with the sandbox's entrypoint layer on top) and the proxy's
(made of the airut-proxy binary). A CI job can cache them:

  airut-sandbox image hash                   # repo=<hash> and proxy=<hash>: the cache key
  airut-sandbox image load "$CACHE_DIR"      # on a hit; a miss loads nothing
  airut-sandbox image save "$CACHE_DIR"      # after a miss, to fill the cache

` + proxyHelp,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "hash",
			Short: "Print the hashes naming the images: repo=<hash> and proxy=<hash>",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return a.imageHash(cmd.Context(), o) },
		},
		&cobra.Command{
			Use:   "build",
			Short: "Build the image of the Dockerfile unless Podman has it (fresh enough)",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return a.imageBuild(cmd.Context(), o) },
		},
		&cobra.Command{
			Use:   "save DIR",
			Short: "Build the images if needed and write them to DIR/repo.tar and DIR/proxy.tar",
			Args:  exactlyOneDir,
			RunE:  func(cmd *cobra.Command, args []string) error { return a.imageSave(cmd.Context(), o, args[0]) },
		},
		&cobra.Command{
			Use:   "load DIR",
			Short: "Load the images image save wrote to DIR; a missing or empty DIR loads nothing",
			Args:  exactlyOneDir,
			RunE:  func(cmd *cobra.Command, args []string) error { return a.imageLoad(cmd.Context(), args[0]) },
		},
	)
	// After AddCommand: with subcommands the flags are persistent, so
	// `image save --max-image-age 168 DIR` takes them.
	o.addFlags(cmd)
	return cmd
}

func exactlyOneDir(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return sandboxError("%s takes one directory (usage: %s)", cmd.CommandPath(), cmd.UseLine())
	}
	return nil
}

func (a *app) imageHash(ctx context.Context, o imageOptions) error {
	spec, err := o.spec()
	if err != nil {
		return err
	}
	bin, err := findProxy(a.global.proxyBinary)
	if err != nil {
		return &exitError{code: exitSandbox, err: err}
	}
	h, err := sandbox.Hashes(spec, bin)
	if err != nil {
		return sandboxError("%w", err)
	}
	fmt.Fprintf(a.stdout, "repo=%s\nproxy=%s\n", h.Repo, h.Proxy)
	return nil
}

func (a *app) imageBuild(ctx context.Context, o imageOptions) error {
	spec, err := o.spec()
	if err != nil {
		return err
	}
	sb, err := a.openSandbox(ctx, a.logger(), true)
	if err != nil {
		return err
	}
	defer sb.Close()
	image, err := sb.EnsureImage(ctx, spec)
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		return sandboxError("image from %s: %w", o.dockerfile, err)
	}
	proxyImage, err := sb.EnsureProxyImage(ctx)
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		return sandboxError("%w", err)
	}
	fmt.Fprintf(a.stdout, "image ready: %s\nproxy image ready: %s\n", image, proxyImage)
	return nil
}

func (a *app) imageSave(ctx context.Context, o imageOptions, dir string) error {
	spec, err := o.spec()
	if err != nil {
		return err
	}
	sb, err := a.openSandbox(ctx, a.logger(), true)
	if err != nil {
		return err
	}
	defer sb.Close()
	saved, err := sb.SaveImages(ctx, dir, spec)
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		return sandboxError("save the images: %w", err)
	}
	for _, name := range saved {
		fmt.Fprintf(a.stdout, "saved %s\n", name)
	}
	fmt.Fprintf(a.stdout, "to %s and %s\n", filepath.Join(dir, "repo.tar"), filepath.Join(dir, "proxy.tar"))
	return nil
}

// imageLoad loads what is there. A failed load is a warning, not an
// error: the images are then built at the next run, as on a cache miss.
func (a *app) imageLoad(ctx context.Context, dir string) error {
	sb, err := a.openSandbox(ctx, a.logger(), false)
	if err != nil {
		return err
	}
	defer sb.Close()
	loaded, err := sb.LoadImages(ctx, dir)
	for _, name := range loaded {
		fmt.Fprintf(a.stdout, "loaded %s\n", name)
	}
	if err != nil {
		if ierr := a.interrupted(ctx); ierr != nil {
			return ierr
		}
		fmt.Fprintf(a.stderr, "airut-sandbox: warning: %v; the images not loaded will be built when needed\n", err)
	}
	if len(loaded) == 0 && err == nil {
		fmt.Fprintf(a.stdout, "nothing to load: %s has no repo.tar or proxy.tar\n", dir)
	}
	return nil
}
