package anthropictest

// ClientEnv returns the environment variables, as "KEY=value" strings, that
// make the Claude Code CLI (tested with 2.1.197) talk to the server at
// baseURL with apiKey and nothing else. Give the CLI these plus PATH, HOME,
// CLAUDE_CONFIG_DIR (a private temp dir; sessions for --resume are kept
// there) and TMPDIR (else the CLI leaves /tmp/claude-<uid>); better start from an empty
// environment than from os.Environ, whose ANTHROPIC_*, CLAUDE_CODE_* or
// CLAUDECODE variables (set when tests run inside Claude Code) would leak in.
//
//   - ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY: the server and the key, sent as
//     x-api-key.
//   - IS_SANDBOX=1: lets --dangerously-skip-permissions run as root.
//   - CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, DISABLE_TELEMETRY,
//     DISABLE_ERROR_REPORTING, DISABLE_AUTOUPDATER, DISABLE_UPDATES,
//     DO_NOT_TRACK: no telemetry, error reports, update checks or feature-flag
//     fetches; these would go to Anthropic's hosts, not to baseURL.
//   - CLAUDE_CODE_MAX_RETRIES=0: an API error (500, 529, 429, connection
//     reset) ends the run at once instead of after up to 10 retries with
//     exponential back-off, which would take minutes.
//   - API_TIMEOUT_MS=60000: a request the server does not answer fails
//     after a minute rather than the default ten.
func ClientEnv(baseURL, apiKey string) []string {
	return []string{
		"ANTHROPIC_BASE_URL=" + baseURL,
		"ANTHROPIC_API_KEY=" + apiKey,
		"IS_SANDBOX=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_UPDATES=1",
		"DO_NOT_TRACK=1",
		"CLAUDE_CODE_MAX_RETRIES=0",
		"API_TIMEOUT_MS=60000",
	}
}
