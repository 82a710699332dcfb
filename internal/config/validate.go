package config

import (
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Defaults, where the reference has them, are the reference's.
const (
	DefaultModel            = "opus"
	DefaultContainerPath    = ".airut/container"
	DefaultTimeout          = 7200
	DefaultMaxConcurrent    = 3
	DefaultShutdownTimeout  = 60
	DefaultMaxAgeDays       = 7
	DefaultHeartbeatTimeout = 30
	DefaultImageMaxAgeHours = 24
	DefaultHostTimeout      = 600
	DefaultFrontendPort     = 7233
	DefaultUIPort           = 8233
	DefaultNamespace        = "default"
	DefaultDashboardPort    = 5200
	// DefaultWorkflowCacheSize keeps the conversations with recent events
	// in memory; the SDK's default (10,000) held 10,000 idle conversations
	// in about 1.1 GB (BenchmarkIdleConversationsMemory).
	DefaultWorkflowCacheSize = 1000

	DefaultPostgresPort               = 5432
	DefaultPostgresDatabase           = "temporal"
	DefaultPostgresVisibilityDatabase = "temporal_visibility"
)

// minPidsLimit is the smallest resource_limits.pids_limit accepted.
const minPidsLimit = 32

// applyDefaults fills what the file left out; present reports whether a
// dotted key was written in the file, so an explicit 0 is validated rather
// than silently replaced.
func applyDefaults(c *Config, present func(key string) bool) {
	if !present("config_version") {
		c.ConfigVersion = CurrentVersion
	}
	e := &c.Execution
	def := func(key string, v *int, d int) {
		if !present(key) {
			*v = d
		}
	}
	def("execution.max_concurrent", &e.MaxConcurrent, DefaultMaxConcurrent)
	def("execution.shutdown_timeout", &e.ShutdownTimeout, DefaultShutdownTimeout)
	def("execution.conversation_max_age_days", &e.ConversationMaxAgeDays, DefaultMaxAgeDays)
	def("execution.heartbeat_timeout", &e.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def("execution.host_timeout", &e.HostTimeout, DefaultHostTimeout)
	def("execution.image_max_age_hours", &e.ImageMaxAgeHours, DefaultImageMaxAgeHours)
	if !present("execution.image_prune") {
		e.ImagePrune = true
	}
	def("network.keep_warm_seconds", &c.Network.KeepWarmSeconds, DefaultKeepWarmSeconds)
	if c.Network.EgressNetwork == "" {
		c.Network.EgressNetwork = "airut-egress"
	}
	if !present("dashboard.enabled") {
		c.Dashboard.Enabled = true
	}
	if c.Dashboard.Host == "" {
		c.Dashboard.Host = "127.0.0.1"
	}
	if c.Dashboard.Port == 0 {
		c.Dashboard.Port = DefaultDashboardPort
	}
	if c.Metrics.Host == "" {
		c.Metrics.Host = "127.0.0.1"
	}
	t := &c.Temporal
	if t.Namespace == "" {
		t.Namespace = DefaultNamespace
	}
	if t.Embedded.IP == "" {
		t.Embedded.IP = "127.0.0.1"
	}
	def("temporal.embedded.frontend_port", &t.Embedded.FrontendPort, DefaultFrontendPort)
	def("temporal.embedded.ui_port", &t.Embedded.UIPort, DefaultUIPort)
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	tp := &t.Embedded.Persistence
	if tp.Driver == "" {
		tp.Driver = PersistenceSQLite
	}
	switch tp.Driver {
	case PersistenceSQLite:
		if t.Embedded.DatabaseFile == "" {
			t.Embedded.DatabaseFile = c.StateDir + "/temporal.db"
		}
	case PersistencePostgres:
		def("temporal.embedded.persistence.port", &tp.Port, DefaultPostgresPort)
		if tp.Database == "" {
			tp.Database = DefaultPostgresDatabase
		}
		if tp.VisibilityDatabase == "" {
			tp.VisibilityDatabase = DefaultPostgresVisibilityDatabase
		}
	}
	def("worker.workflow_cache_size", &c.Worker.WorkflowCacheSize, DefaultWorkflowCacheSize)
	if c.Worker.HostID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "local"
		}
		c.Worker.HostID = h
	}
	if c.AttachmentsDir == "" {
		c.AttachmentsDir = c.StateDir + "/attachments"
	}
	for id, r := range c.Repos {
		if r == nil {
			r = &Repo{}
			c.Repos[id] = r
		}
		r.ID = id
		if r.Model == "" {
			r.Model = DefaultModel
		}
		if r.ContainerPath == "" {
			r.ContainerPath = DefaultContainerPath
		}
		if r.ClaudeVersion == "" {
			r.ClaudeVersion = "latest"
		}
		def("repos."+id+".resource_limits.timeout", &r.ResourceLimits.Timeout, DefaultTimeout)
		if e := r.Email; e != nil {
			k := "repos." + id + ".email."
			def(k+"imap.port", &e.IMAP.Port, 993)
			def(k+"imap.connect_retries", &e.IMAP.ConnectRetries, 3)
			def(k+"imap.idle_reconnect_interval", &e.IMAP.IdleReconnectInterval, 1740)
			if !present(k + "imap.poll_interval") {
				e.IMAP.PollInterval = 60
			}
			if e.IMAP.TLS == "" {
				e.IMAP.TLS = "tls"
			}
			def(k+"smtp.port", &e.SMTP.Port, 587)
			if e.SMTP.TLS == "" {
				e.SMTP.TLS = "starttls"
			}
		}
		applyScheduleDefaults("repos."+id, r, present)
		if g := r.GitHub; g != nil {
			k := "repos." + id + ".github."
			def(k+"poll_interval", &g.PollInterval, 60)
			def(k+"max_poll_interval", &g.MaxPollInterval, 900)
			def(k+"max_auto_iterations", &g.MaxAutoIterations, 3)
		}
		// A secret whose !env variable is unset is left out, not passed
		// as an empty string the agent would mistake for a credential.
		for k, v := range r.Secrets {
			if v == "" {
				delete(r.Secrets, k)
			}
		}
	}
}

