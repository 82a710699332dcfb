package config

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/airut-go/airut/internal/mailauth"
)

// CurrentVersion is the schema version this build reads and writes. It is
// the reference Airut's version, since the file format is shared.
const CurrentVersion = 5

// Config is the whole server configuration after tags are resolved and
// defaults applied.
type Config struct {
	// Path is the file the configuration was read from ("" for defaults).
	Path string `mapstructure:"-"`
	// SHA256 is the hex SHA-256 of the file's bytes ("" for defaults):
	// which version of the file is in force.
	SHA256 string `mapstructure:"-"`

	ConfigVersion int              `mapstructure:"config_version"`
	Vars          map[string]any   `mapstructure:"vars"`
	Execution     Execution        `mapstructure:"execution"`
	Dashboard     Dashboard        `mapstructure:"dashboard"`
	Metrics       Metrics          `mapstructure:"metrics"`
	Network       ServerNetwork    `mapstructure:"network"`
	Temporal      Temporal         `mapstructure:"temporal"`
	Worker        Worker           `mapstructure:"worker"`
	Repos         map[string]*Repo `mapstructure:"repos"`

	// StateDir holds mirrors, conversations and the embedded server's
	// database. Default: $XDG_STATE_HOME/airut.
	StateDir string `mapstructure:"state_dir"`

	// ContainerCommand is accepted for compatibility with the reference's
	// hidden test option; this build talks to the Podman API instead.
	ContainerCommand string `mapstructure:"container_command"`
	// PodmanSocket is the Podman API address (unix:///run/podman/podman.sock
	// by default). Airut starts `podman system service` there when nothing
	// answers.
	PodmanSocket string `mapstructure:"podman_socket"`
	// ContainerNetwork overrides the Podman network of agent containers when
	// the network sandbox is off ("" = Podman's default, "host", "none").
	// Tests use "host" so the agent reaches a scripted API on loopback.
	ContainerNetwork string `mapstructure:"container_network"`

	// ClaudeDownloadURL is where claude_version is downloaded from when no
	// binary is configured or on PATH (default: Anthropic's release host).
	ClaudeDownloadURL string `mapstructure:"claude_download_url"`

	// AttachmentsDir holds inbound attachments between the channel and the
	// workspace (default <state_dir>/attachments). With workers on several
	// hosts it must be shared storage that every worker can read.
	AttachmentsDir string `mapstructure:"attachments_dir"`

	// UnsetEnv maps each key whose !env variable was not set to that
	// variable's name, so `airut check` can say what to export.
	UnsetEnv map[string]string `mapstructure:"-"`
	// DotEnvKeys are the !env variables whose values came from a .env
	// file, which a reload reads again (LoadAgain).
	DotEnvKeys map[string]bool `mapstructure:"-"`
}

// Execution holds server-wide limits on running tasks.
type Execution struct {
	MaxConcurrent          int  `mapstructure:"max_concurrent"`
	ShutdownTimeout        int  `mapstructure:"shutdown_timeout"`
	ConversationMaxAgeDays int  `mapstructure:"conversation_max_age_days"`
	ImagePrune             bool `mapstructure:"image_prune"`
	// HeartbeatTimeout is how long a silent agent run is trusted before its
	// worker is presumed dead and the run is retried elsewhere (seconds).
	HeartbeatTimeout int `mapstructure:"heartbeat_timeout"`
	// HostTimeout is how long a task waits for its conversation's host to
	// pick it up before the conversation moves to another host (seconds).
	HostTimeout int `mapstructure:"host_timeout"`
	// ImageMaxAgeHours is how old a built agent image may get before the
	// next task rebuilds it without the layer cache (0: every task).
	ImageMaxAgeHours int `mapstructure:"image_max_age_hours"`
}

