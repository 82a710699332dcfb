package slacktest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// args are the arguments of a call, from a form or a JSON body.
type args struct {
	form url.Values
	json map[string]any
}

func (a args) get(name string) string {
	if vs, ok := a.form[name]; ok && len(vs) > 0 {
		return vs[0]
	}
	v, ok := a.json[name]
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// raw returns a JSON-valued argument (blocks, attachments, …): a form value
// as sent, a JSON body value re-encoded. It is nil when absent or empty.
func (a args) raw(name string) json.RawMessage {
	if vs, ok := a.form[name]; ok && len(vs) > 0 {
		if vs[0] == "" {
			return nil
		}
		return json.RawMessage(vs[0])
	}
	v, ok := a.json[name]
	if !ok || v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(v)
	return b
}

// obj is a JSON object answered to a call.
type obj = map[string]any

// answer is a handler's answer: a Slack error or the fields to add to
// {"ok": true}.
type answer struct {
	err    string
	fields obj
}

func okAnswer(fields obj) answer  { return answer{fields: fields} }
func errAnswer(err string) answer { return answer{err: err} }

type handler func(s *Server, r *http.Request, a args) answer

var handlers = map[string]handler{
	"auth.test":                             (*Server).authTest,
	"users.info":                            (*Server).usersInfo,
	"usergroups.list":                       (*Server).usergroupsList,
	"usergroups.users.list":                 (*Server).usergroupsUsersList,
	"conversations.info":                    (*Server).conversationsInfo,
	"conversations.replies":                 (*Server).conversationsReplies,
	"conversations.open":                    (*Server).conversationsOpen,
	"chat.postMessage":                      (*Server).chatPostMessage,
	"chat.update":                           (*Server).chatUpdate,
	"reactions.add":                         (*Server).reactionsAdd,
	"reactions.remove":                      (*Server).reactionsRemove,
	"assistant.threads.setStatus":           (*Server).assistantSetStatus,
	"assistant.threads.setTitle":            (*Server).assistantSetTitle,
	"assistant.threads.setSuggestedPrompts": (*Server).assistantSetSuggestedPrompts,
	"files.getUploadURLExternal":            (*Server).filesGetUploadURLExternal,
	"files.completeUploadExternal":          (*Server).filesCompleteUploadExternal,
	"files.info":                            (*Server).filesInfo,
	"apps.connections.open":                 (*Server).appsConnectionsOpen,
}

func isJSON(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/json"
}

// parseArgs reads the arguments of a request as Slack does: query string,
// form-encoded, multipart or JSON body.
func parseArgs(r *http.Request) (args, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		a := args{form: r.URL.Query()}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return a, err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &a.json); err != nil {
				return a, err
			}
		}
		return a, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return args{}, err
		}
		return args{form: r.Form}, nil
	default:
		if err := r.ParseForm(); err != nil {
			return args{}, err
		}
		return args{form: r.Form}, nil
	}
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// checkToken returns the Slack error for a token used on method, or "".
// s.mu must be held.
func (s *Server) checkToken(method, tok string) string {
	isApp := strings.HasPrefix(tok, "xapp-")
	switch {
	case tok == "":
		return "not_authed"
	case method == "apps.connections.open" && !isApp,
		method != "apps.connections.open" && isApp:
		return "not_allowed_token_type"
	case isApp && s.appToken != "" && tok != s.appToken,
		!isApp && s.botToken != "" && tok != s.botToken:
		return "invalid_auth"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	a, perr := parseArgs(r)
	tok := bearer(r)
	if tok == "" {
		// Slack ignores a token inside a JSON body: JSON calls must use the
		// Authorization header.
		tok = a.form.Get("token")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Method: method, Form: a.form, JSON: a.json, Token: tok}
	status, body := s.dispatch(r, method, a, perr, tok)
	if body != nil {
		call.Error, _ = body["error"].(string)
	} else {
		call.Error = http.StatusText(status)
	}
	s.calls = append(s.calls, call)
	s.notify()

	if body == nil {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "<html><body>"+http.StatusText(status)+"</body></html>")
		return
	}
	if body["error"] == "ratelimited" {
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter))
	}
	writeJSON(w, status, body)
}

