package config

import "path/filepath"

// Where Airut keeps its files under the state directory. Every component
// that reads or writes one of them asks here, so each path is spelled
// once.

// RepoStateDir holds a repo's git mirror and its conversations.
func (c *Config) RepoStateDir(repoID string) string {
	return filepath.Join(c.StateDir, repoID)
}

// MirrorDir is a repo's git mirror, from which workspaces are cloned and
// the default branch's files (Dockerfile, allowlist) are read.
func (c *Config) MirrorDir(repoID string) string {
	return filepath.Join(c.RepoStateDir(repoID), "git-mirror")
}

// RepoAttachmentsDir is where the channel listeners store a repo's inbound
// attachments (they write under <attachments_dir>/<repo>/); attachments
// are taken from there only. It is "" (nothing is accepted) when no
// attachments directory is configured.
func (c *Config) RepoAttachmentsDir(repoID string) string {
	if c.AttachmentsDir == "" {
		return ""
	}
	return filepath.Join(c.AttachmentsDir, repoID)
}

// RejectedMailDir keeps mail the listeners refused (per repo, capped), for
// a person to inspect.
func (c *Config) RejectedMailDir() string {
	return filepath.Join(c.StateDir, "rejected-mail")
}

// reservedRepoIDs are the names of the state directory's own entries: a
// repo with one of these IDs would share its directory with them.
func reservedRepoIDs() []string {
	return []string{"ca", "sandbox", "claude-binaries", "rejected-mail", "attachments", "running"}
}

// CADir holds the network sandbox's certificate authority, created at the
// first sandboxed run and shared by every conversation.
func (c *Config) CADir() string {
	return filepath.Join(c.StateDir, "ca")
}

// SandboxDir holds a host's per-run sandbox files (the secrets the proxy
// replaces, with their real values). A worker starting on the host removes
// it: a run still there belonged to a dead predecessor.
func (c *Config) SandboxDir(hostID string) string {
	return filepath.Join(c.StateDir, "sandbox", hostID)
}

// RunningDir holds a marker per agent run in progress on a host: which
// workflow, activity attempt and task it is, and where its stream began.
// A run that ends removes its marker; a worker starting on the host finds
// those of its dead predecessor, fails their attempts at once and the
// retries resume them.
func (c *Config) RunningDir(hostID string) string {
	return filepath.Join(c.StateDir, "running", hostID)
}

// DrainFile marks a host as draining (airut drain): its worker hands runs
// it cannot finish in time to other hosts. The worker removes it when it
// starts.
func (c *Config) DrainFile(hostID string) string {
	return filepath.Join(c.StateDir, "drain", hostID)
}

// WorkerPIDFile holds the process ID of the host's running worker, for
// airut drain.
func (c *Config) WorkerPIDFile(hostID string) string {
	return filepath.Join(c.StateDir, "run", "worker-"+hostID+".pid")
}

// ClaudeBinariesDir caches the Claude Code binaries downloaded for repos
// that name a claude_version and have no binary on the host.
func (c *Config) ClaudeBinariesDir() string {
	return filepath.Join(c.StateDir, "claude-binaries")
}

// ProcessStatusFile holds how a running process stands with the config
// file (config.Status): `airut status` and `airut check` read it.
func (c *Config) ProcessStatusFile(process string) string {
	return filepath.Join(c.ProcessStatusDir(), "config-"+process+".json")
}

// ProcessStatusDir holds the ProcessStatusFiles.
func (c *Config) ProcessStatusDir() string {
	return filepath.Join(c.StateDir, "run")
}
