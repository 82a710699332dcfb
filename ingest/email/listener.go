package email

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/airut-go/airut/internal/metrics"
	"io/fs"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/airut-go/airut/ingest"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/imapbox"
	"github.com/airut-go/airut/internal/mailauth"
	"github.com/airut-go/airut/workflows"
)

// DebugPauseEnv names an unstable debug knob for crash tests: set to
// "after-fetch" or "after-handoff", the listener logs "debug pause" and
// stops at that point of the first message until it is killed.
const DebugPauseEnv = "AIRUT_DEBUG_EMAIL_PAUSE"

// The rejected-mail store of each repo keeps at most this many messages
// and bytes by default: anyone can send mail, so without a cap a stranger
// could fill the disk with it.
const (
	DefaultRejectedMaxMessages       = 1000
	DefaultRejectedMaxBytes    int64 = 100 << 20
)

// fetchBatch bounds how many messages one pass hands off before checking
// the mailbox again.
const fetchBatch = 50

// Listener hands the mail of one repo's mailbox to its conversations.
type Listener struct {
	RepoID         string
	Email          config.Email
	AttachmentsDir string
	// RejectedDir keeps mail that was not accepted (malformed, failed
	// authentication, unknown sender) with the reason, so nothing that
	// arrived is lost without a trace.
	RejectedDir string
	// RejectedMaxMessages and RejectedMaxBytes cap what RejectedDir keeps
	// for this repo (the .eml and .reason files together); the oldest
	// messages go first. Zero or less means DefaultRejectedMaxMessages and
	// DefaultRejectedMaxBytes.
	RejectedMaxMessages int
	RejectedMaxBytes    int64
	Temporal            client.Client
	Options             workflows.Options
	Log                 *slog.Logger
	// Metrics counts accepted and rejected mail; nil counts nothing.
	Metrics *metrics.Metrics
	// Dial opens the mailbox; nil means imapbox.Dial with the config.
	Dial func(ctx context.Context) (*imapbox.Mailbox, error)
	// now is the clock that names rejected messages; nil means time.Now.
	now func() time.Time
	// auths keeps the mailbox's OAuth2 tokens between connections.
	auths mailauth.Cache
	// rejected indexes RejectedDir for trimming.
	rejected rejectedIndex
}

func (l *Listener) log() *slog.Logger {
	if l.Log == nil {
		return slog.Default().With("repo", l.RepoID, "channel", "email")
	}
	return l.Log.With("repo", l.RepoID, "channel", "email")
}

