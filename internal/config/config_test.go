package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/config"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// referenceConfig is a schema-5 file as the reference Airut writes it; it
// must load unchanged.
const referenceConfig = `config_version: 5
vars:
  mail_server: mail.example.com
  limit: !env LIMIT
execution:
  max_concurrent: 2
  shutdown_timeout: 30
  conversation_max_age_days: 3
  image_prune: true
dashboard:
  enabled: true
  host: 127.0.0.1
  port: 5200
  base_url: dashboard.example.com
network:
  upstream_dns: "1.1.1.1"
container_command: podman
repos:
  web:
    repo_url: https://github.com/org/web.git
    model: sonnet
    effort: max
    claude_version: latest
    container_path: .airut/container
    network: {sandbox_enabled: false}
    resource_limits: {timeout: 600, memory: "8g", cpus: 4, pids_limit: 1024}
    secrets: {ANTHROPIC_API_KEY: !env ANTHROPIC_API_KEY, MISSING: !env NOT_SET}
    masked_secrets:
      GH_TOKEN: {value: !env GH_TOKEN, scopes: [api.github.com], headers: [Authorization], allow_foreign_credentials: false}
    email:
      account: {username: airut, from: "Airut <airut@example.com>", password: !env EMAIL_PASSWORD}
      imap: {server: !var mail_server, port: 993, connect_retries: 3, poll_interval: 60, use_idle: true, idle_reconnect_interval: 1740}
      smtp: {server: !var mail_server, port: 587, require_auth: true}
      auth: {authorized_senders: [you@example.com, "*@corp.com"], trusted_authserv_id: mail.example.com, microsoft_internal_fallback: false}
    slack:
      bot_token: !env SLACK_BOT_TOKEN
      app_token: !env SLACK_APP_TOKEN
      authorized: [{workspace_members: true}, {user_group: engineering}, {user_id: U123}]
      allowed_channels: [C0123456789]
    schedules:
      daily: {cron: "0 9 * * 1-5", timezone: Europe/Helsinki, subject: Daily, prompt: hi, deliver: {to: you@example.com}}
`