// Dashboard configures the web dashboard that `airut run` serves (and
// `airut dashboard` for split setups).
type Dashboard struct {
	// Enabled serves it from `airut run` (default true).
	Enabled bool   `mapstructure:"enabled"`
	Host    string `mapstructure:"host"`
	Port    int    `mapstructure:"port"`
	// BaseURL is where people reach it when not at host:port (a name, a
	// reverse proxy): its links and allowed Host use it.
	BaseURL string `mapstructure:"base_url"`
	// AuthToken, when set (at least 16 characters, e.g. !env
	// AIRUT_DASHBOARD_TOKEN), is required on every request.
	AuthToken string `mapstructure:"auth_token"`
	// TrustedProxyHeader names the header an authenticating reverse proxy
	// sets to the user's name (e.g. X-Forwarded-User); requests without it
	// are refused. Only for a dashboard that the proxy alone can reach.
	TrustedProxyHeader string `mapstructure:"trusted_proxy_header"`
}

// Metrics is the Prometheus endpoint each Airut process may serve
// (/metrics): off unless Port is set.
type Metrics struct {
	Host string `mapstructure:"host"` // default 127.0.0.1
	Port int    `mapstructure:"port"` // 0: off
}

// Addr is host:port to listen on, "" when off.
func (m Metrics) Addr() string {
	if m.Port == 0 {
		return ""
	}
	return net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
}

// URL is the dashboard's address for people: base_url, else host:port.
func (d Dashboard) URL() string {
	if d.BaseURL != "" {
		u := strings.TrimSuffix(d.BaseURL, "/")
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		return u
	}
	return "http://" + net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
}

// DefaultKeepWarmSeconds is network.keep_warm_seconds when unset.
const DefaultKeepWarmSeconds = 120

// ServerNetwork holds server-wide network settings.
type ServerNetwork struct {
	// UpstreamDNS is the resolver sandbox proxies use for upstream
	// names; default: the egress network's (the host's resolvers).
	UpstreamDNS string `mapstructure:"upstream_dns"`
	// UpstreamCAFile adds a PEM CA bundle to what sandbox proxies trust
	// for upstream servers (a private GitHub Enterprise, a TLS gateway).
	UpstreamCAFile string `mapstructure:"upstream_ca_file"`
	// ProxyBinary is the static airut-proxy binary; default: next to the
	// airut executable, else airut-proxy on PATH.
	ProxyBinary string `mapstructure:"proxy_binary"`
	// EgressNetwork is the podman network the proxies reach upstream
	// servers on (default airut-egress; created when missing).
	EgressNetwork string `mapstructure:"egress_network"`
	// KeepWarmSeconds keeps a conversation's sandbox network and proxy
	// running this long after a task, so the conversation's next task
	// starts without making them again (default 120; 0 removes them
	// right after each task). The proxy holds the real values of the
	// repo's masked secrets meanwhile, as it does during a task.
	KeepWarmSeconds int `mapstructure:"keep_warm_seconds"`
}

// Temporal says which Temporal service to use. An empty Address means the
// embedded server, run inside the airut process.
type Temporal struct {
	Address   string      `mapstructure:"address"`
	Namespace string      `mapstructure:"namespace"`
	APIKey    string      `mapstructure:"api_key"`
	TLS       TemporalTLS `mapstructure:"tls"`
	Embedded  Embedded    `mapstructure:"embedded"`
}

// TemporalTLS configures TLS towards a remote cluster.
type TemporalTLS struct {
	Enabled    bool   `mapstructure:"enabled"`
	CertFile   string `mapstructure:"cert_file"`
	KeyFile    string `mapstructure:"key_file"`
	CAFile     string `mapstructure:"ca_file"`
	ServerName string `mapstructure:"server_name"`
}

// Embedded configures the in-process Temporal server.
type Embedded struct {
	IP           string `mapstructure:"ip"`
	FrontendPort int    `mapstructure:"frontend_port"`
	// UIPort is the Web UI's port; -1 turns the UI off.
	UIPort int `mapstructure:"ui_port"`
	// DatabaseFile is the SQLite file (persistence.driver sqlite only);
	// default <state_dir>/temporal.db.
	DatabaseFile string `mapstructure:"database_file"`
	// UIReadOnly removes the Web UI's actions that change workflows
	// (start, signal, reset, terminate): whoever reaches the UI can then
	// look but not act.
	UIReadOnly bool `mapstructure:"ui_read_only"`
	// Persistence says where the server keeps its state: SQLite (one
	// file, the default) or PostgreSQL.
	Persistence Persistence `mapstructure:"persistence"`
}

