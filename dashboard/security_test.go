package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/airut-go/airut/dashboard"
	"github.com/airut-go/airut/dashboard/dashboardtest"
)

func TestActionsFromTheSameOriginCallTheSource(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.src.StopResult.Stopped, e.src.StopResult.TaskID = true, "t2"
	e.src.RetryResult.Messages = 2
	for _, c := range []struct {
		path  string
		form  url.Values
		hdr   []string
		flash string
	}{
		{"/conversation/" + busyConv + "/stop", url.Values{"repo": {repo1}}, nil, "Stopped task t2."},
		{"/conversation/cafe0001/retry", url.Values{"repo": {"r2"}}, []string{"Sec-Fetch-Site", "same-origin"}, "Retrying: 2 message(s) queued again."},
		{"/conversation/" + busyConv + "/send", url.Values{"text": {"  and add a test  "}}, []string{"Origin", e.ts.URL}, "Message sent."},
	} {
		resp, _ := e.do(e.post(c.path, c.form, c.hdr...))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %s, want 303", c.path, resp.Status)
		}
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/conversation/") {
			t.Fatalf("POST %s redirects to %q", c.path, loc)
		}
		mustContain(t, e.page(loc), c.flash)
	}
	want := []dashboardtest.Call{
		{Method: "Stop", Repo: repo1, Conv: busyConv, Actor: "dashboard (127.0.0.1)"},
		{Method: "Retry", Repo: "r2", Conv: "cafe0001", Actor: "dashboard (127.0.0.1)"},
		{Method: "Send", Repo: repo1, Conv: busyConv, Text: "and add a test", Actor: "dashboard (127.0.0.1)"},
	}
	got := e.src.Calls()
	if len(got) != len(want) {
		t.Fatalf("calls = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestActionFailureIsAFlashAndForgedFlashesAreIgnored(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	e.src.ActionErr = dashboardtest.ErrTest
	resp, _ := e.do(e.post("/conversation/"+busyConv+"/retry", url.Values{"repo": {repo1}}))
	body := e.page(resp.Header.Get("Location"))
	mustContain(t, body, `class="flash flash-error"`, "Could not retry: dashboardtest: failure")
	body = e.page("/conversation/" + busyConv + "?repo=r1&flash=Your+account+is+locked&fs=xyz")
	mustNotContain(t, body, "Your account is locked")
	resp, _ = e.do(e.post("/conversation/"+busyConv+"/send", url.Values{"repo": {repo1}, "text": {"   "}}))
	mustContain(t, e.page(resp.Header.Get("Location")), "The message is empty")
}

func TestCrossSiteActionsAreRefusedAndDoNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
		{"Origin", "http://127.0.0.1:1"},
	} {
		for _, action := range []string{"stop", "retry", "send"} {
			resp, _ := e.do(e.post("/conversation/"+busyConv+"/"+action, url.Values{"repo": {repo1}, "text": {"hi"}}, hdr...))
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %s, want 403", action, hdr, resp.Status)
			}
		}
	}
	if c := e.src.Calls(); len(c) != 0 {
		t.Errorf("the Source was called: %+v", c)
	}
}

func TestGetCannotChangeState(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	for _, action := range []string{"stop", "retry", "send"} {
		for _, path := range []string{"/conversation/" + busyConv + "/" + action, "/conversation/" + busyConv + "/" + action + "?repo=r1&text=x"} {
			if resp, _ := e.get(path); resp.StatusCode < 400 {
				t.Errorf("GET %s: %s", path, resp.Status)
			}
		}
	}
	if c := e.src.Calls(); len(c) != 0 {
		t.Errorf("a GET called the Source: %+v", c)
	}
}

