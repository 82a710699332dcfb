// Package githubaction is the composite GitHub Action in this directory
// (action.yml, steps/*.sh), which runs a pull request's code with
// airut-sandbox in CI. It is a Go package only for action_test.go, which
// checks action.yml and runs its steps against real Podman.
package githubaction
