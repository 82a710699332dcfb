package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/airut-go/airut/internal/conversation"
	"github.com/airut-go/airut/workflows"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Windows of a file a page shows (the live stream adds what comes after).
const (
	eventsWindow  = 2 << 20
	networkWindow = 1 << 20
	repliesMax    = 4 << 20
	costRows      = 50
	costWorkers   = 4
)

// pages are the parsed templates: one set per page (the layout and the
// fragments with the page's own content), and the fragments alone for
// live updates.
type pages struct {
	sets map[string]*template.Template
	frag *template.Template
}

var pageNames = []string{"overview", "conversation", "network", "repo", "login", "error"}

// staticVersion is a hash of the static files, appended to their URLs so
// a new build is never served from a stale cache.
var staticVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

var funcs = template.FuncMap{
	"md":   renderMarkdown,
	"when": fmtTime,
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"ago":  ago,
	"cost": func(c float64) string { return fmt.Sprintf("$%.4f", c) },
	"ms":   fmtMS,
	"num":  fmtNum,
	"static": func(name string) string {
		return "/static/" + name + "?v=" + staticVersion
	},
}

func loadPages() (*pages, error) {
	p := &pages{sets: map[string]*template.Template{}}
	frag, err := template.New("fragments").Funcs(funcs).ParseFS(templateFS, "templates/fragments.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	p.frag = frag
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/base.html", "templates/fragments.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard templates: %w", err)
		}
		p.sets[name] = t
	}
	return p, nil
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// layout is what every page's frame needs.
type layout struct {
	Title string
	Auth  bool
	Page  any
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a page into a buffer first, so a template error is a
// clean 500 and not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	title := name
	if t, ok := data.(interface{ title() string }); ok {
		title = t.title()
	} else if l, ok := data.(loginData); ok {
		title = l.Title
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	err := s.pages.sets[name].ExecuteTemplate(buf, "base", layout{Title: title, Auth: s.o.AuthToken != "" && s.tokenOK(r), Page: data})
	if err != nil {
		s.log.Error("dashboard: render failed", "page", name, "path", r.URL.Path, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Code    int
	Message string
}

func (errorData) title() string { return "Error" }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", errorData{Code: code, Message: msg})
}

// fragment renders new lines of a file for a live update.
func (s *Server) fragment(kind FileKind, st *evState, data []byte) string {
	if len(data) == 0 {
		return ""
	}
	var buf bytes.Buffer
	var err error
	if kind == FileNetwork {
		err = s.pages.frag.ExecuteTemplate(&buf, "network-rows", parseNetwork(data))
	} else {
		err = s.pages.frag.ExecuteTemplate(&buf, "activity-items", parseEvents(st, data))
	}
	if err != nil {
		s.log.Error("dashboard: fragment failed", "file", kind, "error", err)
		return ""
	}
	return buf.String()
}

// skipped is the fragment that says a viewer skipped n bytes.
func (s *Server) skipped(kind FileKind, n int64) string {
	return note(kind, fmt.Sprintf("%s skipped", fmtBytes(n)))
}

// skippedLine is the fragment for a line too long to show.
func (s *Server) skippedLine(kind FileKind) string {
	return note(kind, "a line too long to show was skipped")
}

func note(kind FileKind, note string) string {
	if kind == FileNetwork {
		return `<tr class="raw"><td colspan="8">` + template.HTMLEscapeString(note) + `</td></tr>`
	}
	return `<li class="ev ev-system"><span class="muted">` + template.HTMLEscapeString(note) + `</span></li>`
}

// ---- overview ----

// rowView is a row ready to show: flat fields and preformatted times, as
// the overview renders a thousand of them (field lookups on a flat struct
// and no function calls keep html/template fast).
type rowView struct {
	RepoID         string
	ConversationID string
	Subject        string
	Channel        string
	Sender         string
	Status         string
	PR             string
	URL            string
	RepoURL        string
	Updated        string // "3m ago"
	UpdatedAt      string // full time, for the tooltip
	UpdatedISO     string
}

type stateCount struct {
	State string
	N     int
}

type overviewData struct {
	Filter   Filter
	Rows     []rowView
	Counts   []stateCount
	Total    int
	Shown    int
	Hosts    []Host
	HostsErr string
	ListErr  string
	Repos    []string
	Channels []string
	States   []string
}

func (overviewData) title() string { return "Conversations" }

// states are the conversation states in the order the overview counts
// them.
var states = []string{workflows.StateBusy, workflows.StateQueued, workflows.StateIdle, workflows.StateFailed,
	workflows.StateStopped, workflows.StateExpired, "closed"}

var channels = []string{string(workflows.ChannelEmail), string(workflows.ChannelSlack), string(workflows.ChannelLocal)}

func filterFrom(r *http.Request) Filter {
	q := r.URL.Query()
	f := Filter{
		Repo: strings.TrimSpace(q.Get("repo")), Channel: strings.TrimSpace(q.Get("channel")),
		Sender: strings.TrimSpace(q.Get("sender")), Status: strings.TrimSpace(q.Get("status")),
		Text: strings.TrimSpace(q.Get("q")),
	}
	for _, p := range []*string{&f.Repo, &f.Channel, &f.Sender, &f.Status, &f.Text} {
		if len(*p) > 200 {
			*p = (*p)[:200]
		}
	}
	return f
}

func rowViews(rows []Row) []rowView {
	out := make([]rowView, len(rows))
	for i, r := range rows {
		out[i] = rowView{
			RepoID: r.RepoID, ConversationID: r.ConversationID, Subject: r.Subject, Channel: r.Channel, Sender: r.Sender,
			Status: r.Status, PR: r.PR, URL: convURL(r.RepoID, r.ConversationID, ""), RepoURL: "/repo/" + url.PathEscape(r.RepoID),
			Updated: ago(r.UpdatedAt), UpdatedAt: fmtTime(r.UpdatedAt),
		}
		if !r.UpdatedAt.IsZero() {
			out[i].UpdatedISO = r.UpdatedAt.UTC().Format(time.RFC3339)
		}
	}
	return out
}

func countStates(rows []Row) ([]stateCount, int) {
	n := map[string]int{}
	for _, r := range rows {
		n[r.Status]++
	}
	var out []stateCount
	for _, st := range states {
		out = append(out, stateCount{State: st, N: n[st]})
		delete(n, st)
	}
	var other []string
	for st := range n {
		other = append(other, st)
	}
	sort.Strings(other)
	for _, st := range other {
		out = append(out, stateCount{State: st, N: n[st]})
	}
	return out, len(rows)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := filterFrom(r)
	d := overviewData{Filter: f, Channels: channels, States: states}
	for _, ri := range s.repos() {
		d.Repos = append(d.Repos, ri.ID)
	}
	rows, err := s.list(ctx, f)
	if err != nil {
		s.log.Error("dashboard: list failed", "error", err)
		d.ListErr = "The conversations could not be listed: " + err.Error()
	}
	d.Rows = rowViews(rows)
	d.Shown = len(rows)
	// The counts are of every status under the other filters, so that
	// picking one status still shows how many there are of the others.
	counted := rows
	if f.Status != "" && err == nil {
		all := f
		all.Status = ""
		if rs, err := s.list(ctx, all); err == nil {
			counted = rs
		}
	}
	d.Counts, d.Total = countStates(counted)
	hosts, err := s.hostList(ctx)
	if err != nil {
		d.HostsErr = "The hosts could not be listed: " + err.Error()
	}
	d.Hosts = hosts
	s.render(w, r, http.StatusOK, "overview", d)
}

// ---- conversation ----

// findRow finds a conversation in the list: in repo if given, else in
// any repo (running and recent conversations first; nil when it is not
// among the listed ones).
func (s *Server) findRow(ctx context.Context, repo, id string) (*Row, error) {
	rows, err := s.list(ctx, Filter{Repo: repo})
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if rows[i].ConversationID == id && (repo == "" || rows[i].RepoID == repo) {
			return &rows[i], nil
		}
	}
	return nil, nil
}

// target is a conversation a page or action is about.
type target struct {
	Repo, ID string
	Row      *Row
}

// locate resolves the conversation of a request: its id from the path,
// its repo from the path, ?repo= (or the form's repo field) or else the
// list. It answers the request itself when it cannot.
func (s *Server) locate(w http.ResponseWriter, r *http.Request) (target, bool) {
	id := r.PathValue("id")
	repo := r.PathValue("repo")
	if repo == "" {
		repo = r.URL.Query().Get("repo")
	}
	if repo == "" && r.Method == http.MethodPost {
		repo = r.PostFormValue("repo")
	}
	if !validConvID(id) || (repo != "" && !validRepoID(repo)) {
		s.fail(w, r, http.StatusNotFound, "There is no such conversation: an ID is 8 hex characters.")
		return target{}, false
	}
	row, err := s.findRow(r.Context(), repo, id)
	if err != nil {
		s.log.Warn("dashboard: list for a conversation failed", "conversation", id, "error", err)
	}
	if repo == "" && row != nil {
		repo = row.RepoID
	}
	if repo == "" && s.o.Repos != nil {
		// Older than the list reaches: ask each configured repo.
		for _, ri := range s.o.Repos() {
			if _, err := s.src.Status(r.Context(), ri.ID, id); err == nil {
				repo = ri.ID
				break
			}
		}
	}
	if repo == "" {
		s.fail(w, r, http.StatusNotFound, "No conversation has this ID; add ?repo=<repo id> to look it up in one repo.")
		return target{}, false
	}
	return target{Repo: repo, ID: id, Row: row}, true
}

type taskView struct {
	TaskID     string
	Started    time.Time
	Finished   time.Time
	Outcome    string
	OK         bool
	Running    bool
	Duration   string
	Turns      int
	Usage      workflows.Usage
	Cost       float64
	Model      string
	Reply      template.HTML
	Truncated  bool
	Error      string
	Recovered  bool
	Rehomed    bool
	Messages   []msgView
	MessageIDs int
}

type msgView struct {
	Sender   string
	Subject  string
	Body     template.HTML
	Received time.Time
	Files    []string
	// Truncated: the status keeps only the start of a long message.
	Truncated bool
}

type convData struct {
	Repo, ID     string
	Subject      string
	Channel      string
	Sender       string
	St           workflows.Status
	Tasks        []taskView
	Live         bool
	Activity     template.HTML
	ActivityNote string
	ActivityErr  string
	Plan         []todo
	Offset       int64
	StreamURL    string
	PollURL      string
	SelfURL      string
	NetworkURL   string
	RepoURL      string
	TemporalURL  string
	Flash        string
	FlashErr     bool
	Action       string
}

func (d convData) title() string {
	if d.Subject != "" {
		return d.Subject
	}
	return "Conversation " + d.ID
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, t target) (workflows.Status, bool) {
	st, err := s.src.Status(r.Context(), t.Repo, t.ID)
	if errors.Is(err, ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "There is no such conversation in repo "+t.Repo+".")
		return st, false
	}
	if err != nil {
		s.log.Error("dashboard: status failed", "conversation", t.ID, "error", err)
		s.fail(w, r, http.StatusBadGateway, "The conversation's status could not be read: "+err.Error())
		return st, false
	}
	return st, true
}

