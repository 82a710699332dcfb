// Package mstokentest is a stand-in for the Microsoft identity platform's
// token endpoint, for tests only: one tenant and one app, the
// client-credentials grant for the Exchange Online scope, answered in the
// platform's wire format (form-encoded request, JSON tokens, AADSTS error
// codes on refusal). Tokens are shaped like the platform's: unsigned JWTs
// whose claims carry the Exchange Online audience, the tenant, the app
// and its application permissions (roles), numbered in the order they
// are issued (claim "n").
package mstokentest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Server is a token endpoint at URL()/<tenant>/oauth2/v2.0/token.
type Server struct {
	Tenant, ClientID, ClientSecret string

	mu        sync.Mutex
	roles     []string
	issued    []string
	expiresIn int
	srv       *httptest.Server
}

// New starts a token endpoint that issues tokens good for expiresIn
// seconds; it stops when the test ends.
func New(t testing.TB, tenant, clientID, clientSecret string, expiresIn int) *Server {
	s := &Server{Tenant: tenant, ClientID: clientID, ClientSecret: clientSecret, expiresIn: expiresIn,
		roles: []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"}}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the authority to configure (microsoft_oauth2.authority).
func (s *Server) URL() string { return s.srv.URL }

// SetRoles sets the application permissions later tokens carry (by
// default IMAP.AccessAsApp and SMTP.SendAsApp): an app whose admin
// consent lacks one still gets tokens, as on the real platform.
func (s *Server) SetRoles(roles ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles = roles
}

// Issued are the tokens issued so far, oldest first.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Valid reports whether token was issued by this endpoint.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.issued {
		if t == token {
			return true
		}
	}
	return false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code string, codes []int, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": code, "error_description": desc, "error_codes": codes})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/"+s.Tenant+"/oauth2/v2.0/token" {
		fail(http.StatusBadRequest, "invalid_request", []int{90002}, "AADSTS90002: Tenant not found. Check to make sure you have the correct tenant ID.\r\nTrace ID: 0")
		return
	}
	r.ParseForm()
	switch {
	case r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "https://outlook.office365.com/.default":
		fail(http.StatusBadRequest, "invalid_request", []int{900144}, "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
	case r.Form.Get("client_id") != s.ClientID:
		fail(http.StatusBadRequest, "unauthorized_client", []int{700016}, "AADSTS700016: Application with identifier was not found in the directory.")
	case r.Form.Get("client_secret") != s.ClientSecret:
		fail(http.StatusUnauthorized, "invalid_client", []int{7000215}, "AADSTS7000215: Invalid client secret provided.")
	default:
		s.mu.Lock()
		tok := s.token(len(s.issued) + 1)
		s.issued = append(s.issued, tok)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": s.expiresIn, "ext_expires_in": s.expiresIn, "access_token": tok})
	}
}

// token makes the n-th token: header.claims.signature, base64url, like
// the platform's (the signature is not one: nothing here verifies it).
func (s *Server) token(n int) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := map[string]any{
		"aud": "https://outlook.office365.com", "tid": s.Tenant, "appid": s.ClientID,
		"roles": s.roles, "exp": time.Now().Add(time.Duration(s.expiresIn) * time.Second).Unix(), "n": n,
	}
	return enc(map[string]string{"typ": "JWT", "alg": "RS256"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("sig-%d", n)))
}
