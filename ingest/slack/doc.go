// Package slack is the Slack channel's inbound side: a Socket Mode
// listener (no public endpoint) that turns DMs to the bot and @mentions in
// channel threads into conversation messages, the authorization rules
// (workspace members, user groups, user IDs, after rejecting bots,
// deactivated and external users, a user whose team is unknown counting
// as external), and the mapping of a thread to its conversation. The
// first mention inside an existing thread brings in the thread's earlier
// messages, only those of people the same rules authorize. The mapping is derived from (team, channel, thread ts), so
// it needs no store and a follow-up can never open a second conversation.
//
// An event is acknowledged to Slack only after its message was durably
// handed to Temporal; Slack re-delivers unacknowledged events, and the
// workflow's de-duplication makes the repeat a no-op.
package slack
