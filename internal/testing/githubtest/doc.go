// Package githubtest is a fake GitHub REST API for tests only, in the spirit
// of cli/cli's httpmock; it is never used in production code and must not
// grow endpoints that the code under test does not call.
//
// [NewServer] starts an [httptest.Server] on the loopback interface that
// speaks GitHub's wire format for exactly the endpoints that
// internal/github uses:
//
//	GET  /repos/{owner}/{repo}/pulls?head=&state=&sort=&direction=
//	GET  /repos/{owner}/{repo}/pulls/{number}
//	GET  /repos/{owner}/{repo}/commits/{ref}/check-runs
//	GET  /repos/{owner}/{repo}/commits/{ref}/status
//	GET  /repos/{owner}/{repo}/pulls/{number}/reviews
//	GET  /repos/{owner}/{repo}/pulls/{number}/comments
//	GET  /repos/{owner}/{repo}/issues/{number}/comments
//	POST /app/installations/{id}/access_tokens
//
// Every path is served both at the root (github.com style, [Server.URL]) and
// under /api/v3/ (GitHub Enterprise Server style, [Server.EnterpriseURL]).
//
// What it reproduces of the real service:
//   - JSON bodies shaped like GitHub's (snake_case fields, null where GitHub
//     sends null, RFC 3339 timestamps, user objects, html_url links);
//   - pagination with per_page/page and Link headers (rel next, last, prev,
//     first); [Server.SetPerPageLimit] caps per_page so that small data sets
//     span several pages;
//   - ETag on every GET and 304 Not Modified for a matching If-None-Match;
//     a 304 does not count against the rate limit, as on GitHub;
//   - the rate-limit headers X-RateLimit-Limit, -Remaining, -Reset, -Used and
//     -Resource on every answer, primary rate limiting (403 with
//     X-RateLimit-Remaining: 0) via [Server.RateLimitNext] and secondary rate
//     limiting (403 or 429 with Retry-After) via
//     [Server.SecondaryRateLimitNext];
//   - token authentication ([Server.RequireToken]: 401 Bad credentials
//     otherwise) and GitHub App installation tokens ([Server.AddApp]): the
//     RS256 JWT sent to the access_tokens endpoint is verified against the
//     app's public key, and the minted token is accepted until it expires.
//
// Object timestamps (created_at, updated_at, submitted_at, …) come from a
// logical clock that starts at 2024-01-01T00:00:00Z and advances one minute
// per change, so that "most recently updated" is deterministic. Token
// expiry and rate-limit reset times use the real clock.
//
// The state is guarded by one mutex; tests may change it from any goroutine
// while requests are being served. Requests are recorded in order for
// assertions ([Server.Requests]).
package githubtest