func (s *Server) conversation(w http.ResponseWriter, r *http.Request) {
	t, ok := s.locate(w, r)
	if !ok {
		return
	}
	st, ok := s.status(w, r, t)
	if !ok {
		return
	}
	ctx := r.Context()
	d := convData{
		Repo: t.Repo, ID: t.ID, St: st, Live: active(st),
		SelfURL:    convURL(t.Repo, t.ID, ""),
		StreamURL:  convURL(t.Repo, t.ID, "/events/stream"),
		PollURL:    convURL(t.Repo, t.ID, "/events/poll"),
		NetworkURL: convURL(t.Repo, t.ID, "/network"),
		RepoURL:    "/repo/" + url.PathEscape(t.Repo),
		Action:     "/conversation/" + t.ID,
	}
	d.Subject = st.Subject
	if t.Row != nil {
		d.Channel, d.Sender = t.Row.Channel, t.Row.Sender
		if d.Subject == "" {
			d.Subject = t.Row.Subject
		}
	}
	if s.o.TemporalUI != "" {
		d.TemporalURL = s.o.TemporalUI + "/namespaces/" + url.PathEscape(s.o.Namespace) +
			"/workflows/" + url.PathEscape(workflows.WorkflowID(t.Repo, t.ID))
	}
	d.Flash, d.FlashErr = s.flashFrom(r)
	d.Tasks = s.thread(ctx, t, st)

	file := File{RepoID: t.Repo, ConversationID: t.ID, Kind: FileEvents, HostQueue: st.HostQueue}
	data, start, end, err := s.readTail(ctx, file, eventsWindow)
	if err != nil {
		s.log.Warn("dashboard: events read failed", "conversation", t.ID, "error", err)
		d.ActivityErr = "The agent's events could not be read: " + err.Error()
	}
	d.Offset = end
	run, at := lastRun(data)
	if start > 0 && at == 0 {
		d.ActivityNote = "Showing the last " + fmtBytes(int64(len(data))) + " of this run."
	}
	var es evState
	items := parseEvents(&es, run)
	d.Plan = lastPlan(items)
	if n := len(items) - maxItemsOnPage; n > 0 {
		items = items[n:]
		d.ActivityNote = fmt.Sprintf("%d earlier items of this run are not shown.", n)
	}
	var buf bytes.Buffer
	if err := s.pages.frag.ExecuteTemplate(&buf, "activity-items", items); err == nil {
		d.Activity = template.HTML(buf.String())
	}
	s.render(w, r, http.StatusOK, "conversation", d)
}

