package sandbox

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/airut-go/airut/proxy/allowlist"
)

// AllowlistPath is the repository's network allowlist. It is read from the
// default branch, so the agent can change it only through a reviewed and
// merged pull request.
const AllowlistPath = ".airut/network-allowlist.yaml"

// Branch is a repository's default branch as the git mirror serves it:
// the files directly in one directory, by name (none when it is missing).
type Branch interface {
	ReadDir(ctx context.Context, dir string) (map[string][]byte, error)
}

// ErrNoAllowlist: the default branch has no allowlist, so a sandboxed run
// cannot start.
var ErrNoAllowlist = errors.New("no " + AllowlistPath + " on the default branch")

// AllowlistError is an allowlist on the default branch that does not
// parse; Err says why.
type AllowlistError struct{ Err error }

func (e *AllowlistError) Error() string { return AllowlistPath + ": " + e.Err.Error() }
func (e *AllowlistError) Unwrap() error { return e.Err }

// Allowlist reads the allowlist from the default branch and checks it. A
// missing one is ErrNoAllowlist and an invalid one an *AllowlistError,
// both for a person to fix; any other error is the mirror's.
func Allowlist(ctx context.Context, b Branch) ([]byte, error) {
	files, err := b.ReadDir(ctx, path.Dir(AllowlistPath))
	if err != nil {
		return nil, fmt.Errorf("read %s from the default branch: %w", AllowlistPath, err)
	}
	data, ok := files[path.Base(AllowlistPath)]
	if !ok {
		return nil, ErrNoAllowlist
	}
	if _, err := allowlist.Parse(data); err != nil {
		return nil, &AllowlistError{Err: err}
	}
	return data, nil
}

// CheckAllowlist reports whether the default branch has an allowlist
// (for airut check); err is set when it is invalid or cannot be read.
func CheckAllowlist(ctx context.Context, b Branch) (present bool, err error) {
	_, err = Allowlist(ctx, b)
	var invalid *AllowlistError
	switch {
	case errors.Is(err, ErrNoAllowlist):
		return false, nil
	case errors.As(err, &invalid):
		return true, err
	case err != nil:
		return false, err
	}
	return true, nil
}
