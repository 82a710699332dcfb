package dashboard

import (
	"net/http"
	"time"
)

// health answers GET /api/health: the dashboard serves.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]string{"status": "ok"})
}

// apiRow is a conversation in GET /api/conversations.
type apiRow struct {
	Repo         string    `json:"repo"`
	Conversation string    `json:"conversation"`
	Subject      string    `json:"subject"`
	Channel      string    `json:"channel"`
	Sender       string    `json:"sender"`
	Status       string    `json:"status"`
	PR           string    `json:"pr,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	URL          string    `json:"url"`
}

// apiConversations answers GET /api/conversations with the list, filtered
// by the overview's parameters (repo, channel, sender, status, q).
func (s *Server) apiConversations(w http.ResponseWriter, r *http.Request) {
	rows, err := s.list(r.Context(), filterFrom(r))
	if err != nil {
		s.log.Error("dashboard: list failed", "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		writeJSON(w, map[string]string{"error": err.Error()})
		return
	}
	out := make([]apiRow, len(rows))
	for i, r := range rows {
		out[i] = apiRow{
			Repo: r.RepoID, Conversation: r.ConversationID, Subject: r.Subject, Channel: r.Channel, Sender: r.Sender,
			Status: r.Status, PR: r.PR, StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt,
			URL: convURL(r.RepoID, r.ConversationID, ""),
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"conversations": out})
}
