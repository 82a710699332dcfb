// Package github is Airut's read-only view of GitHub pull requests: it finds
// the pull request an agent opened for a branch ([Client.FindPR]) and takes a
// [Snapshot] of everything worth telling the user about it: state, merge
// status, CI (check runs and commit statuses), reviews, inline review
// comments and conversation comments.
//
// It is plain library code built on go-github (v62, unmodified), called from
// Temporal activities; it keeps no state outside a [Client]. What it does:
//
//   - Authentication with a token (PAT or installation token) or as a GitHub
//     App installation: an RS256 JWT is signed with the app's key and
//     exchanged for an installation token, which is cached until five
//     minutes before it expires.
//   - Conditional requests: a caching [net/http.RoundTripper] under go-github
//     remembers the ETag and body of every GET it answered (per URL, in
//     memory, bounded) and sends If-None-Match; a 304 Not Modified is
//     answered from memory and costs no rate limit.
//     [Snapshot.ETagsChanged] tells whether anything came back fresh.
//   - Rate limits: primary (403/429 with X-RateLimit-Remaining: 0) and
//     secondary (Retry-After) limits come back as [*RateLimitError] with the
//     time to wait until.
//
// What it must not do:
//
//   - retry, sleep or wait: the caller (a workflow with durable timers)
//     decides when to call again, e.g. after [RateLimitError.Reset];
//   - write to GitHub (comment, merge, push) or talk to any host other than
//     the configured API base URL; the token is never sent elsewhere;
//   - filter or interpret what people and bots wrote: everything is returned,
//     and deciding what to tell the user is the caller's job;
//   - keep package-level mutable state or persist anything to disk.
package github