func TestUnknownHostIsRefused(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) {
		o.AllowedHosts = []string{"dash.example.com", "Other.Example:8443"}
		o.BaseURL = "https://airut.example.org"
	})
	e.seed()
	for host, ok := range map[string]bool{
		"evil.example":            false,
		"rebind.attacker.test:80": false,
		"dash.example.com.evil":   false,
		"other.example":           false, // only with its port
		"localhost:5200":          true,
		"127.0.0.1":               true,
		"[::1]:5200":              true,
		"foo.localhost":           true,
		"dash.example.com:5200":   true,
		"DASH.example.com":        true,
		"other.example:8443":      true,
		"airut.example.org":       true,
	} {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/", nil)
		req.Host = host
		resp, _ := e.do(req)
		if got := resp.StatusCode == http.StatusOK; got != ok {
			t.Errorf("Host %q: %s", host, resp.Status)
		}
		if !ok && resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %s, want 421", host, resp.Status)
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t, nil)
	e.seed()
	check := func(what string, h http.Header) {
		t.Helper()
		for k, v := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
		} {
			if got := h.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", what, k, got, v)
			}
		}
	}
	for _, p := range []string{"/", "/conversation/" + busyConv, "/conversation/" + busyConv + "/network?repo=r1", "/repo/r1",
		"/api/health", "/api/conversations", "/static/app.js", "/conversation/00000000?repo=r1", "/nowhere"} {
		resp, _ := e.get(p)
		check(p, resp.Header)
	}
	resp, _ := e.do(e.post("/conversation/"+busyConv+"/stop", url.Values{"repo": {repo1}}, "Sec-Fetch-Site", "cross-site"))
	check("refused POST", resp.Header)
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/", nil)
	req.Host = "evil.example"
	resp, _ = e.do(req)
	check("refused host", resp.Header)
}

const token = "s3cret-token-0123456789"

func TestAuthTokenIsRequired(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) { o.AuthToken = token })
	e.seed()
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, _ := e.do(req)
		return resp
	}
	for _, p := range []string{"/", "/conversation/" + busyConv, "/api/conversations", "/api/health", "/conversation/" + busyConv + "/events/poll?repo=r1"} {
		if r := get(p); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without a token: %s", p, r.Status)
		}
		if r := get(p, "Authorization", "Bearer wrong-token-0123456789"); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %s", p, r.Status)
		}
		if r := get(p, "Authorization", "Bearer "+token); r.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the token: %s", p, r.Status)
		}
	}
	// An action without the token does nothing.
	resp, _ := e.do(e.post("/conversation/"+busyConv+"/stop", url.Values{"repo": {repo1}}))
	if resp.StatusCode != http.StatusUnauthorized || len(e.src.Calls()) != 0 {
		t.Errorf("POST stop without a token: %s, calls %v", resp.Status, e.src.Calls())
	}
	// A browser is sent to the login form, which sets the cookie.
	if r := get("/repo/r1", "Accept", "text/html"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?next=%2Frepo%2Fr1" {
		t.Errorf("browser without a session: %s to %q", r.Status, r.Header.Get("Location"))
	}
	if r := get("/login"); r.StatusCode != http.StatusOK {
		t.Errorf("login form: %s", r.Status)
	}
	if r := get("/static/style.css"); r.StatusCode != http.StatusOK {
		t.Errorf("static without a token: %s", r.Status)
	}
	resp, _ = e.do(e.post("/login", url.Values{"token": {"guess"}, "next": {"/repo/r1"}}))
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("wrong login: %s %v", resp.Status, resp.Cookies())
	}
	resp, _ = e.do(e.post("/login", url.Values{"token": {token}, "next": {"//evil.example/x"}}))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %s to %q, cookies %v", resp.Status, resp.Header.Get("Location"), resp.Cookies())
	}
	c := resp.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || strings.Contains(c.Value, token) {
		t.Errorf("cookie %+v", c)
	}
	if r := get("/", "Cookie", c.Name+"="+c.Value); r.StatusCode != http.StatusOK {
		t.Errorf("with the cookie: %s", r.Status)
	}
	if r := get("/", "Cookie", c.Name+"=0000"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("with a forged cookie: %s", r.Status)
	}
}

func TestShortTokenIsRefused(t *testing.T) {
	if _, err := dashboard.New(dashboard.Options{Source: dashboardtest.New(), AuthToken: "short"}); err == nil {
		t.Error("New accepted a 5-byte token")
	}
}

func TestTrustedProxyHeader(t *testing.T) {
	e := newEnv(t, func(o *dashboard.Options) { o.TrustedProxyHeader = "X-Forwarded-User" })
	e.seed()
	if resp, _ := e.get("/"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the header: %s", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/", nil)
	req.Header.Set("X-Forwarded-User", "alice")
	if resp, _ := e.do(req); resp.StatusCode != http.StatusOK {
		t.Errorf("with the header: %s", resp.Status)
	}
	resp, _ := e.do(e.post("/conversation/"+busyConv+"/stop", url.Values{"repo": {repo1}}, "X-Forwarded-User", "  alice "))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop: %s", resp.Status)
	}
	if c := e.src.Calls(); len(c) != 1 || c[0].Actor != "alice" {
		t.Errorf("calls = %+v, want one by alice", c)
	}
}
