// Package claude knows how to invoke the Claude Code CLI headless and how
// to read what it prints: the command line, the stream-json events, the
// running totals (session, cost, usage, reply text) and the outcome of a
// run. It runs nothing itself and knows nothing of containers or Temporal.
package claude
