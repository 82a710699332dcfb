package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airut-go/airut/internal/testing/syncbuf"
	"github.com/airut-go/airut/workflows"
)

// chromiumPath is Debian's Chromium (the chromium package of
// internal/hostdeps/programs.txt, test set).
const chromiumPath = "/usr/bin/chromium"

// browserWait bounds each wait for something to show in the browser.
const browserWait = 60 * time.Second

// browser is a headless Chromium tab driven over the DevTools protocol.
type browser struct {
	t   *testing.T
	ctx context.Context
	out *syncbuf.Buffer // Chromium's own output, shown when the test fails
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed (%v): run `make test-deps` (scripts/install-deps.sh test installs Debian's chromium)", err)
	}
	out := &syncbuf.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.DisableGPU,
		// No traffic of its own: the machine may have no network beyond
		// loopback, and refused connections only make noise.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.CombinedOutput(out),
		// As root chromedp adds --no-sandbox itself.
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, out: out}
	t.Cleanup(func() {
		if t.Failed() {
			o := out.String()
			if len(o) > 4000 {
				o = "…" + o[len(o)-4000:]
			}
			t.Logf("chromium output:\n%s", o)
		}
	})
	// Start the browser now, so that a Chromium that does not start fails
	// here and not in the middle of a step.
	if err := chromedp.Do(b.timeout(browserWait), chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium (%s): %v\n%s", chromiumPath, err, out.String())
	}
	return b
}

// timeout is the tab's context with a deadline (the tab itself lives as
// long as the test).
func (b *browser) timeout(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	b.t.Cleanup(cancel)
	return ctx
}

// do runs actions in the tab.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.timeout(browserWait), actions...); err != nil {
		b.t.Fatalf("browser: %s: %v\n%s", what, err, b.page())
	}
}

// open loads a dashboard page.
func (b *browser) open(s *site, path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d%s", s.dashboardPort, path)))
}

// click clicks the element the CSS selector finds, as a person would
// (a mouse event at its place on the page).
func (b *browser) click(css string) {
	b.t.Helper()
	b.do("click "+css, chromedp.Click(chromedp.CSS(css)))
}

// waitFor waits until the JavaScript expression is truthy in the page. The
// dashboard's own script reloads the page when a task ends, and a click on
// a form's button loads another: a poll does not survive a navigation, so
// it starts again on the new page until the time is up.
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(browserWait)
	var last error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			b.t.Fatalf("browser: timed out after %v waiting for %s (last error: %v)\n%s", browserWait, what, last, b.page())
		}
		ok, err := chromedp.Run(b.timeout(left+5*time.Second), chromedp.Poll[bool]("!!("+js+")",
			chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(200*time.Millisecond)))
		if err == nil && ok {
			return
		}
		if errors.Is(err, chromedp.ErrPollingTimeout) {
			b.t.Fatalf("browser: timed out after %v waiting for %s\n%s", browserWait, what, b.page())
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
}

// eval evaluates a JavaScript expression in the page.
func (b *browser) eval(js string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.timeout(browserWait), chromedp.Evaluate[bool]("!!("+js+")"))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", js, err)
	}
	return v
}

// page describes the page for a failure message: its URL and text.
func (b *browser) page() string {
	ctx := b.timeout(5 * time.Second)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	if err != nil {
		text = "(" + err.Error() + ")"
	}
	if len(text) > 4000 {
		text = text[:4000] + "…"
	}
	return "page " + loc + ":\n" + text
}