// thread is the conversation's tasks, oldest first, with their messages
// (the status keeps them, bounded) and replies (from the status, or from
// replies.jsonl where the status kept none or a cut one).
func (s *Server) thread(ctx context.Context, t target, st workflows.Status) []taskView {
	tasks := slices.Clone(st.Tasks)
	if st.Current != nil && !slices.ContainsFunc(tasks, func(x workflows.TaskSummary) bool { return x.TaskID == st.Current.TaskID }) {
		tasks = append(tasks, *st.Current)
	}
	var replies map[string]string
	needReplies := false
	for _, ts := range tasks {
		if ts.Outcome == workflows.OutcomeSuccess && (ts.Reply == "" || strings.HasSuffix(ts.Reply, workflows.TruncatedMarker)) {
			needReplies = true
		}
	}
	if needReplies {
		replies = s.replies(ctx, File{RepoID: t.Repo, ConversationID: t.ID, Kind: FileReplies, HostQueue: st.HostQueue})
	}
	out := make([]taskView, 0, len(tasks))
	for _, ts := range tasks {
		v := taskView{
			TaskID: ts.TaskID, Started: ts.StartedAt, Finished: ts.FinishedAt, Outcome: string(ts.Outcome),
			OK: ts.Outcome == workflows.OutcomeSuccess, Turns: ts.NumTurns, Usage: ts.Usage, Cost: ts.CostUSD,
			Model: ts.Model, Error: ts.Error, Recovered: ts.Recovered, Rehomed: ts.Rehomed, MessageIDs: len(ts.MessageIDs),
			Running: st.Current != nil && st.Current.TaskID == ts.TaskID,
		}
		switch {
		case ts.DurationMS > 0:
			v.Duration = fmtMS(ts.DurationMS)
		case !ts.FinishedAt.IsZero() && !ts.StartedAt.IsZero():
			v.Duration = fmtMS(ts.FinishedAt.Sub(ts.StartedAt).Milliseconds())
		}
		reply := ts.Reply
		if full, ok := replies[ts.TaskID]; ok && (reply == "" || strings.HasSuffix(reply, workflows.TruncatedMarker)) {
			reply = full
		}
		v.Truncated = strings.HasSuffix(reply, workflows.TruncatedMarker)
		v.Reply = renderMarkdown(reply)
		for _, m := range ts.Messages {
			v.Messages = append(v.Messages, msgView{Sender: m.Sender, Body: renderMarkdown(m.Body), Received: m.ReceivedAt,
				Truncated: strings.HasSuffix(m.Body, workflows.TruncatedMarker)})
		}
		out = append(out, v)
	}
	return out
}