var (
	repoIDPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	memoryPattern   = regexp.MustCompile(`^[0-9]+[bkmgBKMG]$`)
	hostIDPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	envNamePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	validEfforts    = []string{"low", "medium", "high", "max"}
	validContainerN = []string{"", "host", "none", "bridge"}
)

// validate checks value rules; keys are dotted paths as in the file.
func validate(c *Config) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.ConfigVersion > CurrentVersion {
		bad("config_version", "version %d is newer than this build understands (%d); upgrade airut", c.ConfigVersion, CurrentVersion)
	}
	if c.ConfigVersion < CurrentVersion {
		bad("config_version", "version %d needs migrating to %d; run the reference's `airut migrate` once, or update the file by hand", c.ConfigVersion, CurrentVersion)
	}
	e := c.Execution
	if e.MaxConcurrent < 1 {
		bad("execution.max_concurrent", "must be at least 1 (got %d)", e.MaxConcurrent)
	}
	if e.ShutdownTimeout < 1 {
		bad("execution.shutdown_timeout", "must be at least 1 second (got %d)", e.ShutdownTimeout)
	}
	if e.ConversationMaxAgeDays < 1 {
		bad("execution.conversation_max_age_days", "must be at least 1 (got %d)", e.ConversationMaxAgeDays)
	}
	if e.ImageMaxAgeHours < 0 {
		bad("execution.image_max_age_hours", "must be 0 (rebuild every task) or more (got %d)", e.ImageMaxAgeHours)
	}
	if p := c.Metrics.Port; p < 0 || p > 65535 {
		bad("metrics.port", "must be a port number, or 0 for no metrics endpoint (got %d)", p)
	}
	if net.ParseIP(c.Metrics.Host) == nil {
		bad("metrics.host", "must be an IP address to listen on, like 127.0.0.1 (got %q)", c.Metrics.Host)
	}
	if t := c.Dashboard.AuthToken; t != "" && len(t) < 16 {
		bad("dashboard.auth_token", "must be at least 16 characters (got %d): anyone who can reach the dashboard may guess a short one", len(t))
	}
	if u := c.Dashboard.BaseURL; u != "" {
		if p, err := url.Parse(map[bool]string{true: u, false: "http://" + u}[strings.Contains(u, "://")]); err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			bad("dashboard.base_url", "must be a host or an http(s) URL, like dashboard.example.com or https://airut.example.com (got %q)", u)
		}
	}
	if c.Network.KeepWarmSeconds < 0 {
		bad("network.keep_warm_seconds", "must be 0 (remove each task's proxy at once) or more (got %d)", c.Network.KeepWarmSeconds)
	}
	if n := c.Network.UpstreamDNS; n != "" && net.ParseIP(n) == nil {
		bad("network.upstream_dns", "must be an IP address (got %q)", n)
	}
	if e.HeartbeatTimeout < 2 {
		bad("execution.heartbeat_timeout", "must be at least 2 seconds (got %d)", e.HeartbeatTimeout)
	}
	if e.HostTimeout < 1 {
		bad("execution.host_timeout", "must be at least 1 second (got %d)", e.HostTimeout)
	}
	if !slices.Contains(validContainerN, c.ContainerNetwork) {
		bad("container_network", "must be one of host, none, bridge or empty (got %q)", c.ContainerNetwork)
	}
	if n := c.Worker.WorkflowCacheSize; n < 1 {
		bad("worker.workflow_cache_size", "must be at least 1 (got %d)", n)
	}
	if !hostIDPattern.MatchString(c.Worker.HostID) {
		bad("worker.host_id", "must be letters, digits, '.', '_' or '-' (got %q)", c.Worker.HostID)
	}
	t := c.Temporal
	if t.Address == "" {
		if t.Embedded.FrontendPort < 0 || t.Embedded.FrontendPort > 65535 {
			bad("temporal.embedded.frontend_port", "must be a port number (got %d)", t.Embedded.FrontendPort)
		}
		if t.Embedded.UIPort < -1 || t.Embedded.UIPort > 65535 {
			bad("temporal.embedded.ui_port", "must be a port number, or -1 to turn the UI off (got %d)", t.Embedded.UIPort)
		}
		errs = append(errs, validatePersistence("temporal.embedded", t.Embedded)...)
	}
	if t.TLS.CertFile != "" && t.TLS.KeyFile == "" || t.TLS.CertFile == "" && t.TLS.KeyFile != "" {
		bad("temporal.tls", "cert_file and key_file go together")
	}
	ids := c.RepoIDs()
	mailboxes := map[string]string{}
	for _, id := range ids {
		r := c.Repos[id]
		k := "repos." + id
		switch {
		case !repoIDPattern.MatchString(id):
			bad(k, "repo id must be letters, digits, '.', '_' or '-' (it names a directory)")
		case slices.Contains(reservedRepoIDs(), id):
			bad(k, "repo id %q is reserved: the state directory keeps its own %s/ there; choose another", id, id)
		}
		if r.RepoURL == "" {
			bad(k+".repo_url", "is required")
		}
		if r.Effort != "" && !slices.Contains(validEfforts, r.Effort) {
			bad(k+".effort", "must be one of %s (got %q)", strings.Join(validEfforts, ", "), r.Effort)
		}
		cp := r.ContainerPath
		if path.IsAbs(cp) || strings.Contains("/"+cp+"/", "/../") {
			bad(k+".container_path", "must be a relative path inside the repository without '..' (got %q)", cp)
		}
		if r.ResourceLimits.Timeout < 10 {
			bad(k+".resource_limits.timeout", "must be at least 10 seconds (got %d)", r.ResourceLimits.Timeout)
		}
		errs = append(errs, validateLimits(k+".resource_limits", r.ResourceLimits)...)
		if e := r.Email; e != nil {
			errs = append(errs, validateEmail(k+".email", e)...)
			box := strings.ToLower(e.IMAP.Server + "/" + e.Account.Username)
			if other, dup := mailboxes[box]; dup {
				bad(k+".email.account.username", "mailbox already used by repo %s: each repo needs its own mailbox", other)
			}
			mailboxes[box] = id
		}
		if sl := r.Slack; sl != nil {
			errs = append(errs, validateSlack(k+".slack", sl)...)
		}
		if g := r.GitHub; g != nil {
			gk := k + ".github"
			app := g.App.AppID != 0 || g.App.InstallationID != 0 || g.App.PrivateKey != ""
			switch {
			case g.Token == "" && !app:
				bad(gk, "needs token or app (app_id, installation_id, private_key)")
			case app && (g.App.AppID == 0 || g.App.InstallationID == 0 || g.App.PrivateKey == ""):
				bad(gk+".app", "needs app_id, installation_id and private_key together")
			}
			if g.PollInterval < 1 {
				bad(gk+".poll_interval", "must be at least 1 second (got %d)", g.PollInterval)
			}
			if g.Repository != "" && strings.Count(g.Repository, "/") != 1 {
				bad(gk+".repository", "must be owner/name (got %q)", g.Repository)
			}
			if g.MaxPollInterval < g.PollInterval {
				bad(gk+".max_poll_interval", "must be at least poll_interval (%d)", g.PollInterval)
			}
			if g.MaxAutoIterations < 0 {
				bad(gk+".max_auto_iterations", "must not be negative")
			}
		}
		for name := range r.Secrets {
			if !envNamePattern.MatchString(name) {
				bad(k+".secrets."+name, "must be an environment variable name")
			}
		}
		errs = append(errs, validateMaskedSecrets(k+".masked_secrets", r.MaskedSecrets)...)
		errs = append(errs, validateSigningCredentials(k+".signing_credentials", r.SigningCredentials)...)
		errs = append(errs, validateGitHubApps(k+".github_app_credentials", r.GitHubAppCredentials)...)
		errs = append(errs, validateCredentialNames(k, r.MaskedSecrets, r.SigningCredentials, r.GitHubAppCredentials)...)
		errs = append(errs, validateSchedules(k, r)...)
	}
	return errs
}