func TestParseReferenceConfig(t *testing.T) {
	cfg, err := config.Parse("airut.yaml", []byte(referenceConfig), env(map[string]string{
		"ANTHROPIC_API_KEY": "sk-test", "GH_TOKEN": "ghp_x", "EMAIL_PASSWORD": "pw", "LIMIT": "4",
	}))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	r := cfg.Repos["web"]
	if r == nil || r.ID != "web" {
		t.Fatalf("repo web missing: %+v", cfg.Repos)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"max_concurrent", cfg.Execution.MaxConcurrent, 2},
		{"model", r.Model, "sonnet"},
		{"effort", r.Effort, "max"},
		{"timeout", r.ResourceLimits.Timeout, 600},
		{"cpus", r.ResourceLimits.CPUs, 4.0},
		{"pids", r.ResourceLimits.PidsLimit, int64(1024)},
		{"secret", r.Secrets["ANTHROPIC_API_KEY"], "sk-test"},
		{"unset secret dropped", len(r.Secrets), 1},
		{"!var in email", r.Email.IMAP.Server, "mail.example.com"},
		{"sandbox off", r.Network.Sandboxed(), false},
		{"masked", r.MaskedSecrets["GH_TOKEN"].Value, "ghp_x"},
		{"slack rules", len(r.Slack.Authorized), 3},
		{"unset env recorded", cfg.UnsetEnv["repos.web.secrets.MISSING"], "NOT_SET"},
		{"embedded default", cfg.Temporal.Address, ""},
		{"frontend default", cfg.Temporal.Embedded.FrontendPort, 7233},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestParseErrorsNameFileLineAndKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error text
	}{
		{"broken yaml", "repos: [unclosed", []string{"airut.yaml:", "not valid YAML"}},
		{"top level list", "- a\n- b\n", []string{"airut.yaml:1:", "top level must be a mapping"}},
		{"typo with suggestion", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    modle: opus\n",
			[]string{"airut.yaml:5: repos.web.modle: unknown key (did you mean \"model\"?)"}},
		{"unknown top key", "config_version: 5\nbogus: 1\n", []string{"airut.yaml:2: bogus: unknown key"}},
		{"wrong type", "config_version: 5\nexecution:\n  max_concurrent: lots\n",
			[]string{`airut.yaml:3: execution.max_concurrent: must be a whole number, got a string ("lots")`}},
		{"fraction for a whole number", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    resource_limits: {timeout: 10.5}\n",
			[]string{"airut.yaml:5: repos.web.resource_limits.timeout: must be a whole number, got the number 10.5"}},
		{"string for a list", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    masked_secrets:\n      GH: {value: v, scopes: api.github.com}\n",
			[]string{`airut.yaml:6: repos.web.masked_secrets.GH.scopes: must be a list of host names, got a string ("api.github.com"); a list of one is written [item]`}},
		{"mapping for a string", "config_version: 5\nnetwork:\n  upstream_dns: {ip: 1.1.1.1}\n",
			[]string{"airut.yaml:3: network.upstream_dns: must be a string, got a mapping"}},
		{"bad list item", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    slack:\n      authorized: [{user_id: U1}, U2]\n",
			[]string{`airut.yaml:6: repos.web.slack.authorized[1]: must be a mapping of names to values, got a string ("U2")`}},
		{"secret not echoed", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    masked_secrets:\n      GH: ghp_s3cr3t\n",
			[]string{"airut.yaml:6: repos.web.masked_secrets.GH: must be a mapping of keys to values, got a string"}},
		{"numeric secret not echoed", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    masked_secrets:\n      PIN: 482913\n",
			[]string{"airut.yaml:6: repos.web.masked_secrets.PIN: must be a mapping of keys to values, got a number"}},
		{"signing credential", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    signing_credentials:\n      AWS:\n        type: aws-sigv3\n" +
			"        access_key_id: {name: AWS ACCESS, value: AKIAIOSFODNN7EXAMPLE}\n        secret_access_key: {name: AWS_SECRET_ACCESS_KEY}\n",
			[]string{`airut.yaml:7: repos.web.signing_credentials.AWS.type: must be aws-sigv4 (got "aws-sigv3")`,
				`airut.yaml:8: repos.web.signing_credentials.AWS.access_key_id.name: must be the environment variable the container sees it in, like AWS_ACCESS_KEY_ID (got "AWS ACCESS")`,
				"airut.yaml:9: repos.web.signing_credentials.AWS.secret_access_key.value: is required (value: !env VAR)",
				"airut.yaml:6: repos.web.signing_credentials.AWS.scopes: needs at least one host"}},
		{"github app credential", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    github_app_credentials:\n      GH_TOKEN:\n        app_id: [1]\n" +
			"        private_key: not-a-key\n        permissions: {contents: all}\n        repositories: [org/repo]\n        base_url: ftp://ghe\n",
			[]string{`airut.yaml:7: repos.web.github_app_credentials.GH_TOKEN.app_id: must be the app's ID (a number) or its Client ID (a string)`,
				"airut.yaml:8: repos.web.github_app_credentials.GH_TOKEN.private_key: is not a PEM private key",
				"airut.yaml:6: repos.web.github_app_credentials.GH_TOKEN.installation_id: is required",
				"airut.yaml:6: repos.web.github_app_credentials.GH_TOKEN.scopes: needs at least one host",
				`airut.yaml:9: repos.web.github_app_credentials.GH_TOKEN.permissions.contents: must be read, write or admin (got "all")`,
				`airut.yaml:10: repos.web.github_app_credentials.GH_TOKEN.repositories[0]: must be a repository's name without its owner (got "org/repo")`,
				`airut.yaml:11: repos.web.github_app_credentials.GH_TOKEN.base_url: must be the REST API's https URL`}},
		{"two credentials fill one variable", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    masked_secrets:\n      GH_TOKEN: {value: v, scopes: [github.com]}\n" +
			"    github_app_credentials:\n      GH_TOKEN: {app_id: Iv1.abc, installation_id: 2, private_key: \"-----BEGIN RSA PRIVATE KEY-----\", scopes: [github.com]}\n",
			[]string{"airut.yaml:8: repos.web.github_app_credentials.GH_TOKEN: the container variable GH_TOKEN is also filled by repos.web.masked_secrets.GH_TOKEN"}},
		{"timeout too small", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    resource_limits:\n      timeout: 5\n",
			[]string{"airut.yaml:6: repos.web.resource_limits.timeout: must be at least 10 seconds (got 5)"}},
		{"bad effort", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    effort: extreme\n",
			[]string{"repos.web.effort: must be one of low, medium, high, max"}},
		{"pids limit too small", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    resource_limits: {pids_limit: 5}\n",
			[]string{"airut.yaml:5: repos.web.resource_limits.pids_limit: must be 0 (no limit) or at least 32 (got 5)"}},
		{"memory zero", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    resource_limits: {memory: 0g}\n",
			[]string{"repos.web.resource_limits.memory: must be a non-zero size"}},
		{"container path escape", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    container_path: ../x\n",
			[]string{"repos.web.container_path: must be a relative path"}},
		{"missing repo url", "config_version: 5\nrepos:\n  web:\n    model: opus\n", []string{"airut.yaml:3: repos.web.repo_url: is required"}},
		{"microsoft_oauth2 without its app", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    email:\n      account: {username: a@contoso.example, from: a@contoso.example}\n" +
			"      imap: {server: outlook.office365.com}\n      smtp: {server: smtp.office365.com}\n      auth: {authorized_senders: [b@contoso.example], trusted_authserv_id: contoso.example}\n" +
			"      microsoft_oauth2: {tenant_id: t}\n",
			[]string{"repos.web.email.microsoft_oauth2.client_id: is required", "repos.web.email.microsoft_oauth2.client_secret: is required"}},
		{"unknown var", "config_version: 5\nrepos:\n  web:\n    repo_url: !var nope\n", []string{"airut.yaml:4: repos.web.repo_url: unknown var \"nope\""}},
		{"var to var", "config_version: 5\nvars:\n  a: x\n  b: !var a\n", []string{"airut.yaml:4: vars.b: a var cannot refer to another var"}},
		{"old schema", "config_version: 3\n", []string{"config_version: version 3 needs migrating to 5"}},
		{"bad repo id", "config_version: 5\nrepos:\n  \"a/b\":\n    repo_url: x\n", []string{"repos.a/b: repo id must be"}},
		{"reserved repo id", "config_version: 5\nrepos:\n  ca:\n    repo_url: x\n", []string{"repos.ca: repo id \"ca\" is reserved"}},
		{"duplicate key", "config_version: 5\nrepos: {}\nrepos: {}\n", []string{"airut.yaml:3: repos: key appears twice"}},
		{"email without senders", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    email:\n      account: {username: a, from: a@x.org}\n      imap: {server: i}\n      smtp: {server: s}\n",
			[]string{"repos.web.email.auth.authorized_senders: needs at least one address"}},
		{"email poll too fast and bad tls", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    email:\n      account: {username: a, from: a@x.org}\n      imap: {server: i, poll_interval: 0.01, tls: maybe}\n      smtp: {server: s}\n      auth: {authorized_senders: [\"*@x.org\"]}\n",
			[]string{"repos.web.email.imap.poll_interval: must be at least 0.1", "repos.web.email.imap.tls: must be tls, starttls or none"}},
		{"shared mailbox", "config_version: 5\nrepos:\n  a:\n    repo_url: x\n    email: {account: {username: bot, from: b@x.org}, imap: {server: i}, smtp: {server: s}, auth: {authorized_senders: [u@x.org]}}\n  b:\n    repo_url: y\n    email: {account: {username: bot, from: b@x.org}, imap: {server: i}, smtp: {server: s}, auth: {authorized_senders: [u@x.org]}}\n",
			[]string{"repos.b.email.account.username: mailbox already used by repo a"}},
		{"github without credentials", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    github: {auto_iterate: true}\n",
			[]string{"repos.web.github: needs token or app"}},
		{"github poll too fast", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    github: {token: t, poll_interval: 0, repository: nope}\n",
			[]string{"repos.web.github.poll_interval: must be at least 1 second", "repos.web.github.repository: must be owner/name"}},
		{"unknown persistence driver", "config_version: 5\ntemporal:\n  embedded:\n    persistence:\n      driver: mysql\n",
			[]string{`airut.yaml:5: temporal.embedded.persistence.driver: must be one of sqlite, postgres (got "mysql")`}},
		{"postgres without host", "config_version: 5\ntemporal:\n  embedded:\n    persistence:\n      driver: postgres\n",
			[]string{"airut.yaml:4: temporal.embedded.persistence.host: is required with driver postgres"}},
		{"database_file with postgres", "config_version: 5\ntemporal:\n  embedded:\n    database_file: /var/lib/airut/t.db\n    persistence: {driver: postgres, host: db.example.com}\n",
			[]string{"airut.yaml:4: temporal.embedded.database_file: applies only with persistence.driver sqlite"}},
		{"postgres keys with sqlite", "config_version: 5\ntemporal:\n  embedded:\n    persistence:\n      host: db.example.com\n      password: s3cret-pw\n",
			[]string{"airut.yaml:5: temporal.embedded.persistence.host: applies only with driver postgres (the driver is sqlite",
				"airut.yaml:6: temporal.embedded.persistence.password: applies only with driver postgres"}},
		{"bad postgres values", "config_version: 5\ntemporal:\n  embedded:\n    persistence:\n      driver: postgres\n      host: db.example.com:5432\n" +
			"      port: 70000\n      database: \"temporal; drop\"\n      visibility_database: temporal_visibility\n      max_conns: -1\n      tls: {server_name: db.example.com}\n",
			[]string{`airut.yaml:6: temporal.embedded.persistence.host: must be a host name or IP address without a port; the port goes in port (got "db.example.com:5432")`,
				"airut.yaml:7: temporal.embedded.persistence.port: must be a port number (got 70000)",
				`airut.yaml:8: temporal.embedded.persistence.database: must be a database name of letters, digits, '_' or '-'`,
				"airut.yaml:10: temporal.embedded.persistence.max_conns: must be 0 (no cap) or more (got -1)",
				"airut.yaml:11: temporal.embedded.persistence.tls.server_name: applies only with tls.enabled: true"}},
		{"one database for both", "config_version: 5\ntemporal:\n  embedded:\n    persistence: {driver: postgres, host: db, database: t, visibility_database: t}\n",
			[]string{`airut.yaml:4: temporal.embedded.persistence.visibility_database: must differ from database ("t")`}},
		{"persistence typo", "config_version: 5\ntemporal:\n  embedded:\n    persistence: {driver: postgres, host: db, visibility_db: v}\n",
			[]string{`airut.yaml:4: temporal.embedded.persistence.visibility_db: unknown key`}},
		{"schedule: bad cron, zone, both modes, delivery", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    schedules:\n      nightly:\n" +
			"        cron: \"0 25 * * *\"\n        timezone: Mars/Olympus\n        prompt: hi\n        trigger_command: ./check.sh\n        overlap: queue\n        deliver: {to: you@example.com}\n",
			[]string{"airut.yaml:7: repos.web.schedules.nightly.cron: is not a five-field cron expression (\"0 25 * * *\")",
				`airut.yaml:8: repos.web.schedules.nightly.timezone: must be an IANA time zone, like Europe/Helsinki or UTC (got "Mars/Olympus")`,
				"airut.yaml:6: repos.web.schedules.nightly: has both prompt and trigger_command; give exactly one",
				`airut.yaml:11: repos.web.schedules.nightly.overlap: must be one of skip, buffer_one, buffer_all, cancel_other, terminate_other, allow_all (got "queue")`,
				"repos.web.schedules.nightly.deliver.channel: is email, but repo has no email section to send from"}},
		{"schedule: six fields, no mode, slack name", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    slack: {bot_token: xoxb-1, app_token: xapp-1, authorized: [{workspace_members: true}]}\n    schedules:\n" +
			"      weekly: {cron: \"0 0 9 * * 1\", deliver: {channel: slack, to: \"#general\"}}\n",
			[]string{"repos.web.schedules.weekly.cron: is not a five-field cron expression",
				"repos.web.schedules.weekly: needs prompt or trigger_command",
				`repos.web.schedules.weekly.deliver.to: must be a Slack channel ID (C…) or user ID (U…), not a name (got "#general")`}},
		{"schedule: no recipient, bad channel", "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    schedules:\n      a: {cron: \"* * * * *\", prompt: p}\n      b: {cron: \"* * * * *\", prompt: p, deliver: {channel: sms, to: \"+358\"}}\n",
			[]string{"repos.web.schedules.a.deliver.to: is required", `repos.web.schedules.b.deliver.channel: must be email or slack (got "sms")`}},
		{"two errors both reported", "config_version: 5\nexecution:\n  max_concurrent: 0\nrepos:\n  web:\n    repo_url: x\n    effort: huge\n",
			[]string{"execution.max_concurrent: must be at least 1", "repos.web.effort"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("airut.yaml", []byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatalf("Parse() succeeded, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A file with several kinds of problem reports all of them in one run,
// each with its line and key and in plain words: a value of the wrong
// type, unknown keys, bad values and a missing required key. Leaving out a
// value of the wrong type must not add complaints about the zero value
// left in its place.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	const file = `config_version: 5
network:
  upstream_dns: dns.example.com
execution:
  max_concurrent: lots
  heartbeat_timout: 30
repos:
  web:
    model: opus
    effort: extreme
    network:
      upstream_dns: 1.1.1.1
    email:
      account: {username: bot, from: bot@example.com}
      imap: {server: imap.example.com}
      smtp: {server: smtp.example.com, port: "587"}
      auth:
        authorized_senders: you@example.com
`
	_, err := config.Parse("airut.yaml", []byte(file), env(nil))
	if err == nil {
		t.Fatal("Parse() succeeded")
	}
	want := []string{
		`airut.yaml:3: network.upstream_dns: must be an IP address (got "dns.example.com")`,
		`airut.yaml:5: execution.max_concurrent: must be a whole number, got a string ("lots")`,
		`airut.yaml:6: execution.heartbeat_timout: unknown key (did you mean "heartbeat_timeout"?)`,
		`airut.yaml:8: repos.web.repo_url: is required`,
		`airut.yaml:10: repos.web.effort: must be one of low, medium, high, max (got "extreme")`,
		`airut.yaml:12: repos.web.network.upstream_dns: unknown key`,
		`airut.yaml:16: repos.web.email.smtp.port: must be a whole number, got a string ("587")`,
		`airut.yaml:18: repos.web.email.auth.authorized_senders: must be a list of addresses or *@domain patterns, got a string ("you@example.com"); a list of one is written [item]`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	var ce config.Errors
	if !errors.As(err, &ce) || len(ce) != len(want) {
		t.Fatalf("error is %T with %d problems, want config.Errors with %d", err, len(ce), len(want))
	}
	for _, e := range ce {
		if e.Line == 0 || e.Key == "" {
			t.Errorf("%q: want a line and a key", e)
		}
		for _, jargon := range []string{"source data", "cannot unmarshal", "mapstructure", "unconvertible", "expected type"} {
			if strings.Contains(e.Error(), jargon) {
				t.Errorf("%q: decoder jargon %q", e, jargon)
			}
		}
	}
}

func TestLoadMissingFileGivesDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(filepath.Join(dir, "airut.yaml"))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if len(cfg.Repos) != 0 || cfg.Execution.MaxConcurrent != 3 || cfg.Temporal.Embedded.UIPort != 8233 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestLoadReadsDotEnvWithoutOverriding(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AIRUT_TEST_PRESET", "from-env")
	os.Unsetenv("AIRUT_TEST_FROM_FILE")
	t.Cleanup(func() { os.Unsetenv("AIRUT_TEST_FROM_FILE") })
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("# comment\nAIRUT_TEST_FROM_FILE=\"file value\"\nAIRUT_TEST_PRESET=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := "config_version: 5\nrepos:\n  web:\n    repo_url: x\n    secrets:\n      A: !env AIRUT_TEST_FROM_FILE\n      B: !env AIRUT_TEST_PRESET\n"
	if err := os.WriteFile(filepath.Join(dir, "airut.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "airut.yaml"))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	s := cfg.Repos["web"].Secrets
	if s["A"] != "file value" || s["B"] != "from-env" {
		t.Errorf("secrets = %v, want A from .env and B kept from the environment", s)
	}
}

func TestExampleAndLocalDefaultLoad(t *testing.T) {
	for name, text := range map[string]string{
		"example":                  config.Example,
		"local default":            config.LocalDefault("/src/My Project", false),
		"local default, sandboxed": config.LocalDefault("/src/My Project", true),
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse("airut.yaml", []byte(text), env(map[string]string{"ANTHROPIC_API_KEY": "k"}))
			if err != nil {
				t.Fatalf("Parse() = %v", err)
			}
			if len(cfg.Repos) != 1 {
				t.Fatalf("repos = %v, want one", cfg.RepoIDs())
			}
		})
	}
	if id := config.RepoIDFromPath("/src/My Project"); id != "My-Project" {
		t.Errorf("RepoIDFromPath = %q", id)
	}
}

func TestRepoLookupListsKnownRepos(t *testing.T) {
	cfg, err := config.Parse("airut.yaml", []byte("config_version: 5\nrepos:\n  a: {repo_url: x}\n  b: {repo_url: y}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Repo("c")
	if err == nil || !strings.Contains(err.Error(), `unknown repo "c" (configured: a, b)`) {
		t.Errorf("Repo(c) error = %v", err)
	}
	var ce config.Errors
	_, perr := config.Parse("f.yaml", []byte("bogus: 1\n"), env(nil))
	if !errors.As(perr, &ce) || len(ce) != 1 {
		t.Errorf("Parse error type = %T, want config.Errors with one entry", perr)
	}
}

// The embedded server's persistence: SQLite by default with the file in
// the state directory; PostgreSQL with its defaults filled in and the
// password from the environment, never echoed in an error.
func TestParseEmbeddedPersistence(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want config.Persistence
		file string // want Embedded.DatabaseFile; "" for none
	}{
		{"default sqlite", "config_version: 5\nstate_dir: /state\n",
			config.Persistence{Driver: "sqlite"}, "/state/temporal.db"},
		{"explicit sqlite with file", "config_version: 5\ntemporal:\n  embedded:\n    database_file: /data/t.db\n    persistence: {driver: sqlite}\n",
			config.Persistence{Driver: "sqlite"}, "/data/t.db"},
		{"postgres with defaults", "config_version: 5\ntemporal:\n  embedded:\n    persistence:\n      driver: postgres\n      host: db.example.com\n      user: temporal\n      password: !env PG_PASSWORD\n",
			config.Persistence{Driver: "postgres", Host: "db.example.com", Port: 5432, User: "temporal", Password: "pw from env",
				Database: "temporal", VisibilityDatabase: "temporal_visibility"}, ""},
		{"postgres with everything", "config_version: 5\ntemporal:\n  embedded:\n    persistence:\n      driver: postgres\n      host: 10.0.0.5\n      port: 6432\n" +
			"      user: airut\n      password: pw\n      database: airut_temporal\n      visibility_database: airut_visibility\n      max_conns: 20\n" +
			"      tls: {enabled: true, ca_file: /etc/ssl/pg-ca.pem, server_name: db.example.com}\n",
			config.Persistence{Driver: "postgres", Host: "10.0.0.5", Port: 6432, User: "airut", Password: "pw", Database: "airut_temporal",
				VisibilityDatabase: "airut_visibility", MaxConns: 20,
				TLS: config.PersistenceTLS{Enabled: true, CAFile: "/etc/ssl/pg-ca.pem", ServerName: "db.example.com"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("airut.yaml", []byte(tt.yaml), env(map[string]string{"PG_PASSWORD": "pw from env"}))
			if err != nil {
				t.Fatalf("Parse() = %v", err)
			}
			e := cfg.Temporal.Embedded
			if e.Persistence != tt.want {
				t.Errorf("persistence = %+v, want %+v", e.Persistence, tt.want)
			}
			if e.DatabaseFile != tt.file {
				t.Errorf("database_file = %q, want %q", e.DatabaseFile, tt.file)
			}
		})
	}

	// A password of the wrong type is reported without its value.
	_, err := config.Parse("airut.yaml", []byte("config_version: 5\ntemporal:\n  embedded:\n    persistence: {driver: postgres, host: db, password: [hunter2]}\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "temporal.embedded.persistence.password: must be a string, got a list") {
		t.Errorf("password as a list: err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error echoes the password: %v", err)
	}
	// With a remote Temporal service the embedded server's settings are
	// not used, and not checked.
	if _, err := config.Parse("airut.yaml", []byte("config_version: 5\ntemporal:\n  address: temporal.example.com:7233\n  embedded:\n    persistence: {driver: postgres}\n"), env(nil)); err != nil {
		t.Errorf("remote service with an incomplete embedded block: %v", err)
	}
}

// A schedule takes the documented defaults: subject from its name, email
// delivery, overlap skip, a day's catch-up, notice after 3 failures, the
// reference's trigger timeout and output limit.
func TestScheduleDefaults(t *testing.T) {
	t.Setenv("TZ", "Europe/Helsinki")
	cfg, err := config.Parse("airut.yaml", []byte("config_version: 5\nrepos:\n  web:\n    repo_url: x\n"+
		"    email: {account: {username: bot, from: b@x.org}, imap: {server: i}, smtp: {server: s}, auth: {authorized_senders: [u@x.org]}}\n"+
		"    schedules:\n      nightly: {cron: \"30 2 * * *\", trigger_command: ./check.sh, deliver: {to: u@x.org}}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Repos["web"].Schedules["nightly"]
	want := config.Schedule{Name: "nightly", Cron: "30 2 * * *", Timezone: "Europe/Helsinki", Subject: "nightly", TriggerCommand: "./check.sh",
		TriggerTimeout: 300, OutputLimit: 102400, Deliver: config.ScheduleDelivery{Channel: "email", To: "u@x.org"},
		Overlap: "skip", CatchupWindow: 86400, NotifyAfterFailures: 3}
	if !reflect.DeepEqual(*s, want) || !s.Enabled() {
		t.Errorf("schedule = %+v\nwant       %+v", *s, want)
	}
}
