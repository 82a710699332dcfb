package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"go.temporal.io/api/enums/v1"

	"github.com/airut-go/airut/internal/testing/mstokentest"
	"github.com/airut-go/airut/workers/embedded"
)

// runAirut runs the command line in-process and returns what it printed
// and the exit code main would use.
func runAirut(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	a := &app{v: viper.New(), stdout: &out, stderr: &out, stdin: strings.NewReader("")}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.code
	default:
		return out.String(), exitUsage
	}
}

// On a bare machine `airut check` names each missing program and the
// package to install, whatever state the config is in.
func TestCheckReportsMissingPrograms(t *testing.T) {
	dir := t.TempDir()
	// PATH holds a podman and nothing else: newuidmap, claude and the
	// other programs looked up by name are missing.
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	if err := os.WriteFile(filepath.Join(bin, "podman"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	for _, tc := range []struct {
		name, config string
		configLine   string
	}{
		// A missing config means the defaults, which load.
		{"config missing", filepath.Join(dir, "missing.yaml"), `(?m)^ok +config `},
		{"config not YAML", write("broken.yaml", "repos: [unclosed\n"), `(?m)^FAIL +config .*not valid YAML`},
		{"config invalid", write("invalid.yaml", "no_such_key: 1\n"), `(?m)^FAIL +config .*no_such_key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runAirut(t, "check", "--config", tc.config)
			t.Logf("airut check:\n%s", out)
			// The missing programs fail the check even when the config
			// loads.
			if code != exitConfig {
				t.Errorf("exit code %d, want %d (config error)", code, exitConfig)
			}
			for _, want := range []string{
				`(?m)^ok +program podman +` + regexp.QuoteMeta(filepath.Join(bin, "podman")) + `$`,
				// The program and its package differ in name.
				// Only rootless podman needs newuidmap (the tests run as
				// root), and a missing claude is downloaded per repo.
				`(?m)^warn +program newuidmap +not found \(rootless podman's user namespaces\)\n +fix: apt-get install uidmap$`,
				`(?m)^warn +program claude +not found \(the agent\)\n +fix: npm install -g @anthropic-ai/claude-code$`,
				tc.configLine,
			} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("output lacks %s", want)
				}
			}
			// The ad-hoc messages are gone: git is reported once, as a
			// program.
			if regexp.MustCompile(`(?m)^FAIL +git `).MatchString(out) {
				t.Errorf("git reported twice")
			}
		})
	}
}

// `airut check` fetches the Microsoft 365 app's token as the mailbox
// will, and says what is wrong: the secret, or a permission the admin
// consent lacks (the platform hands out tokens without it).
func TestCheckMicrosoftMailbox(t *testing.T) {
	ep := mstokentest.New(t, "tenant-1", "app-1", "s3cret", 3599)
	dir := t.TempDir()
	config := func(secret string) string {
		path := filepath.Join(dir, fmt.Sprintf("airut-%d.yaml", len(secret)))
		text := fmt.Sprintf(`config_version: 5
repos:
  mail:
    repo_url: %s
    secrets: {ANTHROPIC_API_KEY: sk-ant-x}
    email:
      account: {username: airut@contoso.example, from: "Airut <airut@contoso.example>"}
      imap: {server: outlook.office365.com}
      smtp: {server: smtp.office365.com}
      auth: {authorized_senders: [you@contoso.example]}
      microsoft_oauth2: {tenant_id: tenant-1, client_id: app-1, client_secret: %s, authority: %s}
`, dir, secret, ep.URL())
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, secret string
		roles        []string
		want         string
	}{
		{"granted", "s3cret", []string{"IMAP.AccessAsApp", "SMTP.SendAsApp"},
			`(?m)^ok +repo mail mailbox +Microsoft 365 token for airut@contoso.example \(IMAP.AccessAsApp, SMTP.SendAsApp\)$`},
		{"no SMTP permission", "s3cret", []string{"IMAP.AccessAsApp"},
			`(?m)^FAIL +repo mail mailbox +the Microsoft 365 app's token lacks SMTP.SendAsApp: logins will be refused\n +fix: grant the app SMTP.SendAsApp`},
		{"wrong secret", "wrong", nil,
			`(?m)^FAIL +repo mail mailbox +Microsoft 365 token: the client secret is wrong or expired: check microsoft_oauth2.client_secret .*\n +fix: fix repos.mail.email.microsoft_oauth2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep.SetRoles(tc.roles...)
			out, _ := runAirut(t, "check", "--config", config(tc.secret))
			if !regexp.MustCompile(tc.want).MatchString(out) {
				t.Errorf("airut check output lacks %s:\n%s", tc.want, out)
			}
			if strings.Contains(out, "s3cret") {
				t.Errorf("the client secret is in the output:\n%s", out)
			}
		})
	}
}

// --log-format json writes one JSON object per line; an unknown format is
// refused before anything runs.
func TestLogFormat(t *testing.T) {
	var buf bytes.Buffer
	root := newRootCmd(&app{v: viper.New(), stdout: &buf, stderr: &buf, stdin: strings.NewReader("")})
	root.SetArgs([]string{"--log-format", "yaml", "check"})
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), `--log-format "yaml": use text or json`) || buf.Len() != 0 {
		t.Errorf("--log-format yaml: %v, output %q; want a usage error and nothing run", err, buf.String())
	}
	a := &app{v: viper.New(), stdout: &buf, stderr: &buf}
	a.v.Set("log-format", "json")
	a.logger().Info("worker ready", "host", "h1")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "worker ready" || line["host"] != "h1" {
		t.Errorf("json log line %q: %v", buf.String(), err)
	}
}

// A cluster namespace without Airut's search attributes fails the check
// with the commands that register them; with them, it passes.
func TestCheckReportsMissingSearchAttributes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		attrs map[string]enums.IndexedValueType
		want  string
	}{
		{"bare namespace", nil, `(?m)^FAIL +temporal search attributes +namespace bare lacks AirutRepo, AirutChannel, AirutSender, AirutStatus, AirutPR: new conversations cannot start\n +fix: register them once: temporal operator search-attribute create --namespace bare --name AirutRepo --type Keyword;`},
		{"registered", map[string]enums.IndexedValueType{"AirutRepo": enums.INDEXED_VALUE_TYPE_KEYWORD, "AirutChannel": enums.INDEXED_VALUE_TYPE_KEYWORD,
			"AirutSender": enums.INDEXED_VALUE_TYPE_KEYWORD, "AirutStatus": enums.INDEXED_VALUE_TYPE_KEYWORD, "AirutPR": enums.INDEXED_VALUE_TYPE_KEYWORD}, `(?m)^ok +temporal +answering at `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := embedded.Start(ctx, embedded.Options{UIPort: -1, Namespace: "bare", SearchAttributes: tc.attrs})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			config := filepath.Join(t.TempDir(), "airut.yaml")
			os.WriteFile(config, []byte(fmt.Sprintf("config_version: 5\ntemporal: {address: %q, namespace: bare}\n", srv.FrontendAddress())), 0o644)
			out, _ := runAirut(t, "check", "--config", config)
			if !regexp.MustCompile(tc.want).MatchString(out) {
				t.Errorf("airut check lacks %s:\n%s", tc.want, out)
			}
			if tc.attrs != nil && strings.Contains(out, "search attributes") {
				t.Errorf("search attributes reported although registered:\n%s", out)
			}
		})
	}
}