// Driver values of Persistence.
const (
	PersistenceSQLite   = "sqlite"
	PersistencePostgres = "postgres"
)

// Persistence is the embedded server's database. With driver postgres it
// keeps executions in Database and visibility (the workflow lists and
// search attributes) in VisibilityDatabase on the PostgreSQL server at
// Host:Port, creating both and their schemas on first start; the other
// keys apply only to postgres.
type Persistence struct {
	Driver             string         `mapstructure:"driver"` // sqlite (default) or postgres
	Host               string         `mapstructure:"host"`
	Port               int            `mapstructure:"port"` // default 5432
	User               string         `mapstructure:"user"`
	Password           string         `mapstructure:"password"`
	Database           string         `mapstructure:"database"`            // default temporal
	VisibilityDatabase string         `mapstructure:"visibility_database"` // default temporal_visibility
	TLS                PersistenceTLS `mapstructure:"tls"`
	// MaxConns caps each of the server's connection pools (it has
	// several: per service, for executions and for visibility); 0 means
	// no cap.
	MaxConns int `mapstructure:"max_conns"`
}

// PersistenceTLS is TLS towards PostgreSQL. Enabled verifies the server's
// certificate against CAFile (default: the system's roots) and the name
// ServerName (default: Host).
type PersistenceTLS struct {
	Enabled    bool   `mapstructure:"enabled"`
	CAFile     string `mapstructure:"ca_file"`
	ServerName string `mapstructure:"server_name"`
}

// Worker configures this process's worker.
type Worker struct {
	// HostID names this host's task queue (airut-host-<id>). It must be
	// stable across restarts so a restarted worker picks up its own
	// conversations. Default: the hostname.
	HostID string `mapstructure:"host_id"`
	// WorkflowCacheSize is how many conversations a process keeps in
	// memory between their events (the Temporal SDK's sticky workflow
	// cache, shared by the process's workers). Others are replayed from
	// their history when their next event comes, which costs a little CPU
	// then. Default 1000.
	WorkflowCacheSize int `mapstructure:"workflow_cache_size"`
}

// Repo is one repository served by Airut.
type Repo struct {
	ID string `mapstructure:"-"`

	RepoURL       string `mapstructure:"repo_url"`
	Model         string `mapstructure:"model"`
	Effort        string `mapstructure:"effort"`
	ClaudeVersion string `mapstructure:"claude_version"`
	// ClaudeBinary is a host path to the Claude Code binary, mounted
	// read-only into the container. Default: `claude` found on PATH.
	ClaudeBinary  string `mapstructure:"claude_binary"`
	ContainerPath string `mapstructure:"container_path"`
	// Image is used as the agent image when the repository has no
	// Dockerfile under ContainerPath on its default branch.
	Image          string                  `mapstructure:"image"`
	Network        RepoNetwork             `mapstructure:"network"`
	ResourceLimits ResourceLimits          `mapstructure:"resource_limits"`
	Secrets        map[string]string       `mapstructure:"secrets"`
	MaskedSecrets  map[string]MaskedSecret `mapstructure:"masked_secrets"`

	// SigningCredentials are AWS keys the container sees only as
	// surrogates; the proxy re-signs requests to their scopes.
	SigningCredentials map[string]SigningCredential `mapstructure:"signing_credentials"`
	// GitHubAppCredentials, by the environment variable the container
	// sees, are GitHub Apps whose installation tokens the proxy mints and
	// swaps in for a surrogate token.
	GitHubAppCredentials map[string]GitHubAppCredential `mapstructure:"github_app_credentials"`
	Email                *Email                         `mapstructure:"email"`
	GitHub               *GitHub                        `mapstructure:"github"`
	Slack                *Slack                         `mapstructure:"slack"`
	Schedules            map[string]*Schedule           `mapstructure:"schedules"`
}

// RepoNetwork configures the network sandbox for one repo.
type RepoNetwork struct {
	SandboxEnabled *bool `mapstructure:"sandbox_enabled"`
}

// Sandboxed reports whether the network sandbox is on (the default).
func (n RepoNetwork) Sandboxed() bool { return n.SandboxEnabled == nil || *n.SandboxEnabled }