// dispatch answers one Web API call: an HTTP status and a JSON body, or a
// nil body for a bare status. s.mu must be held.
func (s *Server) dispatch(r *http.Request, method string, a args, perr error, tok string) (int, obj) {
	h, known := handlers[method]
	if !known {
		return http.StatusOK, obj{"ok": false, "error": "unknown_method", "req_method": method}
	}
	if perr != nil {
		if a.json != nil || isJSON(r) {
			return http.StatusOK, obj{"ok": false, "error": "invalid_json"}
		}
		return http.StatusOK, obj{"ok": false, "error": "invalid_form_data"}
	}
	if e := s.checkToken(method, tok); e != "" {
		return http.StatusOK, obj{"ok": false, "error": e}
	}
	if q := s.failures[method]; len(q) > 0 {
		f := q[0]
		s.failures[method] = q[1:]
		switch {
		case f.status != 0:
			return f.status, nil
		case f.slackErr == "ratelimited":
			return http.StatusTooManyRequests, obj{"ok": false, "error": "ratelimited"}
		default:
			return http.StatusOK, obj{"ok": false, "error": f.slackErr}
		}
	}
	ans := h(s, r, a)
	if ans.err != "" {
		return http.StatusOK, obj{"ok": false, "error": ans.err}
	}
	body := obj{"ok": true}
	for k, v := range ans.fields {
		body[k] = v
	}
	return http.StatusOK, body
}

// --- auth, users, groups, conversations ---

func (s *Server) authTest(_ *http.Request, _ args) answer {
	return okAnswer(obj{
		"url":                   "https://airut-test.slack.com/",
		"team":                  "Airut Test",
		"user":                  s.botName(),
		"team_id":               s.teamID,
		"user_id":               s.botUserID,
		"bot_id":                s.botID,
		"is_enterprise_install": false,
	})
}

func (s *Server) botName() string {
	if u, ok := s.users[s.botUserID]; ok && u.Name != "" {
		return u.Name
	}
	return "airut"
}

// user returns a user by ID, the bot user included. s.mu must be held.
func (s *Server) user(id string) (User, bool) {
	if u, ok := s.users[id]; ok {
		return u, true
	}
	if id == s.botUserID {
		return User{ID: id, Name: "airut", RealName: "Airut", IsBot: true, BotID: s.botID}, true
	}
	return User{}, false
}

func (s *Server) userJSON(u User, locale bool) obj {
	team := u.TeamID
	if team == "" {
		team = s.teamID
	}
	if u.NoTeam {
		team = ""
	}
	profile := obj{
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.DisplayName,
		"display_name_normalized": u.DisplayName,
		"avatar_hash":             "g" + strings.Repeat("0", 11),
		"image_24":                "https://secure.gravatar.com/avatar/0.jpg?s=24",
		"image_32":                "https://secure.gravatar.com/avatar/0.jpg?s=32",
		"image_48":                "https://secure.gravatar.com/avatar/0.jpg?s=48",
		"image_72":                "https://secure.gravatar.com/avatar/0.jpg?s=72",
		"image_192":               "https://secure.gravatar.com/avatar/0.jpg?s=192",
		"image_512":               "https://secure.gravatar.com/avatar/0.jpg?s=512",
		"status_text":             "",
		"status_emoji":            "",
	}
	if team != "" {
		profile["team"] = team
	}
	if first, last, ok := strings.Cut(u.RealName, " "); ok {
		profile["first_name"], profile["last_name"] = first, last
	} else {
		profile["first_name"], profile["last_name"] = u.RealName, ""
	}
	botID := u.BotID
	if botID == "" && u.ID == s.botUserID {
		botID = s.botID
	}
	if u.IsBot {
		profile["bot_id"] = botID
		profile["always_active"] = true
		if u.ID == s.botUserID {
			profile["api_app_id"] = s.appID
		}
	}
	j := obj{
		"id":                  u.ID,
		"name":                u.Name,
		"deleted":             u.Deleted,
		"color":               "9f69e7",
		"real_name":           u.RealName,
		"tz":                  "Europe/Helsinki",
		"tz_label":            "Eastern European Time",
		"tz_offset":           7200,
		"profile":             profile,
		"is_admin":            false,
		"is_owner":            false,
		"is_primary_owner":    false,
		"is_restricted":       u.IsRestricted,
		"is_ultra_restricted": u.IsUltraRestricted,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"updated":             1700000000,
		"is_email_confirmed":  !u.IsBot,
	}
	if team != "" {
		j["team_id"] = team
	}
	if locale {
		j["locale"] = "en-US"
	}
	return j
}

