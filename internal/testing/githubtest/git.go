package githubtest

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// maxGitBody bounds a chunked request body, which is read into memory
// because CGI needs a length; git sends chunked bodies for pushes over
// http.postBuffer (1 MiB).
const maxGitBody = 256 << 20

// ServeGitRepo serves the bare repository bareDir as owner/name over Git's
// smart HTTP protocol, at https://HOST/owner/name.git as on github.com
// (also without ".git"), by running `git http-backend` through CGI. Git
// authenticates like on GitHub: HTTP Basic, any user name (git tools send
// x-access-token), and as password an unexpired installation token that
// covers the repository (or a [Server.RequireToken] token, which may do
// anything). Fetching needs contents read, pushing contents write:
//
//   - no or an unknown token: 401 with WWW-Authenticate: Basic realm="GitHub";
//   - a fetch the token may not make: 404 "Repository not found.";
//   - a push the token may not make (another repository, or no contents
//     write): 403 "Permission to owner/name.git denied to USER.".
//
// Git requests are recorded ([Server.Requests]) but are not subject to the
// REST API's rate limits.
func (s *Server) ServeGitRepo(owner, name, bareDir string) {
	s.t.Helper()
	dir, err := filepath.Abs(bareDir)
	if err != nil {
		s.t.Fatalf("githubtest: ServeGitRepo %s/%s: %v", owner, name, err)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		s.t.Fatalf("githubtest: ServeGitRepo %s/%s needs git: %v", owner, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(owner, name)
	s.gitRepos[strings.ToLower(owner+"/"+name)] = dir
	s.gitPath = gitPath
}

// gitRoute recognises the smart HTTP requests git makes:
// GET /{owner}/{name}(.git)/info/refs?service=git-upload-pack|git-receive-pack
// and POST /{owner}/{name}(.git)/git-upload-pack|git-receive-pack.
func gitRoute(r *http.Request) (owner, name, service string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 4 && parts[2] == "info" && parts[3] == "refs" && r.Method == http.MethodGet:
		service = r.URL.Query().Get("service")
	case len(parts) == 3 && r.Method == http.MethodPost:
		service = parts[2]
	default:
		return "", "", "", false
	}
	if service != "git-upload-pack" && service != "git-receive-pack" || parts[0] == "" || parts[1] == "" {
		return "", "", "", false
	}
	return parts[0], strings.TrimSuffix(parts[1], ".git"), service, true
}

// gitRefusal is a plain-text answer to a git request.
type gitRefusal struct {
	status int
	text   string
}

// serveGit authorises a git request and hands it to git http-backend.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request, owner, name, service string) {
	rec := RecordedRequest{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		IfNoneMatch:   r.Header.Get("If-None-Match"),
		Authorization: r.Header.Get("Authorization"),
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()

	s.mu.Lock()
	dir, user, refusal := s.authorizeGit(r, owner, name, service)
	gitPath := s.gitPath
	s.mu.Unlock()
	if refusal != nil {
		if refusal.status == http.StatusUnauthorized {
			sw.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		}
		sw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		sw.WriteHeader(refusal.status)
		_, _ = io.WriteString(sw, refusal.text+"\n")
		return
	}

	// CGI needs a length: read a chunked body into memory.
	if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxGitBody+1))
		if err != nil || len(body) > maxGitBody {
			sw.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
	}
	suffix := "/" + service
	if r.Method == http.MethodGet {
		suffix = "/info/refs"
	}
	var stderr bytes.Buffer
	env := []string{
		// http-backend serves GIT_PROJECT_ROOT + PATH_INFO; PATH_INFO
		// given here wins over the one CGI derives from the URL.
		"GIT_PROJECT_ROOT=" + filepath.Dir(dir),
		"PATH_INFO=/" + filepath.Base(dir) + suffix,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user,
		"GIT_CONFIG_NOSYSTEM=1",
	}
	if service == "git-receive-pack" {
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true")
	}
	h := &cgi.Handler{
		Path:   gitPath,
		Args:   []string{"http-backend"},
		Dir:    dir,
		Env:    env,
		Stderr: &stderr,
		Logger: log.New(&stderr, "cgi: ", 0),
	}
	h.ServeHTTP(sw, r)
	if sw.status >= 500 {
		s.t.Errorf("githubtest: git http-backend for %s/%s answered %d: %s", owner, name, sw.status, stderr.String())
	}
}

// authorizeGit checks a git request's Basic credentials against what the
// token may do, as GitHub does. It returns the repository directory and
// the user name, or the refusal. s.mu must be held.
func (s *Server) authorizeGit(r *http.Request, owner, name, service string) (dir, user string, refusal *gitRefusal) {
	user, pass, ok := r.BasicAuth()
	if !ok || pass == "" {
		return "", "", &gitRefusal{http.StatusUnauthorized, "Invalid username or token. Password authentication is not supported for Git operations."}
	}
	m := s.minted[pass]
	switch {
	case s.tokens[pass]:
	case m != nil && time.Now().Before(m.expires):
	default:
		return "", "", &gitRefusal{http.StatusUnauthorized, "Invalid username or token. Password authentication is not supported for Git operations."}
	}
	notFound := &gitRefusal{http.StatusNotFound, "Repository not found."}
	dir = s.gitRepos[strings.ToLower(owner+"/"+name)]
	repo := s.lookupRepo(owner, name)
	if dir == "" || repo == nil {
		return "", "", notFound
	}
	if m == nil {
		return dir, user, nil // a RequireToken token may do anything
	}
	level := permissionLevel(m.permissions["contents"])
	if service == "git-receive-pack" {
		if !m.covers(repo) || level < permissionLevel("write") {
			return "", "", &gitRefusal{http.StatusForbidden, fmt.Sprintf("Permission to %s/%s.git denied to %s.", repo.owner, repo.name, user)}
		}
		return dir, user, nil
	}
	if !m.covers(repo) || level < permissionLevel("read") {
		return "", "", notFound
	}
	return dir, user, nil
}

// statusWriter remembers the status written, for the request record.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