// ResourceLimits bounds one agent container. Zero values mean "no limit",
// except Timeout, which defaults to two hours.
type ResourceLimits struct {
	Timeout   int     `mapstructure:"timeout"`
	Memory    string  `mapstructure:"memory"`
	CPUs      float64 `mapstructure:"cpus"`
	PidsLimit int64   `mapstructure:"pids_limit"`
}

// TimeoutDuration is Timeout as a duration.
func (r ResourceLimits) TimeoutDuration() time.Duration {
	return time.Duration(r.Timeout) * time.Second
}

// MaskedSecret is a credential the container only ever sees as a surrogate.
type MaskedSecret struct {
	Value                   string   `mapstructure:"value"`
	Scopes                  []string `mapstructure:"scopes"`
	Headers                 []string `mapstructure:"headers"`
	AllowForeignCredentials bool     `mapstructure:"allow_foreign_credentials"`
}

// SigningCredential is a set of AWS keys (type aws-sigv4): each part
// names the environment variable the container sees it in.
type SigningCredential struct {
	Type            string      `mapstructure:"type"`
	AccessKeyID     NamedSecret `mapstructure:"access_key_id"`
	SecretAccessKey NamedSecret `mapstructure:"secret_access_key"`
	// SessionToken is for temporary credentials; optional.
	SessionToken *NamedSecret `mapstructure:"session_token"`
	Scopes       []string     `mapstructure:"scopes"`
}

// SigningTypeAWS is the one signing credential type.
const SigningTypeAWS = "aws-sigv4"

// NamedSecret is a secret value and the environment variable the
// container sees its surrogate in.
type NamedSecret struct {
	Name  string `mapstructure:"name"`
	Value string `mapstructure:"value"`
}

// GitHubAppCredential is a GitHub App the agent acts as, through a
// surrogate token: the proxy mints installation tokens narrowed to
// Permissions and Repositories.
type GitHubAppCredential struct {
	// AppID is the app's numeric ID or its Client ID ("Iv…"): either
	// may issue the app's JWT.
	AppID          any      `mapstructure:"app_id"`
	PrivateKey     string   `mapstructure:"private_key"`
	InstallationID int64    `mapstructure:"installation_id"`
	Scopes         []string `mapstructure:"scopes"`
	// AllowForeignCredentials lets other Authorization values through to
	// the scopes (by default they are stripped).
	AllowForeignCredentials bool `mapstructure:"allow_foreign_credentials"`
	// BaseURL is the REST API root (default https://api.github.com;
	// GitHub Enterprise Server: https://HOST/api/v3).
	BaseURL      string            `mapstructure:"base_url"`
	Permissions  map[string]string `mapstructure:"permissions"`
	Repositories []string          `mapstructure:"repositories"`
}

// Issuer is AppID as the JWT's iss: the numeric ID or the Client ID.
func (g GitHubAppCredential) Issuer() string {
	switch v := g.AppID.(type) {
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case string:
		return v
	}
	return ""
}

// GitHubAPIDefault is the REST API root of github.com.
const GitHubAPIDefault = "https://api.github.com"

// API is BaseURL or github.com's.
func (g GitHubAppCredential) API() string {
	if g.BaseURL == "" {
		return GitHubAPIDefault
	}
	return g.BaseURL
}

// Email is a repo's mailbox: IMAP in, SMTP out.
type Email struct {
	Account EmailAccount `mapstructure:"account"`
	IMAP    IMAP         `mapstructure:"imap"`
	SMTP    SMTP         `mapstructure:"smtp"`
	Auth    EmailAuth    `mapstructure:"auth"`
	// MicrosoftOAuth2 logs in to a Microsoft 365 mailbox with an app's
	// client credentials (XOAUTH2) instead of account.password.
	MicrosoftOAuth2 *MicrosoftOAuth2 `mapstructure:"microsoft_oauth2"`
}

// Microsoft is the mailbox's Microsoft 365 app for logins (nil: it logs
// in with its password).
func (e Email) Microsoft() *mailauth.Microsoft {
	m := e.MicrosoftOAuth2
	if m == nil {
		return nil
	}
	return &mailauth.Microsoft{TenantID: m.TenantID, ClientID: m.ClientID, ClientSecret: m.ClientSecret, Authority: m.Authority}
}