func (s *Server) usersInfo(_ *http.Request, a args) answer {
	locale := a.get("include_locale") == "true" || a.get("include_locale") == "1"
	if ids := a.get("users"); ids != "" && a.get("user") == "" {
		var users []obj
		for id := range strings.SplitSeq(ids, ",") {
			u, ok := s.user(strings.TrimSpace(id))
			if !ok {
				return errAnswer("user_not_found")
			}
			users = append(users, s.userJSON(u, locale))
		}
		return okAnswer(obj{"users": users})
	}
	u, ok := s.user(a.get("user"))
	if !ok {
		return errAnswer("user_not_found")
	}
	return okAnswer(obj{"user": s.userJSON(u, locale)})
}

func (s *Server) usergroupsList(_ *http.Request, a args) answer {
	withUsers := a.get("include_users") == "true" || a.get("include_users") == "1"
	withCount := a.get("include_count") == "true" || a.get("include_count") == "1"
	groups := []obj{}
	for _, g := range s.groups {
		j := obj{
			"id":           g.id,
			"team_id":      s.teamID,
			"is_usergroup": true,
			"is_subteam":   true,
			"name":         g.handle,
			"description":  "",
			"handle":       g.handle,
			"is_external":  false,
			"date_create":  1700000000,
			"date_update":  1700000000,
			"date_delete":  0,
			"auto_type":    nil,
			"created_by":   s.botUserID,
			"updated_by":   s.botUserID,
			"deleted_by":   nil,
			"prefs":        obj{"channels": []string{}, "groups": []string{}},
		}
		if withUsers {
			j["users"] = append([]string{}, g.members...)
		}
		if withCount {
			j["user_count"] = len(g.members)
		}
		groups = append(groups, j)
	}
	return okAnswer(obj{"usergroups": groups})
}

func (s *Server) usergroupsUsersList(_ *http.Request, a args) answer {
	id := a.get("usergroup")
	for _, g := range s.groups {
		if g.id == id {
			return okAnswer(obj{"users": append([]string{}, g.members...)})
		}
	}
	return errAnswer("no_such_subteam")
}

func (s *Server) conversationsInfo(_ *http.Request, a args) answer {
	c, ok := s.channels[a.get("channel")]
	if !ok {
		return errAnswer("channel_not_found")
	}
	j := obj{
		"id":                    c.ID,
		"created":               1700000000,
		"is_archived":           c.IsArchived,
		"is_im":                 c.IsIM,
		"is_mpim":               c.IsMpIM,
		"is_private":            c.IsPrivate || c.IsIM || c.IsMpIM,
		"is_org_shared":         false,
		"is_ext_shared":         false,
		"is_shared":             false,
		"is_pending_ext_shared": false,
		"context_team_id":       s.teamID,
		"updated":               1700000000000,
	}
	if c.IsIM {
		j["user"] = c.User
		j["is_user_deleted"] = false
		j["is_open"] = true
		j["priority"] = 0
	} else {
		j["name"] = c.Name
		j["name_normalized"] = c.Name
		j["is_channel"] = !c.IsMpIM
		j["is_group"] = c.IsPrivate && !c.IsMpIM
		j["is_general"] = false
		j["is_member"] = true
		j["creator"] = s.botUserID
		j["topic"] = obj{"value": "", "creator": "", "last_set": 0}
		j["purpose"] = obj{"value": "", "creator": "", "last_set": 0}
		j["previous_names"] = []string{}
	}
	if a.get("include_num_members") == "true" {
		j["num_members"] = 2
	}
	return okAnswer(obj{"channel": j})
}

const repliesCursorPrefix = "next_ts:"

