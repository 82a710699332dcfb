// Package slacktest is a fake Slack for tests only: a Web API and a Socket
// Mode WebSocket endpoint on an [httptest.Server] bound to the loopback
// interface, speaking Slack's wire format closely enough that the unmodified
// github.com/slack-go/slack client and its socketmode package can be pointed
// at it:
//
//	fake := slacktest.NewServer(t)
//	api := slack.New(botToken,
//		slack.OptionAPIURL(fake.APIURL()), // http://127.0.0.1:port/api/ (trailing slash)
//		slack.OptionAppLevelToken(appToken))
//	sm := socketmode.New(api)
//
// It is never used in production code and must not grow methods that the
// code under test does not call.
//
// # Socket Mode
//
// apps.connections.open (app-level xapp- token required) answers a
// single-use ws:// URL on this server. The WebSocket first sends a hello
// envelope, then the envelopes a test pushes ([Server.PushEvent],
// [Server.PushEnvelope]) and records the client's acknowledgements
// ({"envelope_id": …}, optionally with a payload). [Server.Redeliver] sends
// an envelope again with retry_attempt+1 and retry_reason "timeout", as Slack
// does when an envelope is not acknowledged in time. An envelope pushed while
// no socket is open is queued and sent after the hello of the next one; with
// several sockets open, the newest one gets it. The server sends a WebSocket
// ping every second ([Server.SetPingInterval]): socketmode drops a
// connection that has not been pinged for its ping interval (30 s by
// default). [Server.DropConnections] closes every socket without a close
// frame (a network failure); [Server.Disconnect] sends Slack's "disconnect"
// envelope first (a server-requested refresh). Either way socketmode opens a
// new connection with a fresh apps.connections.open.
//
// # Web API
//
// Requests are answered under /api/{method}, as HTTP 200 with {"ok": true, …}
// or {"ok": false, "error": "…"}, for form-encoded, JSON and multipart
// bodies and GET query strings, with the token taken from the Authorization
// header or the token argument. Without a token the answer is not_authed; an
// app-level (xapp-) token on a bot method or a bot token on
// apps.connections.open gives not_allowed_token_type; a token other than the
// one set with [Server.RequireBotToken] / [Server.RequireAppToken] gives
// invalid_auth (as on Slack, with HTTP 200, which slack-go and socketmode
// rely on to tell a bad token from a transient failure). [Server.FailNext]
// makes the next calls of a method fail with a Slack error; "ratelimited" is
// answered as Slack does, with HTTP 429 and a Retry-After header, which
// slack-go turns into *slack.RateLimitedError. [Server.FailNextStatus]
// answers a bare HTTP status instead (e.g. a 503 from Slack's edge).
//
// Methods served: auth.test, users.info, usergroups.list,
// usergroups.users.list, conversations.info, conversations.replies,
// chat.postMessage, chat.update, reactions.add, reactions.remove,
// assistant.threads.setStatus, assistant.threads.setTitle,
// assistant.threads.setSuggestedPrompts, files.getUploadURLExternal,
// files.completeUploadExternal, files.info and apps.connections.open. Any
// other method answers unknown_method. Every call, failed or not, is
// recorded ([Server.Calls]); every successful chat.postMessage and
// chat.update also as a [Post], with the unfurl_links and unfurl_media
// arguments as sent. A [User] with NoTeam is answered without a team_id.
//
// The fake keeps one message history per channel: messages posted with
// chat.postMessage (and edited with chat.update), file shares made by
// files.completeUploadExternal, messages added with
// [Server.AddThreadMessage], and the message and app_mention events pushed
// with [Server.PushEvent]. conversations.replies reads it (parent first,
// then replies in ts order, with reply_count, latest_reply and reactions
// filled in as Slack does) and pages it with opaque cursors; chat.update and
// reactions.add answer message_not_found for a ts not in it. The timestamps
// the fake assigns are "seconds.microseconds" from the real clock, strictly
// increasing.
//
// # Files
//
// files.getUploadURLExternal answers an upload URL on this server; the
// upload itself (slack-go sends multipart/form-data with a "file" part;
// a raw body is accepted too) stores the bytes; files.completeUploadExternal
// records an [Upload] and, when shared to a channel, adds a file_share
// message from the bot to the history (to the thread given by thread_ts).
// As on Slack, its answer does not say which message shares the file.
// Private files ([Server.AddFile], and uploaded files) are served at
// url_private and url_private_download only with a valid bot token in the
// Authorization header; otherwise the answer is a redirect to a sign-in
// page with redir set to the file's path, as files.slack.com does, which
// slack-go's GetFile reports as an error.
//
// The state is guarded by one mutex; tests may change it from any goroutine
// while requests are served. The Wait* helpers must be called from the test
// goroutine (they call t.Fatalf on timeout).
package slacktest
