package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/internal/testing/anthropictest"
	"github.com/airut-go/airut/workflows"
)

// dashboardGet fetches a dashboard page and returns its body.
func dashboardGet(t *testing.T, s *site, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.dashboardPort, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dashboardPost posts a form as the dashboard's own page would (no
// cross-site headers), or as another site does when crossSite is set.
func dashboardPost(t *testing.T, s *site, path string, form url.Values, crossSite bool) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", s.dashboardPort, path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if crossSite {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "http://evil.example")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The dashboard of a real `airut run` with the real Claude Code CLI: the
// conversation shows as running, the agent's tool call arrives on the
// live stream while the task still runs, the reply shows when it ends,
// everything is still there after a restart, a cross-site form post is
// refused, and stop and retry work from the page.
func TestDashboard(t *testing.T) {
	s := newSite(t, anthropictest.NewServer(t), siteOptions{repoURL: upstream(t)})
	p := s.start("run")
	if want := fmt.Sprintf("dashboard=http://127.0.0.1:%d", s.dashboardPort); !strings.Contains(p.logs.String(), want) {
		t.Errorf("the ready line does not give the dashboard's URL (%s):\n%s", want, p.logs.String())
	}
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Look around.\nRUN: sleep 4; echo marker-from-the-tool\nREPLY: all done here"))

	eventually(t, time.Minute, "the conversation on the overview, running", func() bool {
		_, body := dashboardGet(t, s, "/")
		return strings.Contains(body, conv) && strings.Contains(body, workflows.StateBusy)
	})

	// The live stream shows the tool call before the task ends.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/conversation/%s/events/stream", s.dashboardPort, conv), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	sawTool := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "sleep 4") {
			sawTool = true
			break
		}
	}
	resp.Body.Close()
	if !sawTool {
		t.Fatal("the stream ended without the agent's tool call")
	}
	if r := s.replies(conv, "reply"); len(r) != 0 {
		t.Errorf("the tool call arrived only after the reply (%d replies): not live", len(r))
	}

	eventually(t, 2*time.Minute, "the reply on the conversation page", func() bool {
		_, body := dashboardGet(t, s, "/conversation/"+conv)
		return strings.Contains(body, "all done here")
	})

	// After a restart nothing is lost: history lives in Temporal.
	p.kill()
	s.start("run")
	if code, body := dashboardGet(t, s, "/"); code != http.StatusOK || !strings.Contains(body, conv) {
		t.Errorf("overview after a restart: %d, conversation %s listed: %v", code, conv, strings.Contains(body, conv))
	}
	if _, body := dashboardGet(t, s, "/conversation/"+conv); !strings.Contains(body, "all done here") || !strings.Contains(body, "Look around.") {
		t.Errorf("conversation page after a restart lacks the message or the reply")
	}

	// A long task: a form from another site cannot stop it; the page's
	// own form can, and retry runs it again.
	s.mustAirut(time.Minute, "send", "--conversation", conv, "Nap.\nRUN: sleep 60\nREPLY: napped")
	s.waitForCall(conv, "sleep 60")
	if code := dashboardPost(t, s, "/conversation/"+conv+"/stop", nil, true); code != http.StatusForbidden {
		t.Errorf("cross-site stop: %d, want 403", code)
	}
	if st := s.status(conv); !st.Busy {
		t.Fatalf("the cross-site post stopped the task: %+v", st)
	}
	if code := dashboardPost(t, s, "/conversation/"+conv+"/stop", nil, false); code != http.StatusSeeOther {
		t.Errorf("stop from the page: %d, want 303", code)
	}
	eventually(t, 30*time.Second, "the task stopped", func() bool { return s.status(conv).State == workflows.StateStopped })
	// The conversation records who asked (the refused cross-site post is
	// not there: it never reached Temporal).
	if acts := s.status(conv).Actions; len(acts) != 1 || acts[0].Kind != "stop" || !strings.HasPrefix(acts[0].Actor, "dashboard") {
		t.Errorf("recorded actions = %+v, want one stop asked from the dashboard", acts)
	}
	before := len(s.status(conv).Tasks)
	if code := dashboardPost(t, s, "/conversation/"+conv+"/retry", nil, false); code != http.StatusSeeOther {
		t.Errorf("retry from the page: %d, want 303", code)
	}
	eventually(t, 30*time.Second, "the stopped task running again", func() bool {
		st := s.status(conv)
		return st.Busy && len(st.Tasks) == before
	})
	s.mustAirut(time.Minute, "stop", conv)
}

// Two worker hosts on separate state directories: a conversation runs on
// alpha, and the dashboard of the other host (airut run there: worker,
// listeners and dashboard against the shared Temporal) shows its live
// events, read from alpha's worker through Temporal, and lists both
// hosts with their agent slots. So does a dashboard with no worker at all
// (airut dashboard).
func TestDashboardReadsAnotherHostsFiles(t *testing.T) {
	api := anthropictest.NewServer(t)
	repo := upstream(t)
	addr := startServer(t, api, siteOptions{repoURL: repo})
	worker := newSite(t, api, siteOptions{repoURL: repo, hostID: "alpha", temporalRemote: addr})
	worker.start("worker")
	dashOnly := newSite(t, api, siteOptions{repoURL: repo, hostID: "viewer", temporalRemote: addr})
	p := dashOnly.start("dashboard")
	if !strings.Contains(p.logs.String(), fmt.Sprintf("dashboard=http://127.0.0.1:%d", dashOnly.dashboardPort)) {
		t.Errorf("airut dashboard's ready line lacks its URL:\n%s", p.logs.String())
	}

	conv := strings.TrimSpace(worker.mustAirut(time.Minute, "send", "Remote.\nRUN: sleep 12; echo remote-marker\nREPLY: remote done"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eventually(t, time.Minute, "the conversation placed on alpha", func() bool {
		return worker.status(conv).HostQueue == workflows.HostQueue("alpha")
	})
	// The second worker host starts once the conversation is alpha's.
	dash := newSite(t, api, siteOptions{repoURL: repo, hostID: "beta", temporalRemote: addr})
	dash.start("run")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/conversation/%s/events/stream", dash.dashboardPort, conv), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sawTool := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "sleep 12") {
			sawTool = true
			break
		}
	}
	if !sawTool {
		t.Fatal("the dashboard's stream ended without the remote host's tool call")
	}
	if st := worker.status(conv); !st.Busy {
		t.Errorf("the tool call arrived after the task ended: not live")
	}
	if _, err := os.Stat(dash.layout(conv).Root); err == nil {
		t.Errorf("the dashboard's host has the conversation's files: it should have read them remotely")
	}
	eventually(t, 2*time.Minute, "the reply on the remote dashboard", func() bool {
		_, body := dashboardGet(t, dash, "/conversation/"+conv)
		return strings.Contains(body, "remote done")
	})
	// The worker reports its slots every 10 s: alpha, 3 free (none busy).
	eventually(t, 30*time.Second, "hosts alpha and beta with their slots on the overview", func() bool {
		_, body := dashboardGet(t, dash, "/")
		return strings.Contains(body, "<td>alpha</td><td>0</td><td>3</td><td>yes</td>") && strings.Contains(body, "<td>beta</td><td>0</td><td>3</td><td>yes</td>")
	})
	// The dashboard without a worker shows the same.
	if _, body := dashboardGet(t, dashOnly, "/conversation/"+conv); !strings.Contains(body, "remote done") || !strings.Contains(body, "remote-marker") {
		t.Errorf("airut dashboard's conversation page lacks the reply or the tool's output")
	}
}
