// Package dashboard is Airut's web dashboard: server-rendered pages that
// show every conversation (overview, thread, live agent activity, network
// log, repo settings and cost), Server-Sent Events that relay a running
// conversation's files to the browser as they grow, and three actions
// (stop, retry, send a follow-up).
//
// It renders and relays; it does not own anything. Every fact comes from a
// Source (Temporal, in temporal.go) and every action goes to it, so a
// restart loses nothing and two dashboards show the same. It keeps no state
// of its own beyond short caches (a list result for two seconds, the tail
// of a file while someone watches it), and it reads nothing from disk
// directly: a conversation's files may live on another worker host, and
// Source.Read fetches them from wherever they are.
//
// Everything it shows from a conversation is untrusted: the agent writes the
// event log, replies and network log, and senders write the messages. All
// of it goes through html/template escaping or the safe Markdown renderer
// (markdown.go: raw HTML dropped, links only to http, https and mailto), and
// the pages are served under a strict Content-Security-Policy with no
// inline script or style. No secret value is ever rendered: the Source
// never hands one over and RepoInfo carries secret names only.
//
// # Security
//
// Requests pass, outermost first: a Host allowlist (loopback names, the
// base URL's host and Options.AllowedHosts; anything else gets 421, which
// defeats DNS rebinding), authentication when configured, cross-origin
// protection (http.CrossOriginProtection on every non-GET request; state
// changes only ever happen on POST) and the security headers.
//
// Authentication is optional and meant for non-loopback use:
//
//   - Options.AuthToken: every request must carry "Authorization: Bearer
//     <token>" (scripts) or the session cookie that the login form
//     (/login, which takes the token) sets. The cookie holds an HMAC of the
//     token, not the token; it is HttpOnly, SameSite=Strict and Secure when
//     served over https, and changing the token invalidates every cookie.
//     Only /login and /static/ are reachable without it. Tokens shorter
//     than 16 bytes are refused by New.
//   - Options.TrustedProxyHeader: a reverse proxy that authenticates users
//     puts the user's name in this header (X-Forwarded-User, say); requests
//     without it are refused with 403, and the name is the actor recorded
//     for stop, retry and send. The header is only as trustworthy as the
//     proxy: the dashboard must then be reachable through the proxy alone.
//
// Both may be set; then both are required.
//
// # Live updates
//
// GET /conversation/{id}/events/stream and .../network/stream are
// Server-Sent Events: the event id is the byte offset in the file, a
// reconnect resumes from Last-Event-ID (or ?offset=), each "html" event
// carries the rendered fragment for new lines, "status" the conversation's
// state when it changes and "done" ends the stream once the conversation is
// no longer busy. One reader per watched file (hub.go) long-polls
// Source.Read and fans out to every viewer. At most Options.MaxStreams
// streams run at once; more get 429 with Retry-After, and the page script
// then polls .../poll?offset=N instead. Pages work without JavaScript;
// they just do not update by themselves.
package dashboard
