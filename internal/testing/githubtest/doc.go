// Package githubtest is a fake GitHub for tests only, in the spirit of
// cli/cli's httpmock; it is never used in production code and must not
// grow endpoints that the code under test does not call.
//
// [NewServer] starts an [httptest.Server] on the loopback interface that
// speaks GitHub's wire format for exactly the REST endpoints that
// internal/github and internal/githubapp call, and that the sandbox proxy's
// tests reach through the proxy:
//
//	GET  /repos/{owner}/{repo}
//	GET  /repos/{owner}/{repo}/pulls?head=&state=&sort=&direction=
//	GET  /repos/{owner}/{repo}/pulls/{number}
//	GET  /repos/{owner}/{repo}/commits/{ref}/check-runs
//	GET  /repos/{owner}/{repo}/commits/{ref}/status
//	GET  /repos/{owner}/{repo}/pulls/{number}/reviews
//	GET  /repos/{owner}/{repo}/pulls/{number}/comments
//	GET  /repos/{owner}/{repo}/issues/{number}/comments
//	POST /app/installations/{id}/access_tokens
//	GET  /installation/repositories
//
// Every one is served both at the root (github.com style, [Server.URL]) and
// under /api/v3/ (GitHub Enterprise Server style, [Server.EnterpriseURL]).
// [Server.ServeGitRepo] adds Git's smart HTTP protocol for a bare
// repository at /{owner}/{repo}.git (info/refs, git-upload-pack,
// git-receive-pack), run by `git http-backend`. [Server.Handler] serves
// all of it on a listener of the test's own.
//
// What it reproduces of the real service:
//   - JSON bodies shaped like GitHub's (snake_case fields, null where GitHub
//     sends null, RFC 3339 timestamps, user objects, html_url links);
//     repository node IDs in GitHub's current format, "R_" and the
//     unpadded URL-safe base64 of the MessagePack array [0, id]
//     ("R_kgDO…"; other node IDs are made up);
//   - pagination with per_page/page and Link headers (rel next, last, prev,
//     first); [Server.SetPerPageLimit] caps per_page so that small data sets
//     span several pages;
//   - ETag on every GET and 304 Not Modified for a matching If-None-Match;
//     a 304 does not count against the rate limit, as on GitHub;
//   - the rate-limit headers X-RateLimit-Limit, -Remaining, -Reset, -Used and
//     -Resource on every API answer, primary rate limiting (403 with
//     X-RateLimit-Remaining: 0) via [Server.RateLimitNext] and secondary rate
//     limiting (403 or 429 with Retry-After) via
//     [Server.SecondaryRateLimitNext]; Git requests are not rate limited;
//   - token authentication ([Server.RequireToken]: 401 Bad credentials
//     otherwise; such a token may see and do everything) and GitHub App
//     installation tokens ([Server.AddApp], [Server.AddAppWithClientID]):
//     the RS256 JWT sent to the access_tokens endpoint is verified against
//     the app's public key, its iss may be the app ID (number or string) or
//     the client ID, and the minted token ("ghs_" and 36 letters and digits)
//     is accepted until it expires;
//   - installations on all repositories, or on those chosen with
//     [Server.AddInstallationRepo], with permissions
//     ([Server.SetInstallationPermissions]); a mint may narrow both with the
//     body GitHub takes (repositories by name, repository_ids,
//     permissions), and asking for more than the installation has is
//     refused with GitHub's 422 messages; [Server.Minted] tells what each
//     token may do;
//   - repository visibility: an installation token sees only its
//     repositories, and every /repos/{owner}/{repo} endpoint answers 404
//     for the others, as GitHub does; permissions are not checked on the
//     REST API;
//   - Git over HTTP with Basic authentication, the token as password:
//     fetching needs contents read on a covered repository (else 404),
//     pushing contents write (else 403 "Permission to owner/repo.git
//     denied"), and a missing or unknown token gets 401 with
//     WWW-Authenticate: Basic realm="GitHub".
//
// Object timestamps (created_at, updated_at, submitted_at, …) come from a
// logical clock that starts at 2024-01-01T00:00:00Z and advances one minute
// per change, so that "most recently updated" is deterministic. Token
// expiry and rate-limit reset times use the real clock.
//
// The state is guarded by one mutex; tests may change it from any goroutine
// while requests are being served (a Git request runs its process without
// holding it). Requests are recorded in order of completion for assertions
// ([Server.Requests]).
package githubtest
