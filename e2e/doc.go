// Package e2e holds the end-to-end tests: they build the airut binary and
// run it against the embedded Temporal server, real Podman containers and
// the real Claude Code CLI talking to a scripted API. No production code
// lives here.
package e2e