func (s *Server) conversationsReplies(_ *http.Request, a args) answer {
	channel, threadTS := a.get("channel"), a.get("ts")
	if channel == "" {
		return errAnswer("channel_not_found")
	}
	if threadTS == "" {
		return errAnswer("thread_not_found")
	}
	var parent map[string]any
	var thread []map[string]any
	for _, m := range s.history[channel] {
		switch {
		case m["ts"] == threadTS:
			parent = m
			thread = append(thread, m)
		case m["thread_ts"] == threadTS:
			thread = append(thread, m)
		}
	}
	if len(thread) == 0 {
		return errAnswer("thread_not_found")
	}

	inclusive := a.get("inclusive") == "1" || a.get("inclusive") == "true"
	oldest, latest := a.get("oldest"), a.get("latest")
	in := func(ts string) bool {
		if oldest != "" {
			c := tsCompare(ts, oldest)
			if c < 0 || (c == 0 && !inclusive) {
				return false
			}
		}
		if latest != "" {
			c := tsCompare(ts, latest)
			if c > 0 || (c == 0 && !inclusive) {
				return false
			}
		}
		return true
	}
	var msgs []map[string]any
	for _, m := range thread {
		if ts, _ := m["ts"].(string); in(ts) {
			msgs = append(msgs, m)
		}
	}

	start := 0
	if cur := a.get("cursor"); cur != "" {
		dec, err := base64.StdEncoding.DecodeString(cur)
		after, ok := strings.CutPrefix(string(dec), repliesCursorPrefix)
		if err != nil || !ok {
			return errAnswer("invalid_cursor")
		}
		start = len(msgs)
		for i, m := range msgs {
			if ts, _ := m["ts"].(string); tsCompare(ts, after) >= 0 {
				start = i
				break
			}
		}
	}
	limit := 1000
	if l, err := strconv.Atoi(a.get("limit")); err == nil && l > 0 && l < limit {
		limit = l
	}
	end := min(start+limit, len(msgs))
	page := msgs[start:end]
	if start > 0 && s.parentOnEveryPage && parent != nil && in(threadTS) {
		page = append([]map[string]any{parent}, page...)
	}

	out := make([]obj, 0, len(page))
	for _, m := range page {
		out = append(out, s.renderMessage(channel, m))
	}
	next := ""
	if end < len(msgs) {
		ts, _ := msgs[end]["ts"].(string)
		next = base64.StdEncoding.EncodeToString([]byte(repliesCursorPrefix + ts))
	}
	return okAnswer(obj{
		"messages":          out,
		"has_more":          next != "",
		"response_metadata": obj{"next_cursor": next},
	})
}

