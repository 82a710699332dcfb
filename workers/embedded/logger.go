package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts a *slog.Logger to the Temporal server's log.Logger
// interface. Records below level are dropped before their tags are converted,
// which matters because the server logs a lot at Info and Debug.
type serverLogger struct {
	out   *slog.Logger
	level slog.Leveler
	// phase is shared by all loggers derived with With; see logPhase.
	phase *atomic.Int32
}

// logPhase tells serverLogger how much of the server's shutdown noise to
// pass on.
const (
	// phaseRunning passes records at or above the configured level.
	phaseRunning int32 = iota
	// phaseStopping passes only errors: while stopping, the server's
	// own pollers and connections report a burst of expected failures
	// as warnings.
	phaseStopping
	// phaseStopped passes nothing. A few goroutines of the server
	// outlive Stop (the server does not close its internal gRPC
	// connections, which keep redialing the closed ports) and would
	// otherwise keep logging into a logger the caller is done with.
	phaseStopped
)

// httpAPIWarning starts a warning the frontend logs on every start because
// its HTTP API (and so Nexus over HTTP) is off, as this package intends.
const httpAPIWarning = "HTTP API port has not been set"

var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

// fatalError is the panic value of serverLogger.Fatal and serverLogger.Panic.
// The Temporal server calls Fatal where its own zap logger would exit the
// process (for example when a gRPC listener cannot be created); an embedded
// server must not exit its host process, so it panics instead and Start turns
// a panic raised while it runs into an ordinary error.
type fatalError struct {
	msg  string
	tags []tag.Tag
}

func (e *fatalError) Error() string {
	s := "temporal server: " + e.msg
	for _, t := range e.tags {
		s += fmt.Sprintf(" %s=%v", t.Key(), t.Value())
	}
	return s
}

func (l serverLogger) Debug(msg string, tags ...tag.Tag) { l.log(slog.LevelDebug, msg, tags) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)  { l.log(slog.LevelInfo, msg, tags) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag)  { l.log(slog.LevelWarn, msg, tags) }
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.log(slog.LevelError, msg, tags) }

// DPanic logs at error level. zap only panics on DPanic in development mode,
// which the server does not use in production either.
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { l.log(slog.LevelError, msg, tags) }

// Panic logs at error level and panics with a *fatalError.
func (l serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.log(slog.LevelError, msg, tags)
	panic(&fatalError{msg: msg, tags: tags})
}

// Fatal logs at error level and panics with a *fatalError (see fatalError).
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.log(slog.LevelError, msg, tags)
	panic(&fatalError{msg: msg, tags: tags})
}

// With returns a logger that adds tags to every record.
func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	if len(tags) == 0 {
		return l
	}
	return serverLogger{out: l.out.With(tagsToArgs(tags)...), level: l.level, phase: l.phase}
}

func (l serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < l.level.Level() {
		return
	}
	switch l.phase.Load() {
	case phaseRunning:
	case phaseStopping:
		if level < slog.LevelError {
			return
		}
	case phaseStopped:
		return
	}
	if level == slog.LevelWarn && strings.HasPrefix(msg, httpAPIWarning) {
		return
	}
	ctx := context.Background()
	if !l.out.Enabled(ctx, level) {
		return
	}
	l.out.Log(ctx, level, msg, tagsToArgs(tags)...)
}

func tagsToArgs(tags []tag.Tag) []any {
	args := make([]any, 0, len(tags))
	for _, t := range tags {
		if t == nil {
			continue
		}
		args = append(args, slog.Any(t.Key(), t.Value()))
	}
	return args
}