// Run serves the mailbox until ctx ends, reconnecting with backoff (10 s,
// 30 s, 90 s, 270 s, then every 300 s: unlike the reference it never gives
// up, since a mail server outage should not need a restart).
func (l *Listener) Run(ctx context.Context) error {
	log := l.log()
	failures := 0
	for ctx.Err() == nil {
		err := l.serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		failures++
		wait := reconnectDelay(failures)
		log.Warn("mailbox connection lost; reconnecting", "error", err, "attempt", failures, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

func reconnectDelay(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < 300*time.Second; i++ {
		d *= 3
	}
	return min(d, 300*time.Second)
}

func (l *Listener) dial(ctx context.Context) (*imapbox.Mailbox, error) {
	if l.Dial != nil {
		return l.Dial(ctx)
	}
	return imapbox.Dial(ctx, IMAPOptions(l.Email, &l.auths, l.log()))
}

// serve handles one connection: fetch, hand off, delete, wait, repeat.
func (l *Listener) serve(ctx context.Context) error {
	box, err := l.dial(ctx)
	if err != nil {
		return err
	}
	defer box.Close()
	log := l.log()
	log.Info("mailbox connected", "server", l.Email.IMAP.Server, "user", l.Email.Account.Username, "idle", l.Email.IMAP.Idle() && box.SupportsIdle())
	poll := time.Duration(l.Email.IMAP.PollInterval * float64(time.Second))
	idleRestart := time.Duration(l.Email.IMAP.IdleReconnectInterval) * time.Second
	for {
		msgs, err := box.Fetch(ctx, fetchBatch)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		// A stop (shutdown, or a reload that restarts or removes this
		// listener) lets the messages fetched finish their hand-off:
		// they are deleted from the mailbox only after Temporal took
		// them, so a cut would only make the next listener hand them
		// again.
		hctx, cancel := ingest.HandOffContext(ctx)
		err = l.handOff(ctx, hctx, box, msgs)
		cancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(msgs) == fetchBatch {
			continue
		}
		if err := box.Wait(ctx, l.Email.IMAP.Idle(), poll, idleRestart); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("wait for mail: %w", err)
		}
	}
}

// handoff is one accepted message on its way to its conversation.
type handoff struct {
	uid    uint32
	conv   string
	isNew  bool
	sender string
	msg    workflows.Message
}

// handOffConcurrency bounds the signals in flight; messages of one
// conversation still go one after another, in mailbox order.
const handOffConcurrency = 4

// handOff takes a batch of messages from the mailbox to Temporal. A
// message is deleted only after Temporal durably accepted it (or after a
// rejected one was kept on disk), so a crash anywhere re-delivers it, and
// the workflow's de-duplication makes the second delivery a no-op. run is
// the listener's lifetime (the debug pauses end with it); ctx outlives a
// stop by up to ingest.HandOffGrace.
func (l *Listener) handOff(run, ctx context.Context, box *imapbox.Mailbox, msgs []imapbox.Message) error {
	var done []uint32
	var order []string
	groups := map[string][]*handoff{}
	for _, m := range msgs {
		l.debugPause(run, "after-fetch")
		h, err := l.prepare(ctx, m)
		if err != nil {
			return err
		}
		if h == nil {
			done = append(done, m.UID) // rejected and kept on disk
			continue
		}
		if _, ok := groups[h.conv]; !ok {
			order = append(order, h.conv)
		}
		groups[h.conv] = append(groups[h.conv], h)
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, handOffConcurrency)
	var wg sync.WaitGroup
	for _, conv := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(hs []*handoff) {
			defer func() { <-sem; wg.Done() }()
			for _, h := range hs {
				target := ingest.Target{RepoID: l.RepoID, ConversationID: h.conv, Options: l.Options}
				if _, err := ingest.Deliver(ctx, l.Temporal, target, h.msg); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return // later messages of this conversation wait for the next pass
				}
				mu.Lock()
				done = append(done, h.uid)
				mu.Unlock()
				l.Metrics.Message("email", true, "")
				l.log().Info("mail accepted", "uid", h.uid, "conversation", h.conv, "new", h.isNew, "from", h.sender, "attachments", len(h.msg.Attachments))
			}
		}(groups[conv])
	}
	wg.Wait()
	if len(done) > 0 {
		l.debugPause(run, "after-handoff")
		if err := box.Delete(ctx, done...); err != nil {
			return fmt.Errorf("delete handed-off messages: %w", err)
		}
	}
	return firstErr
}

// rejectKind is a rejection's reason as a metric label: a short fixed
// phrase, never the reason's text (which names senders).
func rejectKind(re *RejectError) string {
	if re.Reason == reasonUnauthorized {
		return "unauthorized sender"
	}
	return "authentication"
}