// replies reads replies.jsonl: the final reply of each task, by task ID.
func (s *Server) replies(ctx context.Context, f File) map[string]string {
	data, _, _, err := s.readTail(ctx, f, repliesMax)
	if err != nil {
		s.log.Debug("dashboard: replies read failed", "conversation", f.ConversationID, "error", err)
		return nil
	}
	out := map[string]string{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var rep conversation.Reply
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &rep) != nil {
			continue
		}
		if rep.Kind == string(workflows.ReplyFinal) {
			out[rep.TaskID] = rep.Text
		}
	}
	return out
}

// readTail reads the last window bytes of a file (whole lines: a line cut
// by the window's start is dropped) and reports where they start and end.
func (s *Server) readTail(ctx context.Context, f File, window int64) (data []byte, start, end int64, err error) {
	c, err := s.src.Read(ctx, f, 0, maxChunk, 0)
	if err != nil || c.Gone {
		return nil, 0, 0, err
	}
	data, end = c.Data, c.Next
	if c.Size > window && c.Next < c.Size-window {
		start = c.Size - window
		if c, err = s.src.Read(ctx, f, start, maxChunk, 0); err != nil {
			return nil, 0, 0, err
		}
		data, end = c.Data, c.Next
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data, start = data[i+1:], start+int64(i)+1
		} else {
			data, start = nil, end
		}
	}
	for int64(len(data)) < window+maxChunk && end < c.Size {
		n, err := s.src.Read(ctx, f, end, maxChunk, 0)
		if err != nil {
			return data, start, end, err
		}
		if n.Next <= end {
			break
		}
		data, end = append(data, n.Data...), n.Next
		c.Size = max(c.Size, n.Size)
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		// Ends inside a line (a Source returns one longer than a read in
		// pieces): leave it to the live view, which skips it.
		end -= int64(len(data) - i - 1)
		data = data[:i+1]
	}
	return data, start, end, nil
}