var (
	validPersistenceDrivers = []string{PersistenceSQLite, PersistencePostgres}
	// postgresNamePattern is what a database name may be: PostgreSQL
	// identifiers are at most 63 bytes, and these are also written into
	// the schema tables and used as the visibility index name.
	postgresNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)
)

// validatePersistence checks temporal.embedded.persistence (k is the
// embedded server's key) and that database_file goes with SQLite only.
// Defaults are in place: the driver is set, and with postgres the port and
// the database names are; database_file is set only for sqlite unless the
// file sets it.
func validatePersistence(k string, e Embedded) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	p, pk := e.Persistence, k+".persistence"
	switch p.Driver {
	case PersistenceSQLite:
		// Keys of postgres written by mistake would be ignored silently,
		// leaving the server on SQLite.
		for _, set := range []struct {
			key string
			on  bool
		}{
			{"host", p.Host != ""}, {"port", p.Port != 0}, {"user", p.User != ""}, {"password", p.Password != ""},
			{"database", p.Database != ""}, {"visibility_database", p.VisibilityDatabase != ""},
			{"tls", p.TLS != PersistenceTLS{}}, {"max_conns", p.MaxConns != 0},
		} {
			if set.on {
				bad(pk+"."+set.key, "applies only with driver %s (the driver is %s; set driver: %s to use PostgreSQL)", PersistencePostgres, p.Driver, PersistencePostgres)
			}
		}
	case PersistencePostgres:
		if e.DatabaseFile != "" {
			bad(k+".database_file", "applies only with persistence.driver %s (the driver is %s, which keeps everything in PostgreSQL)", PersistenceSQLite, p.Driver)
		}
		switch {
		case p.Host == "":
			bad(pk+".host", "is required with driver %s: the PostgreSQL server's host name or IP address", PersistencePostgres)
		case strings.ContainsAny(p.Host, " \t\n'\\"):
			bad(pk+".host", "must be a host name, an IP address or a socket directory (got %q)", p.Host)
		case strings.Contains(p.Host, ":") && net.ParseIP(p.Host) == nil && !strings.HasPrefix(p.Host, "/"):
			bad(pk+".host", "must be a host name or IP address without a port; the port goes in port (got %q)", p.Host)
		}
		if p.Port < 1 || p.Port > 65535 {
			bad(pk+".port", "must be a port number (got %d)", p.Port)
		}
		for _, db := range []struct{ key, name string }{{"database", p.Database}, {"visibility_database", p.VisibilityDatabase}} {
			if !postgresNamePattern.MatchString(db.name) {
				bad(pk+"."+db.key, "must be a database name of letters, digits, '_' or '-', at most 63 characters (got %q)", db.name)
			}
		}
		if p.Database == p.VisibilityDatabase {
			bad(pk+".visibility_database", "must differ from database (%q): Temporal keeps executions and visibility in two databases", p.Database)
		}
		if p.MaxConns < 0 {
			bad(pk+".max_conns", "must be 0 (no cap) or more (got %d)", p.MaxConns)
		}
		if !p.TLS.Enabled {
			if p.TLS.CAFile != "" {
				bad(pk+".tls.ca_file", "applies only with tls.enabled: true")
			}
			if p.TLS.ServerName != "" {
				bad(pk+".tls.server_name", "applies only with tls.enabled: true")
			}
		}
	default:
		bad(pk+".driver", "must be one of %s (got %q)", strings.Join(validPersistenceDrivers, ", "), p.Driver)
	}
	return errs
}

