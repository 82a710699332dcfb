package sandbox

import "time"

// Outcome is how a run ended.
type Outcome string

// The outcomes of a run. Claude runs tell prompt-too-long and a corrupted
// session apart from other failures, so a caller can start a fresh
// session; a command's non-zero exit is OutcomeContainerFailed, with its
// exit code in the Result.
const (
	OutcomeSuccess          Outcome = "success"
	OutcomeTimeout          Outcome = "timeout"
	OutcomePromptTooLong    Outcome = "prompt_too_long"
	OutcomeSessionCorrupted Outcome = "session_corrupted"
	OutcomeContainerFailed  Outcome = "container_failed"
	OutcomeCancelled        Outcome = "cancelled"
)

// Usage is the tokens a Claude run used.
type Usage struct {
	InputTokens              int64
	OutputTokens             int64
	CacheCreationInputTokens int64
	CacheReadInputTokens     int64
}

// Result is how one run ended and what it produced.
type Result struct {
	Outcome Outcome
	// ExitCode is the process's exit code, 128+n when killed by signal n
	// (137 for SIGKILL, which is also what running out of memory looks
	// like); -1 when no process ran to an end (cancelled or timed out
	// before it exited).
	ExitCode int
	// OutOfMemory: the container was killed for using more than its
	// memory limit (Podman said so, or it got SIGKILL under a limit).
	OutOfMemory bool
	Duration    time.Duration
	// Stderr is the end of the process's standard error (its last lines).
	Stderr string

	// Claude runs only. Finished: the agent got to its final result (so
	// cost and totals are known). Response is the agent's reply when it succeeded;
	// ErrorSummary says what went wrong otherwise. SessionID is the
	// session to resume (also for a cancelled or timed-out run, when the
	// agent had started one). Cost is known only when the agent finished;
	// Usage, when not, is added up from its messages.
	Finished     bool
	Response     string
	ErrorSummary string
	SessionID    string
	Usage        Usage
	CostUSD      float64
	NumTurns     int
	// AgentDurationMS is the agent's own measure of its run.
	AgentDurationMS int64
	WebSearches     int
	WebFetches      int

	// Network is what the proxy saw during the run; zero without the
	// network sandbox.
	Network NetworkSummary
}

// NetworkSummary is the run's part of the task's network log.
type NetworkSummary struct {
	// Log is the task's network log on the host: one JSON object per line
	// (proxy.LogLine); the run's lines start at Offset.
	Log    string
	Offset int64
	// Allowed counts the HTTP requests the proxy sent on.
	Allowed int
	// Blocked counts the requests and connections the proxy refused;
	// BlockedExamples names the first few ("GET host/path").
	Blocked         int
	BlockedExamples []string
}
