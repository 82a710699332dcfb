package claude

// BinaryPath is where the host's Claude Code binary is mounted read-only
// inside agent containers.
const BinaryPath = "/opt/claude/claude"

// Args is the command line after the binary: the prompt goes on stdin (a
// bare -p; a "-" argument would become prompt text).
func Args(sessionID, model, effort string) []string {
	var a []string
	// Checked again where it becomes an argument: an ID the stream did
	// not vouch for starts a fresh session rather than reach the CLI.
	if ValidSessionID(sessionID) {
		a = append(a, "--resume", sessionID)
	}
	if model != "" {
		a = append(a, "--model", model)
	}
	if effort != "" {
		a = append(a, "--effort", effort)
	}
	return append(a, "-p", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose")
}

// Env is the environment every agent run gets on top of the repo's
// secrets. IS_SANDBOX lets Claude Code run as root with skipped
// permissions; background tasks are off because -p exits before their
// results arrive.
func Env() map[string]string {
	return map[string]string{
		"IS_SANDBOX":                           "1",
		"CLAUDE_CODE_DISABLE_BACKGROUND_TASKS": "1",
		// No telemetry, error reports, feature-flag fetches, update checks
		// or release notes (it implies DISABLE_TELEMETRY,
		// DISABLE_ERROR_REPORTING, DISABLE_AUTOUPDATER and
		// DISABLE_BUG_COMMAND): the sandbox would block these calls and
		// every reply's footer would list them as blocked requests.
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
		"DISABLE_AUTOUPDATER":                      "1",
		// The plan shown in Slack is read from TodoWrite calls; newer
		// versions use task tools unless told otherwise.
		"CLAUDE_CODE_ENABLE_TASKS": "0",
		"HOME":                     "/root",
	}
}