// ---- network ----

type networkData struct {
	Repo, ID    string
	Subject     string
	St          workflows.Status
	Live        bool
	Rows        []netItem
	Blocked     int
	Suggestions string
	Note        string
	Err         string
	Offset      int64
	StreamURL   string
	PollURL     string
	ConvURL     string
}

func (networkData) title() string { return "Network log" }

func (s *Server) network(w http.ResponseWriter, r *http.Request) {
	t, ok := s.locate(w, r)
	if !ok {
		return
	}
	st, ok := s.status(w, r, t)
	if !ok {
		return
	}
	d := networkData{
		Repo: t.Repo, ID: t.ID, St: st, Live: active(st),
		StreamURL: convURL(t.Repo, t.ID, "/network/stream"),
		PollURL:   convURL(t.Repo, t.ID, "/network/poll"),
		ConvURL:   convURL(t.Repo, t.ID, ""),
	}
	if t.Row != nil {
		d.Subject = t.Row.Subject
	}
	file := File{RepoID: t.Repo, ConversationID: t.ID, Kind: FileNetwork, HostQueue: st.HostQueue}
	data, start, end, err := s.readTail(r.Context(), file, networkWindow)
	if err != nil {
		s.log.Warn("dashboard: network log read failed", "conversation", t.ID, "error", err)
		d.Err = "The network log could not be read: " + err.Error()
	}
	d.Offset = end
	rows := parseNetwork(data)
	if n := len(rows) - maxNetRowsOnPage; n > 0 {
		rows = rows[n:]
		d.Note = fmt.Sprintf("%d earlier lines are not shown.", n)
	} else if start > 0 {
		d.Note = "Showing the last " + fmtBytes(int64(len(data))) + " of the log."
	}
	for _, it := range rows {
		if it.Blocked {
			d.Blocked++
		}
	}
	d.Rows = rows
	d.Suggestions = suggestions(rows)
	s.render(w, r, http.StatusOK, "network", d)
}

