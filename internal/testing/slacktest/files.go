package slacktest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AddFile adds a private file, as one a user shared, and returns its
// url_private_download; downloading it needs the bot token.
func (s *Server) AddFile(name string, data []byte) string {
	f := s.AddFileObject(name, data)
	return f["url_private_download"].(string)
}

// AddFileObject adds a private file and returns its Slack file object (id,
// name, mimetype, size, url_private, url_private_download, …), for the
// "files" of a message event.
func (s *Server) AddFileObject(name string, data []byte) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &fileRec{
		id: s.nextID("F"), name: name, title: name, data: slices.Clone(data),
		uploaded: true, created: time.Now().Unix(),
	}
	s.files[f.id] = f
	return s.fileJSON(f)
}

func mimeOf(name string) (mimetype, filetype string) {
	ext := strings.ToLower(path.Ext(name))
	filetype = strings.TrimPrefix(ext, ".")
	if filetype == "" {
		filetype = "binary"
	}
	switch ext {
	case "":
		return "application/octet-stream", filetype
	case ".txt", ".log":
		return "text/plain", "text"
	case ".md":
		return "text/markdown", "markdown"
	}
	if m := mime.TypeByExtension(ext); m != "" {
		m, _, _ = strings.Cut(m, ";")
		return m, filetype
	}
	return "application/octet-stream", filetype
}

// fileJSON is a file object as Slack shows it to the bot. s.mu must be held.
func (s *Server) fileJSON(f *fileRec) obj {
	mimetype, filetype := mimeOf(f.name)
	escaped := url.PathEscape(f.name)
	base := s.srv.URL + "/files-pri/" + s.teamID + "-" + f.id + "/"
	user := f.user
	if user == "" {
		user = "U0USER0001"
	}
	var channels, ims, groups []string
	for _, c := range f.channels {
		switch {
		case strings.HasPrefix(c, "D"):
			ims = append(ims, c)
		case strings.HasPrefix(c, "G"):
			groups = append(groups, c)
		default:
			channels = append(channels, c)
		}
	}
	return obj{
		"id":                   f.id,
		"created":              f.created,
		"timestamp":            f.created,
		"name":                 f.name,
		"title":                f.title,
		"mimetype":             mimetype,
		"filetype":             filetype,
		"pretty_type":          strings.ToUpper(filetype),
		"user":                 user,
		"user_team":            s.teamID,
		"editable":             false,
		"size":                 len(f.data),
		"mode":                 "hosted",
		"is_external":          false,
		"external_type":        "",
		"is_public":            false,
		"public_url_shared":    false,
		"display_as_bot":       false,
		"username":             "",
		"url_private":          base + escaped,
		"url_private_download": base + "download/" + escaped,
		"permalink":            "https://airut-test.slack.com/files/" + user + "/" + f.id + "/" + escaped,
		"permalink_public":     "https://slack-files.com/" + s.teamID + "-" + f.id + "-" + randomHex(5),
		"channels":             nonNil(channels),
		"groups":               nonNil(groups),
		"ims":                  nonNil(ims),
		"comments_count":       0,
		"has_rich_preview":     false,
		"file_access":          "visible",
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) filesInfo(_ *http.Request, a args) answer {
	f, ok := s.files[a.get("file")]
	if !ok || !f.uploaded {
		return errAnswer("file_not_found")
	}
	return okAnswer(obj{
		"file":     s.fileJSON(f),
		"comments": []any{},
		"paging":   obj{"count": 100, "total": 0, "page": 1, "pages": 0},
	})
}

func (s *Server) filesGetUploadURLExternal(r *http.Request, a args) answer {
	name := a.get("filename")
	length, err := strconv.Atoi(a.get("length"))
	if name == "" || err != nil || length <= 0 {
		return errAnswer("invalid_arguments")
	}
	f := &fileRec{id: s.nextID("F"), name: name, title: name, created: time.Now().Unix(), user: s.botUserID}
	s.files[f.id] = f
	ticket := randomHex(16)
	s.tickets[ticket] = f.id
	return okAnswer(obj{
		"upload_url": "http://" + r.Host + "/upload/v1/" + ticket,
		"file_id":    f.id,
	})
}

// serveUpload receives the bytes of a file at its upload URL. slack-go sends
// multipart/form-data with the bytes in a "file" part; a raw body is taken
// as the bytes.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	var data []byte
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			http.Error(w, "bad multipart body: "+err.Error(), http.StatusBadRequest)
			return
		}
		file, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, "no file part", http.StatusBadRequest)
			return
		}
		defer file.Close()
		if data, err = io.ReadAll(file); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	} else {
		var err error
		if data, err = io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.tickets[r.PathValue("ticket")]
	if !ok {
		http.Error(w, "unknown upload URL", http.StatusNotFound)
		return
	}
	f := s.files[id]
	f.data, f.uploaded = data, true
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(data)))
}

