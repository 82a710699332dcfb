package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Task queues and registered names.
const (
	// SharedQueue is polled by every worker: workflow tasks and the first
	// activity of a conversation, which picks its home host.
	SharedQueue = "airut"

	WorkflowName = "ConversationWorkflow"

	SignalMessage = "message"
	// SignalAction records who asked for a stop or retry (operate sends
	// it before the update).
	SignalAction = "action"
	QueryStatus  = "status"
	UpdateStop   = "stop"
	UpdateRetry  = "retry"

	ActivityClaimHost        = "ClaimHost"
	ActivityPrepareWorkspace = "PrepareWorkspace"
	ActivityRunAgent         = "RunAgent"
	ActivityDeliverReply     = "DeliverReply"
	ActivityCleanup          = "CleanupWorkspace"
	// ActivityReadFile reads one of a conversation's logs on the host
	// that has it. The dashboard starts it directly on the host's queue
	// (a standalone activity); no workflow runs it.
	ActivityReadFile = "ReadConversationFile"
)

// HostQueue is the task queue of one worker host: workspace-bound
// activities that must run where the conversation's files are.
func HostQueue(hostID string) string { return "airut-host-" + hostID }

// RunQueue is the host's queue for agent runs, which a worker serves with
// at most execution.max_concurrent slots, so a busy host still prepares
// workspaces and delivers replies.
func RunQueue(hostQueue string) string { return hostQueue + "-run" }

// Where the conversation's directories appear in the agent's container.
// The prompts (prompt.go) tell the agent about them in words, and the
// agent run mounts them there (TestPromptNamesTheContainerPaths keeps
// the two in step).
const (
	ContainerWorkspace = "/workspace"
	ContainerInbox     = "/inbox"
	ContainerOutbox    = "/outbox"
	ContainerStorage   = "/storage"
)

// WorkflowID is the ID of a conversation's workflow.
func WorkflowID(repoID, conversationID string) string {
	return fmt.Sprintf("airut/%s/%s", repoID, conversationID)
}

// Search attributes, registered on the namespace by the server wiring.
var (
	AttrRepo    = temporal.NewSearchAttributeKeyKeyword("AirutRepo")
	AttrChannel = temporal.NewSearchAttributeKeyKeyword("AirutChannel")
	AttrSender  = temporal.NewSearchAttributeKeyKeyword("AirutSender")
	AttrStatus  = temporal.NewSearchAttributeKeyKeyword("AirutStatus")
	AttrPR      = temporal.NewSearchAttributeKeyKeyword("AirutPR")
)

// SearchAttributeNames lists the keyword attributes to register.
func SearchAttributeNames() []string {
	return []string{AttrRepo.GetName(), AttrChannel.GetName(), AttrSender.GetName(), AttrStatus.GetName(), AttrPR.GetName()}
}

// Conversation status values (AirutStatus and Status.State).
const (
	StateQueued = "queued"
	StateBusy   = "busy"
	StateIdle   = "idle"
	StateFailed = "failed"
	// StateStopped: the last task was stopped (`airut stop`); like a
	// failed one it can be retried, and the next message resumes its
	// session.
	StateStopped = "stopped"
	StateExpired = "expired"
)

// Channel is where a conversation's messages come from and where its
// replies go.
type Channel string

const (
	ChannelLocal Channel = "local"
	ChannelEmail Channel = "email"
	ChannelSlack Channel = "slack"
)

// ReplyTo is what a channel needs to answer in the same thread: one part
// per channel, nil for the others (both nil: the local channel).
//
// It lives in workflow history, so its JSON is a durable schema. The
// parts are embedded so that their fields sit at the top level under the
// keys of the map[string]string this type replaced: recorded histories
// decode into it, and workers of the previous release decode what this
// one writes (a rolling upgrade runs both).
type ReplyTo struct {
	*EmailThread
	*SlackThread
}

// IsZero reports whether r names no thread.
func (r ReplyTo) IsZero() bool { return r.EmailThread == nil && r.SlackThread == nil }

// EmailThread is the email message a reply answers.
type EmailThread struct {
	// To is the authenticated sender, who gets the reply.
	To string `json:"to,omitempty"`
	// Subject is the thread's subject as the sender wrote it.
	Subject string `json:"subject,omitempty"`
	// MessageID is the answered message's Message-ID without brackets;
	// empty when it had none (the reply then has no In-Reply-To).
	MessageID string `json:"message_id,omitempty"`
	// References are the answered message's References, without
	// brackets, oldest first.
	References IDList `json:"references,omitempty"`
	// Opens: no message is answered; the reply starts the thread (a
	// scheduled task's), so its subject has no "Re:". A Flag, not a bool,
	// so the previous release's string map still decodes the address;
	// the bool true the first scheduled conversations recorded reads as
	// true too.
	Opens Flag `json:"opens,omitempty"`
}