// prepare parses, authenticates and places one message. It returns nil
// (and no error) for a message that was rejected and kept on disk.
func (l *Listener) prepare(ctx context.Context, m imapbox.Message) (*handoff, error) {
	p, err := Parse(m.Raw)
	if err != nil {
		l.Metrics.Message("email", false, "malformed")
		return nil, l.reject(m, "", "malformed message: "+err.Error())
	}
	sender, err := Authenticate(m.Raw, AuthConfig{
		TrustedAuthservID:         l.Email.Auth.TrustedAuthservID,
		AuthorizedSenders:         l.Email.Auth.AuthorizedSenders,
		MicrosoftInternalFallback: l.Email.Auth.MicrosoftInternalFallback,
	})
	if err != nil {
		var re *RejectError
		if errors.As(err, &re) {
			l.Metrics.Message("email", false, rejectKind(re))
			return nil, l.reject(m, re.From, re.Reason)
		}
		l.Metrics.Message("email", false, "authentication")
		return nil, l.reject(m, p.From, err.Error())
	}
	conv, isNew, err := l.conversation(ctx, p)
	if err != nil {
		return nil, err
	}
	atts, err := l.saveAttachments(p)
	if err != nil {
		return nil, err
	}
	// Replies go to the authenticated address only: the raw From header
	// (which Authenticate reduced to that one address) or a Reply-To
	// would let a message that authenticated as one sender direct the
	// agent's answer, and anything it attaches, to someone else.
	msg := workflows.Message{
		ID:            "email:" + p.MessageID,
		Channel:       workflows.ChannelEmail,
		Sender:        sender,
		SenderDisplay: p.SenderName,
		Subject:       p.Subject,
		Body:          p.Body,
		ReceivedAt:    time.Now().UTC(),
		Attachments:   atts,
		ReplyTo: workflows.ReplyTo{EmailThread: &workflows.EmailThread{
			To:        sender,
			Subject:   p.Subject,
			MessageID: p.HeaderMessageID(),
			// p.References are the message's own; the reply adds
			// MessageID after them.
			References: p.References,
		}},
	}
	if isNew {
		msg.ModelHint = ModelHint(p, l.mailboxAddress())
	}
	return &handoff{uid: m.UID, conv: conv, isNew: isNew, sender: sender, msg: msg}, nil
}

// conversation finds the conversation a message continues in this repo,
// or names a new one. A new conversation's ID is derived from the
// Message-ID, so a message delivered again after a crash reaches the same
// workflow (where it is recognised as a duplicate) instead of opening a
// second conversation.
func (l *Listener) conversation(ctx context.Context, p *Parsed) (string, bool, error) {
	if id := ConversationID(p); id != "" {
		ok, err := ingest.ConversationExists(ctx, l.Temporal, l.RepoID, id)
		if err != nil {
			return "", false, err
		}
		if ok {
			return id, false, nil
		}
		// An ID of another repo, or one Temporal no longer knows: new.
	}
	sum := sha256.Sum256([]byte(l.RepoID + "\x00" + p.MessageID))
	return hex.EncodeToString(sum[:4]), true, nil
}

func (l *Listener) mailboxAddress() string {
	if a, err := mail.ParseAddress(l.Email.Account.From); err == nil {
		return a.Address
	}
	return l.Email.Account.Username
}

// saveAttachments writes attachments under a directory named after the
// message, so a re-delivery overwrites rather than duplicates.
func (l *Listener) saveAttachments(p *Parsed) ([]workflows.Attachment, error) {
	if len(p.Attachments) == 0 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(p.MessageID))
	dir := filepath.Join(l.AttachmentsDir, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save attachments: %w", err)
	}
	var out []workflows.Attachment
	for i, a := range p.Attachments {
		name := filepath.Base(filepath.Clean("/" + a.Name))
		if name == "/" || name == "." {
			name = "attachment"
		}
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, name))
		if err := os.WriteFile(path, a.Data, 0o644); err != nil {
			return nil, fmt.Errorf("save attachment %s: %w", name, err)
		}
		out = append(out, workflows.Attachment{Name: name, Path: path})
	}
	return out, nil
}

