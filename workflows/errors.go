package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
)

// Error types: the one list of the application error types activities
// return. Whether a type is retried is decided by the workflow's activity
// table (activityOptions), not where the error is made: an activity says
// what went wrong, the workflow decides what to do about it.
const (
	// ErrConfig: the repo's configuration or files need a person's fix
	// (a missing Dockerfile, an invalid allowlist). Never retried.
	ErrConfig = "ConfigError"
	// ErrWorkspace: the conversation's workspace cannot be made or used on
	// this host (a failed clone, a refused attachment). Never retried.
	ErrWorkspace = "WorkspaceError"
	// ErrDelivery: the channel refused the reply for good (a permanent
	// SMTP error, a Slack channel the bot is not in). Never retried.
	ErrDelivery = "PermanentDeliveryError"
	// ErrHostBusy: the host that picked up ClaimHost has no free agent
	// slot; retried (on the shared queue) until some host has one.
	ErrHostBusy = "HostBusy"
	// ErrWorkerRestarted: the worker running an agent attempt died; the
	// worker that replaced it on the host hands the attempt back so it is
	// retried (and resumes) at once.
	ErrWorkerRestarted = "WorkerRestarted"
	// ErrHostDraining: the host is leaving (airut drain) and its agent run
	// did not finish within the grace period; the conversation moves to
	// another host at once instead of waiting for this one.
	ErrHostDraining = "HostDraining"
)

// Problem is what a person reads about a failed activity. It travels as
// the application error's detail, so what reaches the user is text an
// activity wrote for them, never a Go error string with its wrapping.
type Problem struct {
	Text string
}

// Fail is the error an activity returns for a failure of kind (one of the
// Err types above): text is what the user reads; cause is kept for logs
// and the Web UI.
func Fail(kind, text string, cause error) error {
	return temporal.NewApplicationErrorWithOptions(text, kind, temporal.ApplicationErrorOptions{
		Cause:   cause,
		Details: []any{Problem{Text: text}},
	})
}

// ProblemText is what the user reads about err: the Problem an activity
// attached; else the application error's message (activities of older
// releases, which carried the text there); else, for failures no activity
// described (timeouts, a dead worker), the innermost message.
func ProblemText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		var p Problem
		if app.HasDetails() && app.Details(&p) == nil && p.Text != "" {
			return p.Text
		}
		if app.Message() != "" {
			return app.Message()
		}
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// IsKind reports whether err is an application error of kind.
func IsKind(err error, kind string) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == kind
}