// MicrosoftOAuth2 is a Microsoft 365 app registration with IMAP and SMTP
// access to the mailbox (IMAP.AccessAsApp, SMTP.SendAsApp).
type MicrosoftOAuth2 struct {
	TenantID     string `mapstructure:"tenant_id"`
	ClientID     string `mapstructure:"client_id"`
	ClientSecret string `mapstructure:"client_secret"`
	// Authority replaces the identity platform's address (a national
	// cloud); default https://login.microsoftonline.com.
	Authority string `mapstructure:"authority"`
}

// EmailAccount is the mailbox login and the reply sender.
type EmailAccount struct {
	Username string `mapstructure:"username"`
	From     string `mapstructure:"from"`
	Password string `mapstructure:"password"`
}

// IMAP is the inbound server. TLS is "tls" (implicit, the default),
// "starttls" or "none"; CAFile adds a private CA to trust.
type IMAP struct {
	Server                string  `mapstructure:"server"`
	Port                  int     `mapstructure:"port"`
	TLS                   string  `mapstructure:"tls"`
	CAFile                string  `mapstructure:"ca_file"`
	ConnectRetries        int     `mapstructure:"connect_retries"`
	PollInterval          float64 `mapstructure:"poll_interval"`
	UseIdle               *bool   `mapstructure:"use_idle"`
	IdleReconnectInterval int     `mapstructure:"idle_reconnect_interval"`
}

// Idle reports whether IMAP IDLE is used (the default).
func (i IMAP) Idle() bool { return i.UseIdle == nil || *i.UseIdle }

// SMTP is the outbound server. TLS is "starttls" (the default: STARTTLS
// when offered, required before logging in), "tls" (implicit) or "none".
type SMTP struct {
	Server      string `mapstructure:"server"`
	Port        int    `mapstructure:"port"`
	TLS         string `mapstructure:"tls"`
	CAFile      string `mapstructure:"ca_file"`
	RequireAuth *bool  `mapstructure:"require_auth"`
}

// Auth reports whether SMTP logs in (the default).
func (s SMTP) Auth() bool { return s.RequireAuth == nil || *s.RequireAuth }

// EmailAuth says whose mail is accepted.
type EmailAuth struct {
	AuthorizedSenders         []string `mapstructure:"authorized_senders"`
	TrustedAuthservID         string   `mapstructure:"trusted_authserv_id"`
	MicrosoftInternalFallback bool     `mapstructure:"microsoft_internal_fallback"`
}

// GitHub gives the pull-request loop access to the repo's PRs: a token,
// or a GitHub App installation.
type GitHub struct {
	// Repository is owner/name on GitHub; default: taken from repo_url.
	Repository string    `mapstructure:"repository"`
	Token      string    `mapstructure:"token"`
	BaseURL    string    `mapstructure:"base_url"`
	App        GitHubApp `mapstructure:"app"`
	// PollInterval is the base seconds between polls of an open PR;
	// quiet polls back off to MaxPollInterval.
	PollInterval      int  `mapstructure:"poll_interval"`
	MaxPollInterval   int  `mapstructure:"max_poll_interval"`
	AutoIterate       bool `mapstructure:"auto_iterate"`
	MaxAutoIterations int  `mapstructure:"max_auto_iterations"`
}

// GitHubApp authenticates as an App installation.
type GitHubApp struct {
	AppID          int64  `mapstructure:"app_id"`
	InstallationID int64  `mapstructure:"installation_id"`
	PrivateKey     string `mapstructure:"private_key"`
}

// Slack is a repo's Slack app (Socket Mode).
type Slack struct {
	BotToken        string           `mapstructure:"bot_token"`
	AppToken        string           `mapstructure:"app_token"`
	Authorized      []map[string]any `mapstructure:"authorized"`
	AllowedChannels []string         `mapstructure:"allowed_channels"`
	// APIURL points the app at another Slack API base (tests).
	APIURL string `mapstructure:"api_url"`
}
