package config

import "testing"

// The state dir's layout is what a previous release left on disk: a path
// that moves orphans mirrors, conversations or the sandbox CA.
func TestStatePaths(t *testing.T) {
	c := &Config{StateDir: "/var/lib/airut", AttachmentsDir: "/srv/attachments"}
	none := &Config{StateDir: "/var/lib/airut"}
	tests := []struct {
		name, got, want string
	}{
		{"repo state", c.RepoStateDir("demo"), "/var/lib/airut/demo"},
		{"mirror", c.MirrorDir("demo"), "/var/lib/airut/demo/git-mirror"},
		{"attachments", c.RepoAttachmentsDir("demo"), "/srv/attachments/demo"},
		{"no attachments dir accepts nothing", none.RepoAttachmentsDir("demo"), ""},
		{"sandbox CA", c.CADir(), "/var/lib/airut/ca"},
		{"host sandbox files", c.SandboxDir("h1"), "/var/lib/airut/sandbox/h1"},
		{"claude downloads", c.ClaudeBinariesDir(), "/var/lib/airut/claude-binaries"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
