package activities

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/internal/mailout"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/sandbox"
	"github.com/airut-go/airut/workflows"
)

// RunTrigger runs a schedule's trigger command in the repo's sandboxed
// container, on a fresh checkout of the default branch that is removed
// afterwards, and returns how it ended with its output (stdout and stderr
// as written), cut to the output limit. The command is run by /bin/sh
// -c, so it may use the shell's syntax; it comes from the config, not
// from a message.
func (a *Activities) RunTrigger(ctx context.Context, in workflows.TriggerInput) (workflows.TriggerResult, error) {
	cfg := a.Config()
	r, err := cfg.Repo(in.RepoID)
	if err != nil {
		return workflows.TriggerResult{}, workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	defer keepAlive(ctx, nil)()
	// A stable place per firing: a retry of this activity starts over in
	// the same directory.
	sum := sha256.Sum256([]byte(activity.GetInfo(ctx).WorkflowExecution.RunID))
	id := hex.EncodeToString(sum[:4])
	l, err := conversation.For(filepath.Join(cfg.RepoStateDir(in.RepoID), "schedules"), id)
	if err != nil {
		return workflows.TriggerResult{}, err
	}
	if err := os.RemoveAll(l.Root); err != nil {
		return workflows.TriggerResult{}, fmt.Errorf("clear the trigger's checkout: %w", err)
	}
	defer os.RemoveAll(l.Root)
	log := a.log(id, "").With("schedule", in.Schedule)
	if _, err := ensureWorkspace(ctx, mirror(cfg, r), l); err != nil {
		return workflows.TriggerResult{}, err
	}
	if err := l.EnsureDirs(); err != nil {
		return workflows.TriggerResult{}, fmt.Errorf("prepare the trigger's directories: %w", err)
	}
	image, err := a.agentImage(ctx, cfg, r, log)
	if err != nil {
		return workflows.TriggerResult{}, err
	}
	task, err := a.startTask(ctx, cfg, r, l, workflows.AgentInput{RepoID: in.RepoID, ConversationID: id, TaskID: "trigger"}, image, log)
	if err != nil {
		return workflows.TriggerResult{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := task.Close(cctx); err != nil {
			log.Warn("sandbox cleanup", "error", err)
		}
	}()
	out := &cappedOutput{limit: in.OutputLimit}
	rctx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	res, err := task.Run(rctx, sandbox.Command{Args: []string{"/bin/sh", "-c", in.Command}, Stdout: out, Stderr: out})
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	if err != nil && !timedOut {
		return workflows.TriggerResult{}, fmt.Errorf("run the trigger command: %w", err)
	}
	tr := workflows.TriggerResult{ExitCode: res.ExitCode, TimedOut: timedOut || res.Outcome == sandbox.OutcomeTimeout, Output: string(out.buf)}
	if out.total > len(out.buf) {
		tr.Truncated = fmt.Sprintf("[...truncated at %s, total output was %s]", size(out.limit), size(out.total))
	}
	log.Info("trigger command ran", "exit", tr.ExitCode, "timed_out", tr.TimedOut, "output_bytes", out.total)
	return tr, nil
}

// cappedOutput keeps the first limit bytes written and counts the rest.
type cappedOutput struct {
	limit int
	buf   []byte
	total int
}

func (c *cappedOutput) Write(p []byte) (int, error) {
	c.total += len(p)
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// size is n bytes for people: 100KB, 2.3MB.
func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%dKB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// SendScheduleNotice tells a schedule's recipient, outside any
// conversation, that it keeps failing or works again: a mail of its own,
// or a message in the Slack channel.
func (a *Activities) SendScheduleNotice(ctx context.Context, in workflows.ScheduleNotice) error {
	r, err := a.Config().Repo(in.RepoID)
	if err != nil {
		return workflows.Fail(workflows.ErrConfig, err.Error(), err)
	}
	switch in.Deliver.Channel {
	case workflows.ChannelEmail:
		return a.mailNotice(ctx, r, in)
	case workflows.ChannelSlack:
		if r.Slack == nil {
			return workflows.Fail(workflows.ErrConfig, fmt.Sprintf("repo %s has no Slack settings for schedule %s's notice", r.ID, in.Schedule), nil)
		}
		if _, err := slackclient.Post(ctx, slackclient.New(*r.Slack), in.Deliver.To, "", in.Text); err != nil {
			return slackError("post schedule notice", err)
		}
		return nil
	}
	return workflows.Fail(workflows.ErrConfig, fmt.Sprintf("schedule %s delivers by %q", in.Schedule, in.Deliver.Channel), nil)
}

func (a *Activities) mailNotice(ctx context.Context, r *config.Repo, in workflows.ScheduleNotice) error {
	e := r.Email
	if e == nil {
		return workflows.Fail(workflows.ErrConfig, fmt.Sprintf("repo %s has no email settings for schedule %s's notice", r.ID, in.Schedule), nil)
	}
	from, err := mail.ParseAddress(e.Account.From)
	if err != nil {
		return workflows.Fail(workflows.ErrConfig, fmt.Sprintf("email.account.from of repo %s is not an address", r.ID), err)
	}
	nonce := make([]byte, 4)
	rand.Read(nonce)
	now := time.Now()
	raw, _, _, err := mailout.Compose(mailout.Reply{
		From: e.Account.From, To: []string{in.Deliver.To},
		Subject:   fmt.Sprintf("[schedule %s] %s", in.Schedule, in.Subject),
		MessageID: mailout.NewMessageID("schedule", from.Address, now, hex.EncodeToString(nonce)),
		Text:      in.Text, Date: now,
	})
	if err != nil {
		return workflows.Fail(workflows.ErrDelivery, "the schedule notice could not be written as an email", err)
	}
	if err := mailout.Send(ctx, a.smtpConfig(e, a.log("", "")), e.Account.From, []string{in.Deliver.To}, raw); err != nil {
		return fmt.Errorf("send schedule notice: %w", err)
	}
	return nil
}