// renderMessage returns a stored message as conversations.replies shows it:
// a parent with replies gets thread_ts, reply_count, reply_users and
// latest_reply; a reply gets parent_user_id. s.mu must be held.
func (s *Server) renderMessage(channel string, m map[string]any) obj {
	out := deepCopy(m)
	ts, _ := m["ts"].(string)
	threadTS, _ := m["thread_ts"].(string)
	if threadTS != "" && threadTS != ts {
		if p := s.message(channel, threadTS); p != nil {
			if u, ok := p["user"]; ok {
				out["parent_user_id"] = u
			}
		}
		return out
	}
	var replies int
	var latest string
	var users []string
	for _, r := range s.history[channel] {
		if r["thread_ts"] == ts && r["ts"] != ts {
			replies++
			latest, _ = r["ts"].(string)
			if u, _ := r["user"].(string); u != "" && !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	if replies > 0 {
		out["thread_ts"] = ts
		out["reply_count"] = replies
		out["reply_users_count"] = len(users)
		out["reply_users"] = users
		out["latest_reply"] = latest
		out["is_locked"] = false
		out["subscribed"] = false
	}
	return out
}

// --- chat ---

const maxTextLen = 40000 // Slack truncates longer text

// checkBlocks applies Slack's documented Block Kit limits and returns the
// parsed blocks or a Slack error.
func checkBlocks(raw json.RawMessage) ([]any, string) {
	var blocks []any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, "invalid_blocks_format"
	}
	if len(blocks) > 50 {
		return nil, "invalid_blocks"
	}
	markdown := 0
	for _, b := range blocks {
		bm, ok := b.(map[string]any)
		if !ok {
			return nil, "invalid_blocks"
		}
		typ, _ := bm["type"].(string)
		if typ == "" {
			return nil, "invalid_blocks"
		}
		text := func() string {
			switch t := bm["text"].(type) {
			case map[string]any:
				s, _ := t["text"].(string)
				return s
			case string:
				return t
			}
			return ""
		}()
		n := utf8.RuneCountInString(text)
		switch typ {
		case "section":
			if n > 3000 {
				return nil, "invalid_blocks"
			}
		case "header":
			if n > 150 {
				return nil, "invalid_blocks"
			}
		case "markdown":
			markdown += n
			if markdown > 12000 {
				return nil, "invalid_blocks"
			}
		}
	}
	return blocks, ""
}

func (s *Server) botMessage(ts, text string) map[string]any {
	return map[string]any{
		"type":   "message",
		"user":   s.botUserID,
		"bot_id": s.botID,
		"app_id": s.appID,
		"team":   s.teamID,
		"text":   text,
		"ts":     ts,
		"bot_profile": obj{
			"id": s.botID, "app_id": s.appID, "name": s.botName(), "deleted": false,
			"team_id": s.teamID, "updated": 1700000000,
			"icons": obj{"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
		},
	}
}

func truncate(text string) string {
	if utf8.RuneCountInString(text) <= maxTextLen {
		return text
	}
	return string([]rune(text)[:maxTextLen])
}

// applyContent validates the text, blocks, attachments and metadata
// arguments and applies them to m; it returns a Slack error or "".
func applyContent(m map[string]any, a args, requireContent bool) string {
	text := a.get("text")
	blocksRaw, attRaw, metaRaw := a.raw("blocks"), a.raw("attachments"), a.raw("metadata")
	var blocks, atts []any
	if blocksRaw != nil {
		var e string
		if blocks, e = checkBlocks(blocksRaw); e != "" {
			return e
		}
	}
	if attRaw != nil {
		if err := json.Unmarshal(attRaw, &atts); err != nil {
			return "invalid_attachments"
		}
	}
	if requireContent && text == "" && len(blocks) == 0 && len(atts) == 0 {
		return "no_text"
	}
	if _, ok := a.form["text"]; ok || a.json["text"] != nil || requireContent {
		m["text"] = truncate(text)
	}
	if blocksRaw != nil {
		m["blocks"] = blocks
	}
	if attRaw != nil {
		m["attachments"] = atts
	}
	if metaRaw != nil {
		var meta any
		if err := json.Unmarshal(metaRaw, &meta); err != nil {
			return "invalid_metadata_format"
		}
		m["metadata"] = meta
	}
	return ""
}

// conversationsOpen opens (or finds) the direct-message channel with one
// user, as Slack does for a bot: "D" and the user's ID.
func (s *Server) conversationsOpen(_ *http.Request, a args) answer {
	users := a.get("users")
	if users == "" || strings.Contains(users, ",") {
		return errAnswer("not_enough_users")
	}
	for _, c := range s.channels {
		if c.IsIM && c.User == users {
			return okAnswer(obj{"channel": obj{"id": c.ID}})
		}
	}
	c := Channel{ID: "D" + strings.TrimPrefix(users, "U"), IsIM: true, User: users}
	s.channels[c.ID] = c
	return okAnswer(obj{"channel": obj{"id": c.ID}})
}

func (s *Server) chatPostMessage(_ *http.Request, a args) answer {
	channel := a.get("channel")
	if channel == "" {
		return errAnswer("channel_not_found")
	}
	if c, ok := s.channels[channel]; ok && c.IsArchived {
		return errAnswer("is_archived")
	}
	ts := s.nextTS()
	m := s.botMessage(ts, "")
	if e := applyContent(m, a, true); e != "" {
		return errAnswer(e)
	}
	threadTS := a.get("thread_ts")
	if threadTS != "" && threadTS != ts {
		m["thread_ts"] = threadTS
	}
	s.putMessage(channel, m, true)
	s.posts = append(s.posts, Post{
		Method: "chat.postMessage", Channel: channel, ThreadTS: threadTS, TS: ts,
		Text: a.get("text"), Blocks: a.raw("blocks"), Attachments: a.raw("attachments"),
		Metadata: a.raw("metadata"), UnfurlLinks: a.get("unfurl_links"), UnfurlMedia: a.get("unfurl_media"),
	})
	return okAnswer(obj{"channel": channel, "ts": ts, "message": s.renderMessage(channel, m)})
}

func (s *Server) chatUpdate(_ *http.Request, a args) answer {
	channel, ts := a.get("channel"), a.get("ts")
	if channel == "" {
		return errAnswer("channel_not_found")
	}
	m := s.message(channel, ts)
	if m == nil {
		return errAnswer("message_not_found")
	}
	if m["user"] != s.botUserID && m["bot_id"] != s.botID {
		return errAnswer("cant_update_message")
	}
	if a.get("text") == "" && a.raw("blocks") == nil && a.raw("attachments") == nil {
		return errAnswer("no_text")
	}
	updated := deepCopy(m)
	if e := applyContent(updated, a, false); e != "" {
		return errAnswer(e)
	}
	updated["edited"] = obj{"user": s.botUserID, "ts": s.nextTS()}
	s.putMessage(channel, updated, true)
	threadTS, _ := updated["thread_ts"].(string)
	s.posts = append(s.posts, Post{
		Method: "chat.update", Channel: channel, ThreadTS: threadTS, TS: ts,
		Text: a.get("text"), Blocks: a.raw("blocks"), Attachments: a.raw("attachments"),
		Metadata: a.raw("metadata"), Update: true, UnfurlLinks: a.get("unfurl_links"), UnfurlMedia: a.get("unfurl_media"),
	})
	text, _ := updated["text"].(string)
	return okAnswer(obj{"channel": channel, "ts": ts, "text": text, "message": s.renderMessage(channel, updated)})
}

// --- reactions ---

func validEmojiName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("_+-'", r) || r > 127) {
			return false
		}
	}
	return true
}