// SlackThread is the Slack message a reply answers.
type SlackThread struct {
	ChannelID string `json:"slack_channel,omitempty"`
	// ThreadTS is the thread's root; TS the message itself (its
	// reactions show the task's state).
	ThreadTS string `json:"thread_ts,omitempty"`
	TS       string `json:"ts,omitempty"`
	// Title names the thread in the assistant pane of a direct message.
	Title string `json:"title,omitempty"`
	// DM: the message came in a direct message with the app.
	DM Flag `json:"dm,omitempty"`
}

// IDList is a list of message IDs, written as one space-separated string
// as the map it replaced held it.
type IDList []string

// MarshalJSON writes the IDs space-separated.
func (l IDList) MarshalJSON() ([]byte, error) { return json.Marshal(strings.Join(l, " ")) }

// UnmarshalJSON reads a space-separated string (or a JSON array).
func (l *IDList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var a []string
		if json.Unmarshal(b, &a) != nil {
			return fmt.Errorf("message ID list: %w", err)
		}
		*l = a
		return nil
	}
	*l = strings.Fields(s)
	return nil
}

// Flag is a boolean written as "1" (true) as the map it replaced held it.
type Flag bool

// MarshalJSON writes "1" or "".
func (f Flag) MarshalJSON() ([]byte, error) {
	if f {
		return []byte(`"1"`), nil
	}
	return []byte(`""`), nil
}

// UnmarshalJSON reads "1" (or true) as true, anything else as false.
func (f *Flag) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*f = s == "1" || s == "true"
	return nil
}

// Message is one inbound message, already authenticated by ingest.
type Message struct {
	// ID is stable across re-deliveries of the same message (email
	// Message-ID, Slack channel+ts, a UUID for `airut send`); the workflow
	// runs each ID once.
	ID            string
	Channel       Channel
	Sender        string
	SenderDisplay string
	Subject       string
	Body          string
	ReceivedAt    time.Time
	ModelHint     string
	Attachments   []Attachment
	// ReplyTo carries what the channel needs to answer in the same thread.
	ReplyTo ReplyTo
	// Retry marks a message re-queued by the retry update; it bypasses
	// de-duplication.
	Retry bool
	// Auto marks a follow-up the workflow started itself (the PR loop);
	// messages from people always run before it.
	Auto bool
}

// Attachment is a file that came with a message, stored where any worker
// can read it until PrepareWorkspace copies it into the inbox.
type Attachment struct {
	Name string
	Path string
}

// Outcome is how a task ended.
type Outcome string

const (
	OutcomeSuccess          Outcome = "success"
	OutcomeTimeout          Outcome = "timeout"
	OutcomePromptTooLong    Outcome = "prompt_too_long"
	OutcomeSessionCorrupted Outcome = "session_corrupted"
	OutcomeContainerFailed  Outcome = "container_failed"
	OutcomeCancelled        Outcome = "cancelled"
	OutcomeInternalError    Outcome = "internal_error"
	OutcomeEmpty            Outcome = "empty_message"
)

// Unresumable reports whether a resumed session should be retried fresh.
func (o Outcome) Unresumable() bool {
	return o == OutcomePromptTooLong || o == OutcomeSessionCorrupted
}

// ClaimInput asks the worker that takes it from the shared queue to be a
// new conversation's home: it reserves one of its agent slots and answers
// with its host queue, or fails with ErrHostBusy when it has none free.
type ClaimInput struct {
	RepoID         string
	ConversationID string
}

// ClaimResult names the host that took the conversation.
type ClaimResult struct {
	HostQueue string
}

// PrepareInput asks a host to make a conversation's workspace ready.
type PrepareInput struct {
	RepoID         string
	ConversationID string
	TaskID         string
	// Rehome: the conversation's old host is gone; clone afresh here.
	Rehome      bool
	Attachments []Attachment
}

// PrepareResult describes the ready workspace and the repo's settings as
// of this task (read from config at task start, so edits apply to the next
// task).
type PrepareResult struct {
	HostQueue string
	// Created is true when the workspace was cloned by this call.
	Created          bool
	Model            string
	Effort           string
	TimeoutSeconds   int
	HeartbeatSeconds int
	HostTimeoutSecs  int
	// Inbox lists the attachment names saved for this task.
	Inbox []string
}

// AgentInput is one run of the agent in a container.
type AgentInput struct {
	RepoID         string
	ConversationID string
	TaskID         string
	Prompt         string
	SessionID      string
	Model          string
	Effort         string
	// Channel and ReplyTo let the run show live progress (the Slack plan).
	Channel Channel
	ReplyTo ReplyTo
}

// Usage is token usage as the agent reports it.
type Usage struct {
	InputTokens              int64
	OutputTokens             int64
	CacheCreationInputTokens int64
	CacheReadInputTokens     int64
}

