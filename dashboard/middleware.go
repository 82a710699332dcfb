package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// csp is the pages' Content-Security-Policy: nothing but the dashboard's
// own files, no inline script or style, no framing, and images only from
// the dashboard or data: URLs (so an image in agent Markdown cannot call
// out).
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// setSecurityHeaders puts the security headers on a response.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// securityHeaders sets the security headers on every response. It does not
// wrap the ResponseWriter, so streaming handlers flush as usual.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refused request in plain text, with the security
// headers (the outer middlewares answer before the inner one that sets
// them).
func refuse(w http.ResponseWriter, code int, msg string) {
	setSecurityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

// checkHost refuses requests whose Host header is not the dashboard's:
// loopback names and addresses, the base URL's host and the allowed hosts.
// A page on an attacker's domain that resolves to 127.0.0.1 (DNS
// rebinding) is same-origin to itself, so the cross-origin protection
// cannot catch it; its Host header can.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.log.Warn("dashboard: request for an unknown host refused", "host", r.Host, "remote", r.RemoteAddr)
			refuse(w, http.StatusMisdirectedRequest, "unknown host: add it to the dashboard's allowed hosts")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostAllowed(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		return false
	}
	if s.allowed[h] {
		return true
	}
	name := h
	if n, _, err := net.SplitHostPort(h); err == nil {
		name = n
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	if ip := net.ParseIP(name); ip != nil && ip.IsLoopback() {
		return true
	}
	return s.allowed[name]
}

// Session cookie of the token login.
const (
	cookieName   = "airut_dashboard"
	cookieMaxAge = 30 * 24 * 3600
)

// sessionValue is the login cookie's value: an HMAC of a fixed label
// keyed with the token, so the cookie is worth only as much as the token
// it came from and never reveals it.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("airut dashboard session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// authenticate enforces the configured authentication (see the package
// documentation).
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.o.AuthToken == "" && s.o.TrustedProxyHeader == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := s.o.TrustedProxyHeader; h != "" && cleanActor(r.Header.Get(h)) == "" {
			s.log.Warn("dashboard: request without the trusted proxy's user header refused", "header", h, "remote", r.RemoteAddr)
			refuse(w, http.StatusForbidden, "not authenticated by the proxy")
			return
		}
		if s.o.AuthToken == "" || s.tokenOK(r) || r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
			setSecurityHeaders(w.Header())
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="airut dashboard"`)
		refuse(w, http.StatusUnauthorized, "authentication required")
	})
}

// tokenOK reports whether r carries the token or the session cookie.
func (s *Server) tokenOK(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && s.tokenMatches(strings.TrimSpace(tok))
	}
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.cookieVal)) == 1
}

// tokenMatches compares in constant time (hashes first, so the length
// does not leak either).
func (s *Server) tokenMatches(tok string) bool {
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.o.AuthToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// localPath keeps a redirect target on this site: a path, not "//host"
// or "/\host", which browsers take for another site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}

type loginData struct {
	Title string
	Next  string
	Error string
	Auth  bool
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if s.o.AuthToken == "" {
		http.NotFound(w, r)
		return
	}
	s.render(w, r, http.StatusOK, "login", loginData{Title: "Sign in", Next: localPath(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.o.AuthToken == "" {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := localPath(r.FormValue("next"))
	if !s.tokenMatches(r.FormValue("token")) {
		s.log.Warn("dashboard: login with a wrong token", "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", loginData{Title: "Sign in", Next: next, Error: "That is not the dashboard's token."})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: s.cookieVal, Path: "/", MaxAge: cookieMaxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure || r.TLS != nil,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure || r.TLS != nil})
	target := "/"
	if s.o.AuthToken != "" {
		target = "/login"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