// reactionTarget finds the message of a reactions call. s.mu must be held.
func (s *Server) reactionTarget(a args) (map[string]any, string) {
	channel, ts := a.get("channel"), a.get("timestamp")
	if channel == "" || ts == "" {
		return nil, "no_item_specified"
	}
	if !validEmojiName(a.get("name")) {
		return nil, "invalid_name"
	}
	m := s.message(channel, ts)
	if m == nil {
		return nil, "message_not_found"
	}
	return m, ""
}

func (s *Server) reactionsAdd(_ *http.Request, a args) answer {
	m, e := s.reactionTarget(a)
	if e != "" {
		return errAnswer(e)
	}
	name := a.get("name")
	reactions, _ := m["reactions"].([]any)
	i := slices.IndexFunc(reactions, func(r any) bool { return r.(map[string]any)["name"] == name })
	if i < 0 {
		m["reactions"] = append(reactions, map[string]any{"name": name, "users": []any{s.botUserID}, "count": 1})
	} else {
		rm := reactions[i].(map[string]any)
		users, _ := rm["users"].([]any)
		if slices.Contains(users, any(s.botUserID)) {
			return errAnswer("already_reacted")
		}
		rm["users"], rm["count"] = append(users, s.botUserID), len(users)+1
	}
	s.reactions = append(s.reactions, Reaction{Channel: a.get("channel"), TS: a.get("timestamp"), Name: name})
	return okAnswer(nil)
}

func (s *Server) reactionsRemove(_ *http.Request, a args) answer {
	m, e := s.reactionTarget(a)
	if e != "" {
		return errAnswer(e)
	}
	name := a.get("name")
	reactions, _ := m["reactions"].([]any)
	for i, r := range reactions {
		rm := r.(map[string]any)
		if rm["name"] != name {
			continue
		}
		users, _ := rm["users"].([]any)
		j := slices.Index(users, any(s.botUserID))
		if j < 0 {
			break
		}
		users = slices.Delete(users, j, j+1)
		if len(users) == 0 {
			reactions = slices.Delete(reactions, i, i+1)
		} else {
			rm["users"], rm["count"] = users, len(users)
		}
		if len(reactions) == 0 {
			delete(m, "reactions")
		} else {
			m["reactions"] = reactions
		}
		s.reactions = append(s.reactions, Reaction{Channel: a.get("channel"), TS: a.get("timestamp"), Name: name, Removed: true})
		return okAnswer(nil)
	}
	return errAnswer("no_reaction")
}

// --- assistant threads ---

func (s *Server) assistantSetStatus(_ *http.Request, a args) answer {
	if a.get("channel_id") == "" || a.get("thread_ts") == "" {
		return errAnswer("invalid_arguments")
	}
	return okAnswer(nil)
}

func (s *Server) assistantSetTitle(_ *http.Request, a args) answer {
	if a.get("channel_id") == "" || a.get("thread_ts") == "" || a.get("title") == "" {
		return errAnswer("invalid_arguments")
	}
	return okAnswer(nil)
}

func (s *Server) assistantSetSuggestedPrompts(_ *http.Request, a args) answer {
	if a.get("channel_id") == "" || a.get("thread_ts") == "" {
		return errAnswer("invalid_arguments")
	}
	var prompts []struct {
		Title   string `json:"title"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(a.raw("prompts"), &prompts); err != nil || len(prompts) == 0 {
		return errAnswer("invalid_arguments")
	}
	for _, p := range prompts {
		if p.Title == "" || p.Message == "" {
			return errAnswer("invalid_arguments")
		}
	}
	return okAnswer(nil)
}

// --- socket mode ---

func (s *Server) appsConnectionsOpen(r *http.Request, _ args) answer {
	if s.closed {
		return errAnswer("internal_error")
	}
	ticket := uuid()
	s.wsTickets[ticket] = true
	u := "ws://" + r.Host + "/link/?ticket=" + ticket + "&app_id=" + randomHex(32)
	return okAnswer(obj{"url": u})
}