// validateSigningCredentials checks AWS signing credentials (k is their
// key): the type, each part's variable and value, and the scopes.
func validateSigningCredentials(k string, creds map[string]SigningCredential) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range slices.Sorted(maps.Keys(creds)) {
		c, ck := creds[name], k+"."+name
		if c.Type != SigningTypeAWS {
			bad(ck+".type", "must be %s (got %q)", SigningTypeAWS, c.Type)
		}
		parts := []struct {
			key string
			ns  *NamedSecret
		}{{".access_key_id", &c.AccessKeyID}, {".secret_access_key", &c.SecretAccessKey}, {".session_token", c.SessionToken}}
		for _, p := range parts {
			if p.ns == nil {
				continue
			}
			if !envNamePattern.MatchString(p.ns.Name) {
				bad(ck+p.key+".name", "must be the environment variable the container sees it in, like AWS_ACCESS_KEY_ID (got %q)", p.ns.Name)
			}
			if p.ns.Value == "" && p.key != ".session_token" {
				bad(ck+p.key+".value", "is required (value: !env VAR)")
			}
		}
		if v := c.AccessKeyID.Value; v != "" && (len(v) < 16 || len(v) > 128) {
			bad(ck+".access_key_id.value", "does not look like an AWS access key ID (%d characters)", len(v))
		}
		if len(c.Scopes) == 0 {
			bad(ck+".scopes", "needs at least one host the keys may sign for, like \"*.amazonaws.com\"")
		}
	}
	return errs
}