// ---- repo ----

type dayCost struct {
	Day   string
	Cost  float64
	Tasks int
}

type repoData struct {
	ID        string
	Info      *RepoInfo
	Allowlist string
	Rows      []rowView
	ListErr   string
	Costs     []dayCost
	MaxCost   float64
	Total     float64
	CostNote  string
}

func (d repoData) title() string { return "Repo " + d.ID }

func (s *Server) repo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validRepoID(id) {
		s.fail(w, r, http.StatusNotFound, "There is no such repo.")
		return
	}
	d := repoData{ID: id}
	for _, ri := range s.repos() {
		if ri.ID == id {
			d.Info = &ri
			d.Allowlist = string(ri.Allowlist)
			break
		}
	}
	rows, err := s.list(r.Context(), Filter{Repo: id})
	if err != nil {
		d.ListErr = "The conversations could not be listed: " + err.Error()
	}
	if d.Info == nil && len(rows) == 0 {
		s.fail(w, r, http.StatusNotFound, "There is no repo "+id+" in the configuration, and it has no conversations.")
		return
	}
	d.Rows = rowViews(rows)
	d.Costs, d.Total, d.CostNote = s.costs(r.Context(), id, rows)
	for _, c := range d.Costs {
		d.MaxCost = max(d.MaxCost, c.Cost)
	}
	s.render(w, r, http.StatusOK, "repo", d)
}

// costs sums the cost of the tasks of the repo's most recent conversations
// (at most costRows of them, each a status query) per day, newest first.
func (s *Server) costs(ctx context.Context, repo string, rows []Row) ([]dayCost, float64, string) {
	note := ""
	if len(rows) > costRows {
		rows = rows[:costRows]
		note = fmt.Sprintf("From the %d most recent conversations.", costRows)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	byDay := map[string]*dayCost{}
	failed := 0
	sem := make(chan struct{}, costWorkers)
	var wg sync.WaitGroup
	for _, row := range rows {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := s.src.Status(ctx, repo, row.ConversationID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			for _, t := range st.Tasks {
				when := t.FinishedAt
				if when.IsZero() {
					when = t.StartedAt
				}
				if when.IsZero() {
					continue
				}
				day := when.UTC().Format("2006-01-02")
				c := byDay[day]
				if c == nil {
					c = &dayCost{Day: day}
					byDay[day] = c
				}
				c.Cost += t.CostUSD
				c.Tasks++
			}
		})
	}
	wg.Wait()
	out := make([]dayCost, 0, len(byDay))
	total := 0.0
	for _, c := range byDay {
		out = append(out, *c)
		total += c.Cost
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day > out[j].Day })
	if failed > 0 {
		note = strings.TrimSpace(note + fmt.Sprintf(" %d conversations could not be read.", failed))
	}
	return out, total, note
}

// ---- formatting ----

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func fmtNum(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