func (s *Server) filesCompleteUploadExternal(_ *http.Request, a args) answer {
	var summaries []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal(a.raw("files"), &summaries); err != nil || len(summaries) == 0 {
		return errAnswer("invalid_arguments")
	}
	var recs []*fileRec
	for _, sum := range summaries {
		f, ok := s.files[sum.ID]
		if !ok || !f.uploaded || f.user != s.botUserID {
			return errAnswer("file_not_found")
		}
		recs = append(recs, f)
	}
	channels := []string{}
	if c := a.get("channel_id"); c != "" {
		channels = append(channels, c)
	}
	if cs := a.get("channels"); cs != "" {
		for c := range strings.SplitSeq(cs, ",") {
			if c = strings.TrimSpace(c); c != "" && !slices.Contains(channels, c) {
				channels = append(channels, c)
			}
		}
	}
	threadTS := a.get("thread_ts")
	if threadTS != "" && len(channels) != 1 {
		return errAnswer("invalid_arguments")
	}
	comment := a.get("initial_comment")
	var blocks json.RawMessage
	if comment == "" {
		blocks = a.raw("blocks")
	}

	out := []obj{}
	var fileObjs []any
	for i, f := range recs {
		if t := summaries[i].Title; t != "" {
			f.title = t
		}
		for _, c := range channels {
			if !slices.Contains(f.channels, c) {
				f.channels = append(f.channels, c)
			}
		}
		j := s.fileJSON(f)
		out = append(out, j)
		fileObjs = append(fileObjs, j)
	}
	for _, c := range channels {
		ts := s.nextTS()
		m := s.botMessage(ts, comment)
		m["subtype"] = "file_share"
		m["upload"] = true
		m["display_as_bot"] = false
		m["files"] = fileObjs
		if blocks != nil {
			var b []any
			if json.Unmarshal(blocks, &b) == nil {
				m["blocks"] = b
			}
		}
		if threadTS != "" {
			m["thread_ts"] = threadTS
		}
		s.putMessage(c, m, true)
		for _, f := range recs {
			s.uploads = append(s.uploads, Upload{
				FileID: f.id, Name: f.name, Title: f.title, Data: slices.Clone(f.data),
				Channel: c, ThreadTS: threadTS, InitialComment: comment, TS: ts,
			})
		}
	}
	if len(channels) == 0 {
		for _, f := range recs {
			s.uploads = append(s.uploads, Upload{FileID: f.id, Name: f.name, Title: f.title, Data: slices.Clone(f.data)})
		}
	}
	return okAnswer(obj{"files": out})
}

// serveFile serves a private file to a request bearing a valid bot token;
// any other request is redirected to the sign-in page, as files.slack.com
// does.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	team, id, _ := strings.Cut(r.PathValue("teamfile"), "-")
	f, ok := s.files[id]
	ok = ok && f.uploaded && team == s.teamID && r.PathValue("name") == f.name
	tokErr := s.checkToken("files-pri", bearer(r))
	var data []byte
	var mimetype string
	if ok {
		data = f.data
		mimetype, _ = mimeOf(f.name)
	}
	s.mu.Unlock()

	if tokErr != "" {
		http.Redirect(w, r, "/?redir="+url.QueryEscape(r.URL.Path), http.StatusFound)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mimetype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// serveSignIn is the page a file request without access is redirected to.
func (s *Server) serveSignIn(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body>Sign in to your workspace</body></html>")
}