// validateGitHubApps checks GitHub App credentials (k is their key).
func validateGitHubApps(k string, apps map[string]GitHubAppCredential) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range slices.Sorted(maps.Keys(apps)) {
		a, ak := apps[name], k+"."+name
		if !envNamePattern.MatchString(name) {
			bad(ak, "must be an environment variable name (the container sees the token in it)")
		}
		switch v := a.AppID.(type) {
		case int, int64, uint64:
			if a.Issuer() == "0" || strings.HasPrefix(a.Issuer(), "-") {
				bad(ak+".app_id", "must be the app's ID (a positive number) or its Client ID")
			}
		case string:
			if v == "" {
				bad(ak+".app_id", "is required: the app's ID or its Client ID (Iv…)")
			}
		case nil:
			bad(ak+".app_id", "is required: the app's ID or its Client ID (Iv…)")
		default:
			bad(ak+".app_id", "must be the app's ID (a number) or its Client ID (a string)")
		}
		if a.PrivateKey == "" {
			bad(ak+".private_key", "is required: the app's private key (PEM), e.g. private_key: !env GH_APP_KEY")
		} else if !strings.Contains(a.PrivateKey, "PRIVATE KEY-----") {
			bad(ak+".private_key", "is not a PEM private key (it should start with -----BEGIN RSA PRIVATE KEY-----)")
		}
		if a.InstallationID <= 0 {
			bad(ak+".installation_id", "is required: the installation's ID (a positive number)")
		}
		if len(a.Scopes) == 0 {
			bad(ak+".scopes", "needs at least one host the token may be sent to, like api.github.com and github.com")
		}
		if a.BaseURL != "" {
			if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
				bad(ak+".base_url", "must be the REST API's https URL, like https://github.example.com/api/v3 (got %q)", a.BaseURL)
			}
		}
		for perm, level := range a.Permissions {
			if !slices.Contains([]string{"read", "write", "admin"}, level) {
				bad(ak+".permissions."+perm, "must be read, write or admin (got %q)", level)
			}
		}
		for i, repo := range a.Repositories {
			if repo == "" || strings.Contains(repo, "/") {
				bad(fmt.Sprintf("%s.repositories[%d]", ak, i), "must be a repository's name without its owner (got %q)", repo)
			}
		}
	}
	return errs
}

