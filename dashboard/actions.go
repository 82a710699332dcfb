package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Bounds of a follow-up message.
const (
	maxFormBytes   = 1 << 20
	maxFollowUpLen = 100_000
)

// The actions change state, so they are POST only; the cross-origin
// protection in front of them refuses requests from other sites. Each
// calls the Source with the actor and redirects back to the conversation
// (303) with a flash message.

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	t, ok := s.locate(w, r)
	if !ok {
		return
	}
	actor := s.actor(r)
	res, err := s.src.Stop(r.Context(), t.Repo, t.ID, actor)
	var msg string
	switch {
	case err != nil:
		s.actionFailed(w, r, t, "stop", err)
		return
	case res.Stopped:
		msg = "Stopped task " + res.TaskID + "."
	default:
		msg = "No task was running."
	}
	if res.Queued > 0 {
		msg += fmt.Sprintf(" %d message(s) are queued and will run next.", res.Queued)
	}
	s.log.Info("dashboard: stop", "repo", t.Repo, "conversation", t.ID, "actor", actor, "stopped", res.Stopped)
	s.back(w, r, t, msg, false)
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	t, ok := s.locate(w, r)
	if !ok {
		return
	}
	actor := s.actor(r)
	res, err := s.src.Retry(r.Context(), t.Repo, t.ID, actor)
	if err != nil {
		s.actionFailed(w, r, t, "retry", err)
		return
	}
	s.log.Info("dashboard: retry", "repo", t.Repo, "conversation", t.ID, "actor", actor, "messages", res.Messages)
	s.back(w, r, t, fmt.Sprintf("Retrying: %d message(s) queued again.", res.Messages), false)
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	t, ok := s.locate(w, r)
	if !ok {
		return
	}
	text := strings.TrimSpace(r.PostFormValue("text"))
	switch {
	case text == "":
		s.back(w, r, t, "The message is empty; nothing was sent.", true)
		return
	case len(text) > maxFollowUpLen || !utf8.ValidString(text):
		s.back(w, r, t, fmt.Sprintf("The message is too long (at most %d bytes) or not valid text; nothing was sent.", maxFollowUpLen), true)
		return
	}
	actor := s.actor(r)
	if err := s.src.Send(r.Context(), t.Repo, t.ID, text, actor); err != nil {
		s.actionFailed(w, r, t, "send", err)
		return
	}
	s.log.Info("dashboard: follow-up sent", "repo", t.Repo, "conversation", t.ID, "actor", actor, "bytes", len(text))
	s.back(w, r, t, "Message sent.", false)
}

func (s *Server) actionFailed(w http.ResponseWriter, r *http.Request, t target, what string, err error) {
	if errors.Is(err, ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "There is no such conversation in repo "+t.Repo+".")
		return
	}
	s.log.Warn("dashboard: action failed", "action", what, "repo", t.Repo, "conversation", t.ID, "error", err)
	s.back(w, r, t, fmt.Sprintf("Could not %s: %v", what, err), true)
}

// back redirects to the conversation page with a flash message. The
// message travels in the URL, signed, so that a link from elsewhere cannot
// make the dashboard say something it did not.
func (s *Server) back(w http.ResponseWriter, r *http.Request, t target, msg string, isErr bool) {
	if len(msg) > 500 {
		msg = msg[:500]
	}
	v := url.Values{}
	v.Set("repo", t.Repo)
	v.Set("flash", msg)
	if isErr {
		v.Set("fe", "1")
	}
	v.Set("fs", s.flashSig(msg, isErr))
	http.Redirect(w, r, "/conversation/"+t.ID+"?"+v.Encode(), http.StatusSeeOther)
}

func (s *Server) flashSig(msg string, isErr bool) string {
	m := hmac.New(sha256.New, s.flashKey)
	fmt.Fprintf(m, "%t\x00%s", isErr, msg)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// flashFrom reads a signed flash message from the query ("" when there is
// none or its signature is wrong).
func (s *Server) flashFrom(r *http.Request) (string, bool) {
	q := r.URL.Query()
	msg, isErr := q.Get("flash"), q.Get("fe") == "1"
	if msg == "" || !hmac.Equal([]byte(q.Get("fs")), []byte(s.flashSig(msg, isErr))) {
		return "", false
	}
	return msg, isErr
}
