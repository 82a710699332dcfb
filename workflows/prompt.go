package workflows

import (
	"fmt"
	"strings"
)

// channelNames are how the agent is told which interface the user is on.
var channelNames = map[Channel]string{
	ChannelEmail: "email",
	ChannelSlack: "Slack",
	ChannelLocal: "the airut command line",
}

// ChannelContext is the preamble that tells the agent how the user talks
// to it and what survives between messages.
func ChannelContext(channel Channel) string {
	name, ok := channelNames[channel]
	if !ok {
		name = string(channel)
	}
	markdown := "Markdown formatting is supported"
	if channel == ChannelSlack {
		markdown = "Markdown formatting (except tables) is supported"
	}
	return fmt.Sprintf("User is interacting with this session via %s interface and will receive your last reply as a message. "+
		"After the reply, everything not in /workspace, /inbox, and /storage is reset. %s. "+
		"To send files to the user, place them in the /outbox directory root (no subdirectories). "+
		"Use /storage to persist files across messages. "+
		"IMPORTANT: AskUserQuestion and plan mode tools (EnterPlanMode/ExitPlanMode) do not work over %s; "+
		"make reasonable assumptions and state them in your reply.", name, markdown, name)
}

// ComposePrompt builds the agent prompt for a batch of messages: the
// channel context, the subject of a new conversation, the inbox note, then
// each message under a "[sender time UTC]" header.
func ComposePrompt(channel Channel, msgs []Message, subject string, inbox []string, notice string) string {
	var b strings.Builder
	b.WriteString(ChannelContext(channel))
	if len(inbox) > 0 {
		fmt.Fprintf(&b, " The user has attached files to their message, which I have saved to /inbox/: %s.", strings.Join(inbox, ", "))
	}
	if subject != "" {
		fmt.Fprintf(&b, "\n\nSubject: %s", subject)
	}
	if notice != "" {
		b.WriteString("\n\n")
		b.WriteString(notice)
	}
	b.WriteString("\n\n")
	b.WriteString(MessageBody(msgs))
	return b.String()
}

// MessageBody renders the user's messages, oldest first.
func MessageBody(msgs []Message) string {
	parts := make([]string, 0, len(msgs))
	for _, m := range msgs {
		who := m.SenderDisplay
		if who == "" {
			who = m.Sender
		}
		parts = append(parts, fmt.Sprintf("[%s %s UTC]\n%s", who, m.ReceivedAt.UTC().Format("2006-01-02 15:04:05"), strings.TrimSpace(m.Body)))
	}
	return strings.Join(parts, "\n\n")
}

// MovedText tells the user a task moved: its host stopped (or is being
// taken out of service) before the agent finished.
const MovedText = "The machine working on this stopped before it finished, so your request moved to another one and starts again there. " +
	"You will get the reply from there; nothing needs doing on your side."

// RehomedText tells the user that a conversation moved while it waited
// for their message: its host is gone, so the agent starts over on
// another one.
const RehomedText = "The machine this conversation was on is no longer available, so it continues on another one, " +
	"from a fresh copy of the repository: work that was not pushed from the old machine is not there. " +
	"You will get the reply from there; nothing needs doing on your side."

// RehomeNotice tells the agent its workspace was re-created on a new host.
const RehomeNotice = "IMPORTANT: This conversation moved to a new host because its previous host became unavailable. " +
	"The workspace is a fresh clone and the previous session's context is gone. " +
	"Check `git status` and `git log` and the branches on the remote to see what was already done, and tell the user."

// RecoveryPrompt is the fresh-session prompt used once when a resumed
// session cannot continue (too long or corrupted).
func RecoveryPrompt(channel Channel, msgs []Message, lastReply string) string {
	var b strings.Builder
	b.WriteString(ChannelContext(channel))
	b.WriteString("\n\nIMPORTANT: The previous conversation session could not be resumed due to context length limits or a session error, " +
		"so you are starting with a fresh context. ")
	if lastReply != "" {
		r := lastReply
		if len(r) > 3000 {
			r = r[:3000] + "[...truncated]"
		}
		b.WriteString("Your last successful reply to the user was:\n\n")
		b.WriteString(r)
		b.WriteString("\n\n")
	}
	b.WriteString("Be upfront with the user that earlier context was lost, and check `git status` and `git log` in /workspace to see the state of the work.\n\n")
	b.WriteString("The user's message:\n")
	b.WriteString(MessageBody(msgs))
	return b.String()
}

// Footer is the usage line under a successful reply.
func Footer(r AgentResult) string {
	var parts []string
	if r.CostUSD > 0 && !r.Subscription {
		parts = append(parts, fmt.Sprintf("Cost: $%.4f", r.CostUSD))
	}
	if r.WebSearches > 0 {
		parts = append(parts, fmt.Sprintf("Web searches: %d", r.WebSearches))
	}
	if r.WebFetches > 0 {
		parts = append(parts, fmt.Sprintf("Web fetches: %d", r.WebFetches))
	}
	if b := BlockedNote(r); b != "" {
		parts = append(parts, b)
	}
	return strings.Join(parts, " · ")
}

// BlockedNote tells the user the sandbox refused requests during the run,
// so a missing allowlist entry is noticed ("" when none were).
func BlockedNote(r AgentResult) string {
	if r.NetworkBlocked == 0 {
		return ""
	}
	s := fmt.Sprintf("Network sandbox blocked %d request(s)", r.NetworkBlocked)
	if len(r.BlockedExamples) > 0 {
		s += ": " + strings.Join(r.BlockedExamples, ", ")
	}
	return s + " (allow them in .airut/network-allowlist.yaml)"
}

// User-facing texts, matching the reference where its wording is good.
const (
	AckText       = "I've started working on this and will reply shortly."
	EmptyText     = "Your message appears to be empty. Please send a new message with instructions."
	genericFailed = "An error occurred while processing your message. To retry, send your message again."
)

// StoppedText is the reply to a task stopped by `airut stop`: the two ways
// on are a reply, which resumes the stopped session (the workflow keeps
// the session the run reported), and the retry update, which runs the
// stopped task's messages again.
func StoppedText(conversationID string) string {
	return "The task was stopped. The files in the workspace are kept.\n\n" +
		"Reply to continue in the same session, or run `airut retry " + conversationID + "` to run the stopped task again."
}

// TimeoutText is the reply when the task's time limit ran out.
func TimeoutText(seconds int) string {
	head := "The task was interrupted."
	if seconds > 0 {
		head = fmt.Sprintf("The task was interrupted after %d seconds.", seconds)
	}
	return head + " Work done so far has been saved.\n\nReply to resume — you can ask about progress or request next steps."
}

// FailureText is the reply when the agent failed.
func FailureText(summary string) string {
	if strings.TrimSpace(summary) == "" {
		return genericFailed
	}
	return genericFailed + "\n\nClaude output:\n```\n" + strings.TrimSpace(summary) + "\n```"
}

// InternalFailureText is the reply when a step around the agent failed.
func InternalFailureText(err string) string {
	return genericFailed + "\n\n`" + err + "`"
}

// WorkspaceFailureText is the reply when the workspace could not be made.
func WorkspaceFailureText(err string) string {
	return "An error occurred while processing your message: unable to create workspace. To retry, send your message again.\n\n`" + err + "`"
}