// validateCredentialNames refuses two credentials that would fill one
// container variable: one surrogate would silently replace the other.
func validateCredentialNames(k string, masked map[string]MaskedSecret, signing map[string]SigningCredential, apps map[string]GitHubAppCredential) []*Error {
	var errs []*Error
	if k != "" {
		k += "."
	}
	owner := map[string]string{}
	claim := func(env, key string) {
		if env == "" {
			return
		}
		if other, dup := owner[env]; dup {
			errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf("the container variable %s is also filled by %s", env, other)})
			return
		}
		owner[env] = key
	}
	for _, name := range slices.Sorted(maps.Keys(masked)) {
		claim(name, k+"masked_secrets."+name)
	}
	for _, name := range slices.Sorted(maps.Keys(signing)) {
		s := signing[name]
		claim(s.AccessKeyID.Name, k+"signing_credentials."+name+".access_key_id.name")
		claim(s.SecretAccessKey.Name, k+"signing_credentials."+name+".secret_access_key.name")
		if s.SessionToken != nil {
			claim(s.SessionToken.Name, k+"signing_credentials."+name+".session_token.name")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(apps)) {
		claim(name, k+"github_app_credentials."+name)
	}
	return errs
}

// validateLimits checks resource limits (k is their key) other than the
// timeout, whose floor differs between airut.yaml and sandbox.yaml.
func validateLimits(k string, rl ResourceLimits) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if rl.Memory != "" && (!memoryPattern.MatchString(rl.Memory) || strings.Trim(rl.Memory[:len(rl.Memory)-1], "0") == "") {
		bad(k+".memory", "must be a non-zero size like 512m or 8g (got %q)", rl.Memory)
	}
	if rl.CPUs != 0 && rl.CPUs < 0.01 {
		bad(k+".cpus", "must be at least 0.01 (got %v)", rl.CPUs)
	}
	// Threads count as pids: the runtime's own init and Claude Code
	// need dozens before the agent runs a single command.
	if rl.PidsLimit < 0 || rl.PidsLimit > 0 && rl.PidsLimit < minPidsLimit {
		bad(k+".pids_limit", "must be 0 (no limit) or at least %d (got %d); the container's init and Claude Code's threads count too", minPidsLimit, rl.PidsLimit)
	}
	return errs
}

// validateMaskedSecrets checks masked secrets (k is their key): names
// the container can see, and hosts for the real values.
func validateMaskedSecrets(k string, secrets map[string]MaskedSecret) []*Error {
	var errs []*Error
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !envNamePattern.MatchString(name) {
			errs = append(errs, &Error{Key: k + "." + name, Msg: "must be an environment variable name"})
		}
		if len(secrets[name].Scopes) == 0 {
			errs = append(errs, &Error{Key: k + "." + name + ".scopes", Msg: "needs at least one host the secret may be sent to"})
		}
	}
	return errs
}

var senderPattern = regexp.MustCompile(`^(\*@[A-Za-z0-9.-]+|[^@\s]+@[A-Za-z0-9.-]+)$`)