// AgentResult is what came out of an agent run. Transcripts stay on disk
// (events.jsonl); only the summary crosses into workflow history.
type AgentResult struct {
	Outcome      Outcome
	SessionID    string
	Text         string
	ErrorSummary string
	CostUSD      float64
	Usage        Usage
	DurationMS   int64
	NumTurns     int
	WebSearches  int
	WebFetches   int
	ExitCode     int
	// Subscription is true when the agent ran on a subscription token, so
	// cost is not shown.
	Subscription bool
	// NetworkBlocked counts the requests the network sandbox refused
	// during the run; BlockedExamples names a few ("GET host/path").
	NetworkBlocked  int
	BlockedExamples []string
}

// ReplyKind says what a reply is for.
type ReplyKind string

const (
	ReplyAck   ReplyKind = "ack"
	ReplyFinal ReplyKind = "reply"
	ReplyError ReplyKind = "error"
	// ReplyNotice tells the user about the task on its way (it moved to
	// another host): best effort, like an acknowledgement, but a message
	// of its own in every channel.
	ReplyNotice ReplyKind = "notice"
)

// Interim reports whether a reply of kind k is sent while the task is on
// its way, not its answer: it is best effort and not the task's reply.
func (k ReplyKind) Interim() bool { return k == ReplyAck || k == ReplyNotice }

// ReplyInput is one message back to the user.
type ReplyInput struct {
	RepoID         string
	ConversationID string
	TaskID         string
	Kind           ReplyKind
	Channel        Channel
	ReplyTo        ReplyTo
	Subject        string
	Text           string
	Footer         string
	// AttachOutbox sends the outbox files with the reply and clears them.
	AttachOutbox bool
	// MessageIDs are the task's messages.
	MessageIDs []string
	// Answered are the reply addresses of the task's messages, in order
	// (Slack swaps their reactions).
	Answered []ReplyTo
}

// ReplyResult reports what was delivered.
type ReplyResult struct {
	Attached []string
	Failed   []string
}

// CleanupInput removes an expired conversation's files.
type CleanupInput struct {
	RepoID         string
	ConversationID string
}

// Pull-request loop activities.
const (
	ActivityFindPullRequest = "FindPullRequest"
	ActivityPollPullRequest = "PollPullRequest"

	// ReplyPR is a message about the conversation's pull request.
	ReplyPR ReplyKind = "pr"
)

// PRRef names a pull request.
type PRRef struct {
	Owner, Repo string
	Number      int
	URL         string
	HeadBranch  string
	HeadSHA     string
}

// FindPRInput asks for the PR of the conversation's current branch.
type FindPRInput struct {
	RepoID         string
	ConversationID string
}

// PRSettings are the repo's pull-request loop settings, read from config
// when the PR is looked up.
type PRSettings struct {
	PollSeconds       int
	MaxPollSeconds    int
	AutoIterate       bool
	MaxAutoIterations int
}

// FindPRResult is the open PR of the workspace's branch, if any. Enabled is
// false when the repo has no GitHub access configured.
type FindPRResult struct {
	Enabled  bool
	PR       *PRRef
	Settings PRSettings
}

// PollPRInput asks for what changed on a PR; cursors are the highest
// review and comment IDs already reported.
type PollPRInput struct {
	RepoID        string
	PR            PRRef
	ReviewCursor  int64
	CommentCursor int64
}

// PRCheck is a finished check that did not succeed.
type PRCheck struct {
	Name, Conclusion, URL, Summary string
}

// PRReview is a review newer than the cursor.
type PRReview struct {
	ID                     int64
	User, State, Body, URL string
}

// PRComment is a review or issue comment newer than the cursor.
type PRComment struct {
	ID         int64
	User, Path string
	Line       int
	Body, URL  string
}

// PollPRResult is the PR's state now.
type PollPRResult struct {
	State        string // open, closed, merged
	HeadSHA      string
	ChecksDone   bool
	ChecksFailed []PRCheck
	Reviews      []PRReview
	Comments     []PRComment
	// RateLimitedUntil is set when GitHub asked to wait; nothing else is.
	RateLimitedUntil time.Time
}

// The logs ActivityReadFile reads (ReadFileInput.Kind).
const (
	FileEvents  = "events"
	FileNetwork = "network"
	FileReplies = "replies"
)

// ReadFileInput asks for a conversation log from Offset: whole lines, at
// most Max bytes, waiting up to WaitMS milliseconds for new ones.
type ReadFileInput struct {
	RepoID         string
	ConversationID string
	Kind           string
	Offset         int64
	Max            int
	WaitMS         int64
}

// ReadFileResult is a piece of a conversation log; Next is where the next
// read starts. Gone: the host has no such file.
type ReadFileResult struct {
	Data []byte
	Next int64
	Size int64
	Gone bool
}

// Action is a person's request on a conversation from outside its channel
// (the dashboard, the CLI), kept so that the conversation says who asked.
type Action struct {
	// Kind is "stop" or "retry".
	Kind  string
	Actor string
	At    time.Time
}