// reject keeps a message that starts nothing on disk with its reason and
// logs it; the caller then removes it from the mailbox. The store is then
// trimmed to its caps; failing that is only logged, since the message
// itself was kept.
func (l *Listener) reject(m imapbox.Message, from, reason string) error {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	sum := sha256.Sum256(m.Raw)
	// The nanoseconds make names sort in arrival order, which trimming
	// relies on to drop the oldest first.
	dir := filepath.Join(l.RejectedDir, l.RepoID)
	name := now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(sum[:6])
	base := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("keep rejected message: %w", err)
	}
	if err := os.WriteFile(base+".eml", m.Raw, 0o600); err != nil {
		return fmt.Errorf("keep rejected message: %w", err)
	}
	reasonLine := []byte(reason + "\n")
	if err := os.WriteFile(base+".reason", reasonLine, 0o600); err != nil {
		return fmt.Errorf("keep rejected message: %w", err)
	}
	l.log().Warn("mail rejected; nothing started", "uid", m.UID, "from", from, "reason", reason, "kept", base+".eml")
	maxMsgs, maxBytes := l.rejectedCaps()
	dropped, err := l.rejected.add(dir, name, int64(len(m.Raw)+len(reasonLine)), maxMsgs, maxBytes)
	if err != nil {
		l.log().Warn("rejected mail store not trimmed", "dir", dir, "error", err)
	}
	if dropped > 0 {
		l.log().Info("rejected mail store trimmed; oldest dropped", "dir", dir, "dropped", dropped)
	}
	return nil
}

// rejectedCaps returns the caps of the rejected-mail store, defaults
// filled in.
func (l *Listener) rejectedCaps() (maxMsgs int, maxBytes int64) {
	maxMsgs, maxBytes = l.RejectedMaxMessages, l.RejectedMaxBytes
	if maxMsgs <= 0 {
		maxMsgs = DefaultRejectedMaxMessages
	}
	if maxBytes <= 0 {
		maxBytes = DefaultRejectedMaxBytes
	}
	return maxMsgs, maxBytes
}

// rejectedIndex tracks the messages of a repo's rejected-mail directory.
// It is read from the directory once and then kept up to date, so that a
// flood of rejected mail does not rescan the directory per message.
type rejectedIndex struct {
	mu     sync.Mutex
	loaded bool
	// names holds the base names (without .eml or .reason), oldest,
	// that is smallest, first.
	names []string
	sizes map[string]int64 // name to bytes of its .eml and .reason
	total int64
}

// add records the message name just written to dir (size bytes in all)
// and removes the oldest messages, each with its .eml and .reason, until
// at most maxMsgs messages and maxBytes bytes remain. Other files are
// left alone and not counted. It returns how many messages it removed.
func (x *rejectedIndex) add(dir, name string, size int64, maxMsgs int, maxBytes int64) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.loaded {
		// The directory holds the new message already.
		if err := x.load(dir); err != nil {
			return 0, err
		}
	} else {
		if old, ok := x.sizes[name]; ok {
			x.total -= old
		} else {
			i, _ := slices.BinarySearch(x.names, name)
			x.names = slices.Insert(x.names, i, name)
		}
		x.sizes[name] = size
		x.total += size
	}
	dropped := 0
	var errs []error
	for len(x.names) > 0 && (len(x.names) > maxMsgs || x.total > maxBytes) {
		oldest := x.names[0]
		for _, ext := range []string{".eml", ".reason"} {
			if err := os.Remove(filepath.Join(dir, oldest+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		x.names = x.names[1:]
		x.total -= x.sizes[oldest]
		delete(x.sizes, oldest)
		dropped++
	}
	if err := errors.Join(errs...); err != nil {
		x.loaded = false // read the directory again next time
		return dropped, fmt.Errorf("trim rejected mail: %w", err)
	}
	return dropped, nil
}

// load reads the messages of dir into the index.
func (x *rejectedIndex) load(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("trim rejected mail: %w", err)
	}
	x.names, x.sizes, x.total = nil, map[string]int64{}, 0
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if !e.Type().IsRegular() || (ext != ".eml" && ext != ".reason") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		name := strings.TrimSuffix(e.Name(), ext)
		if _, ok := x.sizes[name]; !ok {
			x.names = append(x.names, name)
		}
		x.sizes[name] += info.Size()
		x.total += info.Size()
	}
	slices.Sort(x.names)
	x.loaded = true
	return nil
}

func (l *Listener) debugPause(ctx context.Context, at string) {
	if os.Getenv(DebugPauseEnv) != at {
		return
	}
	l.log().Warn("debug pause", "at", at)
	<-ctx.Done()
}