func validateEmail(k string, e *Email) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, req := range []struct{ key, val string }{
		{".account.username", e.Account.Username}, {".account.from", e.Account.From},
		{".imap.server", e.IMAP.Server}, {".smtp.server", e.SMTP.Server},
	} {
		if req.val == "" {
			bad(k+req.key, "is required")
		}
	}
	if e.Account.From != "" {
		if _, err := mail.ParseAddress(e.Account.From); err != nil {
			bad(k+".account.from", "not an address (%v): write it as \"Airut <airut@example.com>\"", err)
		}
	}
	if m := e.MicrosoftOAuth2; m != nil {
		for _, req := range []struct{ key, val string }{
			{".tenant_id", m.TenantID}, {".client_id", m.ClientID}, {".client_secret", m.ClientSecret},
		} {
			if req.val == "" {
				bad(k+".microsoft_oauth2"+req.key, "is required (the app registration's, from the Microsoft Entra admin center)")
			}
		}
		if u := m.Authority; u != "" {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				bad(k+".microsoft_oauth2.authority", "must be an https URL (got %q)", u)
			}
		}
	}
	for _, m := range []struct{ key, val string }{{".imap.tls", e.IMAP.TLS}, {".smtp.tls", e.SMTP.TLS}} {
		if !slices.Contains([]string{"tls", "starttls", "none"}, m.val) {
			bad(k+m.key, "must be tls, starttls or none (got %q)", m.val)
		}
	}
	if e.IMAP.PollInterval < 0.1 {
		bad(k+".imap.poll_interval", "must be at least 0.1 seconds (got %v)", e.IMAP.PollInterval)
	}
	if e.IMAP.IdleReconnectInterval < 60 {
		bad(k+".imap.idle_reconnect_interval", "must be at least 60 seconds (got %d)", e.IMAP.IdleReconnectInterval)
	}
	if e.IMAP.ConnectRetries < 1 {
		bad(k+".imap.connect_retries", "must be at least 1 (got %d)", e.IMAP.ConnectRetries)
	}
	if len(e.Auth.AuthorizedSenders) == 0 {
		bad(k+".auth.authorized_senders", "needs at least one address or *@domain: nobody could use this mailbox")
	}
	for i, s := range e.Auth.AuthorizedSenders {
		if !senderPattern.MatchString(s) {
			bad(fmt.Sprintf("%s.auth.authorized_senders[%d]", k, i), "must be an address or *@domain (got %q)", s)
		}
	}
	return errs
}

func validateSlack(k string, s *Slack) []*Error {
	var errs []*Error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	// Empty tokens are reported by `airut check` (usually an unset !env).
	if s.BotToken != "" && !strings.HasPrefix(s.BotToken, "xoxb-") {
		bad(k+".bot_token", "must be a bot token (xoxb-…)")
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		bad(k+".app_token", "must be an app-level token with connections:write (xapp-…), for Socket Mode")
	}
	if len(s.Authorized) == 0 {
		bad(k+".authorized", "needs at least one rule: workspace_members: true, user_group: <handle> or user_id: U…")
	}
	for i, it := range s.Authorized {
		key := fmt.Sprintf("%s.authorized[%d]", k, i)
		if len(it) != 1 {
			bad(key, "each rule has exactly one key: workspace_members, user_group or user_id")
			continue
		}
		for name := range it {
			if !slices.Contains([]string{"workspace_members", "user_group", "user_id"}, name) {
				bad(key, "unknown rule %q (want workspace_members, user_group or user_id)", name)
			}
		}
	}
	return errs
}

// RepoIDs returns the configured repo IDs in order.
func (c *Config) RepoIDs() []string {
	ids := make([]string, 0, len(c.Repos))
	for id := range c.Repos {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Repo returns the repo with that ID or an error that lists the known ones.
func (c *Config) Repo(id string) (*Repo, error) {
	if r, ok := c.Repos[id]; ok {
		return r, nil
	}
	ids := c.RepoIDs()
	if len(ids) == 0 {
		return nil, fmt.Errorf("unknown repo %q: %s configures no repos", id, c.Path)
	}
	return nil, fmt.Errorf("unknown repo %q (configured: %s)", id, strings.Join(ids, ", "))
}