// screenshot saves the whole page as docs/screenshots/<name>.png, for the
// README.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.timeout(browserWait), chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dir := filepath.Join(repoRoot, "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d KB)", file, len(png)/1024)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The dashboard in a real browser (Debian's Chromium), against a real
// `airut run` with the real Claude Code CLI behind the network sandbox and
// the scripted model API: the conversation shows as running on the
// overview, the agent's tool call shows on the conversation page while
// the task runs, the reply shows when it ends without the test reloading,
// the blocked request shows on the network page with the allowlist entry
// that would allow it, and the page's Stop and Retry buttons work. Each
// page is saved to docs/screenshots/ for the README.
func TestDashboardInBrowser(t *testing.T) {
	s := newSandboxed(t, siteOptions{})
	s.start("run")
	b := newBrowser(t)

	// a. A message whose agent first waits a little (so that the page is
	// open before the second tool call starts), then tries a blocked host
	// and takes a while.
	first := "sleep 12; echo warmed-up"
	command := "curl -s -o /dev/null -w '%{http_code}' https://blocked.test/x; sleep 8; echo slow-tool-done"
	conv := strings.TrimSpace(s.mustAirut(time.Minute, "send", "Check.\nRUN: "+first+"\nRUN: "+command+"\nREPLY: finished in the browser test"))
	t.Logf("conversation %s", conv)

	// b. The overview lists it as running.
	b.open(s.site, "/")
	b.waitFor("the conversation on the overview, busy (the overview refreshes itself)",
		`Array.from(document.querySelectorAll('#rows tbody tr')).some(tr => tr.textContent.includes(`+js(conv)+`) && tr.querySelector('.state-busy'))`)
	b.screenshot("dashboard-overview")

	// c. Its page, reached from the overview's link, shows the second Bash
	// call while the task still runs, brought by the live stream: it was
	// not in the page as served.
	b.click(`#rows a[href^="/conversation/` + conv + `"]`)
	b.waitFor("the conversation page", `location.pathname === `+js("/conversation/"+conv)+` && document.querySelector('#activity')`)
	if !b.eval(`document.querySelector('#state').textContent.trim() === 'busy' && document.querySelector('#activity').dataset.stream`) {
		t.Fatalf("the running conversation's page is not live (state busy, activity streamed)\n%s", b.page())
	}
	b.eval(`document.querySelectorAll('#activity li').forEach(li => li.dataset.served = '1') || true`)
	toolShown := func(cmd string, live bool) string {
		sel := "#activity .ev-tool"
		if live {
			sel += ":not([data-served])"
		}
		return `Array.from(document.querySelectorAll(` + js(sel) + `)).some(li => li.querySelector('.badge-tool')?.textContent.trim() === 'Bash' && li.textContent.includes(` + js(cmd) + `))`
	}
	if b.eval(toolShown(command, false)) {
		t.Fatalf("the page was opened after the second tool call had started: the live stream is not tested (lengthen the first sleep)")
	}
	b.waitFor("the agent's second Bash call, live on the conversation page", toolShown(command, true))
	if st := s.status(conv); !st.Busy {
		t.Fatalf("the tool call showed only after the task ended (state %s): make the task longer", st.State)
	}
	if r := s.replies(conv, "reply"); len(r) != 0 {
		t.Errorf("a reply exists already (%d): the tool call did not show while the task ran", len(r))
	}
	if b.eval(`document.querySelector('.thread .reply')`) {
		t.Errorf("the page shows a reply while the task runs")
	}
	if !b.eval(toolShown(first, false)) || !b.eval(`document.querySelector('#activity').textContent.includes('warmed-up')`) {
		t.Errorf("the first tool call or its result is missing from the activity\n%s", b.page())
	}
	// A result streamed after its call (which was on the page when it
	// loaded) still names its tool.
	if !b.eval(`Array.from(document.querySelectorAll('#activity .ev-result')).some(li => li.textContent.includes('warmed-up') && li.querySelector('.badge-result').textContent.trim() === 'Bash result')`) {
		t.Errorf("the streamed result of the first call does not name its tool\n%s", b.page())
	}
	b.screenshot("dashboard-conversation-live")

	// d. The reply shows when the task ends; the test does not reload
	// (the page follows the task by itself).
	b.waitFor("the reply on the conversation page",
		`Array.from(document.querySelectorAll('.thread .reply')).some(r => r.textContent.includes('finished in the browser test'))`)
	b.waitFor("the conversation idle on its page", `document.querySelector('#state')?.textContent.trim() === 'idle'`)
	if st := s.status(conv); st.Busy || len(st.Tasks) != 1 || st.Tasks[0].Outcome != workflows.OutcomeSuccess {
		t.Errorf("status after the reply: %+v", st)
	}
	b.screenshot("dashboard-conversation-done")

	// e. The network page marks the blocked request and suggests the
	// allowlist entry.
	b.click(`.facts a[href^="/conversation/` + conv + `/network"]`)
	blockedRow := `Array.from(document.querySelectorAll('#netrows tr.blocked')).find(tr => tr.querySelector('.host')?.textContent.trim() === 'blocked.test' && tr.querySelector('.path')?.textContent.includes('/x'))`
	b.waitFor("the blocked request on the network page", blockedRow)
	if !b.eval(`(` + blockedRow + `).querySelector('.mark-blocked')?.textContent.trim() === 'BLOCKED'`) {
		t.Errorf("the request to blocked.test is not marked BLOCKED\n%s", b.page())
	}
	if !b.eval(`(`+blockedRow+`).querySelector('pre.yaml')?.textContent.includes('host: blocked.test')`) ||
		!b.eval(`document.querySelector('.suggest pre.yaml')?.textContent.includes('host: blocked.test')`) {
		t.Errorf("no allowlist entry for blocked.test is suggested\n%s", b.page())
	}
	if !b.eval(`Array.from(document.querySelectorAll('#netrows tr.allowed')).some(tr => tr.querySelector('.host')?.textContent.trim() === 'api.anthropic.test')`) {
		t.Errorf("the allowed API calls are not listed\n%s", b.page())
	}
	b.eval(`document.querySelectorAll('#netrows tr.blocked details').forEach(d => d.open = true)`)
	b.screenshot("dashboard-network")

	// f. A long follow-up, sent from the page's form; the Stop button stops
	// it and Retry runs it again.
	b.open(s.site, "/conversation/"+conv)
	b.do("type the follow-up", chromedp.SetValue(chromedp.CSS(`.followup textarea[name="text"]`), "Nap.\nRUN: sleep 60\nREPLY: napped"))
	b.click(`.followup button[type="submit"]`)
	b.waitFor("the follow-up sent", `document.querySelector('.flash')?.textContent.includes('Message sent.')`)
	s.waitForCall(conv, "sleep 60")
	// The page was loaded right after the post, usually while the message
	// was still queued: the Stop button shows when the live state turns
	// busy, without a reload.
	b.waitFor("the Stop button shown live", `document.querySelector('form[action$="/stop"]')?.hidden === false`)
	b.click(`form[action$="/stop"] button`)
	b.waitFor("the page saying the task stopped", `document.querySelector('.flash')?.textContent.includes('Stopped task')`)
	b.waitFor("the state stopped on the page", `document.querySelector('#state')?.textContent.trim() === 'stopped'`)
	eventually(t, 30*time.Second, "the task stopped", func() bool { return s.status(conv).State == workflows.StateStopped })
	before := len(s.status(conv).Tasks)

	b.waitFor("the Retry button", `document.querySelector('form[action$="/retry"]')?.hidden === false`)
	b.click(`form[action$="/retry"] button`)
	b.waitFor("the page saying the task is retried", `document.querySelector('.flash')?.textContent.includes('Retrying')`)
	b.waitFor("the retried task running on the page", `['queued', 'busy'].includes(document.querySelector('#state')?.textContent.trim())`)
	eventually(t, 30*time.Second, "the stopped task running again", func() bool {
		st := s.status(conv)
		return st.Busy && len(st.Tasks) == before
	})
	s.mustAirut(time.Minute, "stop", conv)
}
