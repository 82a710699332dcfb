package config

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"time"
)

// liveKeys are the settings outside repos: that a running process reads
// again for every task, so a reload applies them to the next one. Every
// other setting outside repos: (Temporal address, ports, state dir,
// podman socket, the sandbox's network, slots) is read once when the
// process starts: a change to it waits for a restart and is reported as
// such. Everything under repos: is live: per-task settings through
// Config(), a repo's channels by restarting its listeners, its schedules
// by a sync.
var liveKeys = []string{
	"config_version",
	"vars",
	"execution.heartbeat_timeout",
	"execution.host_timeout",
	"execution.image_max_age_hours",
	"execution.conversation_max_age_days",
	"container_network",
	"claude_download_url",
}

// Changes is what a new version of the file changes against the config
// in force.
type Changes struct {
	// ReposAdded, ReposRemoved and ReposChanged name repos by ID.
	ReposAdded, ReposRemoved, ReposChanged []string
	// Settings are the changed live settings outside repos: (dotted keys).
	Settings []string
	// NeedsRestart are the changed settings that apply only when the
	// process starts again (dotted keys). Their values in force stay.
	NeedsRestart []string
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.ReposAdded)+len(c.ReposRemoved)+len(c.ReposChanged)+len(c.Settings)+len(c.NeedsRestart) == 0
}

// merge is next as a running process puts it in force, and what it
// changes against cur: next's repos and live settings, with every setting
// read only at start kept at cur's value (and listed in NeedsRestart).
func merge(cur, next *Config) (*Config, Changes) {
	var ch Changes
	for _, id := range next.RepoIDs() {
		old, ok := cur.Repos[id]
		switch {
		case !ok:
			ch.ReposAdded = append(ch.ReposAdded, id)
		case !reflect.DeepEqual(old, next.Repos[id]):
			ch.ReposChanged = append(ch.ReposChanged, id)
		}
	}
	for _, id := range cur.RepoIDs() {
		if _, ok := next.Repos[id]; !ok {
			ch.ReposRemoved = append(ch.ReposRemoved, id)
		}
	}
	merged := *next
	walkSettings("", reflect.ValueOf(cur).Elem(), reflect.ValueOf(&merged).Elem(), func(key string, a, b reflect.Value) {
		if slices.Contains(liveKeys, key) {
			ch.Settings = append(ch.Settings, key)
			return
		}
		ch.NeedsRestart = append(ch.NeedsRestart, key)
		b.Set(a)
	})
	return &merged, ch
}

// walkSettings calls differ for every setting (a leaf: not a struct) whose
// value differs between a and b, named by its dotted key. repos: is left
// out (merge takes it repo by repo), and so is what is not read from
// the file (Path, SHA256, UnsetEnv).
func walkSettings(prefix string, a, b reflect.Value, differ func(key string, a, b reflect.Value)) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" || (prefix == "" && tag == "repos") {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		av, bv := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct {
			walkSettings(key, av, bv, differ)
			continue
		}
		if !reflect.DeepEqual(av.Interface(), bv.Interface()) {
			differ(key, av, bv)
		}
	}
}

// Status is where a running process stands with its config file, as
// `airut status` and `airut check` show it.
type Status struct {
	File string `json:"file"`
	// Generation counts the versions of the file this process has put in
	// force: 1 at start, one more for each reload that changed something.
	Generation int `json:"generation"`
	// SHA256 is the hash of the version in force.
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at"`
	// LastError is why the last reload was refused ("" when the last
	// reload, or the start, loaded): the version in force stayed.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// NeedsRestart are the settings the file in force changes that this
	// process applies only at its next start.
	NeedsRestart []string `json:"needs_restart,omitempty"`
}

// Live is the config in force in a running process: Config is the seam
// every part reads the config through, per use, so a reload reaches the
// next task. It is safe for concurrent use.
type Live struct {
	mu     sync.Mutex
	cfg    *Config
	status Status
}

// NewLive puts cfg in force, as generation 1.
func NewLive(cfg *Config, now time.Time) *Live {
	return &Live{cfg: cfg, status: Status{File: cfg.Path, Generation: 1, SHA256: cfg.SHA256, LoadedAt: now}}
}

// Config is the config in force.
func (l *Live) Config() *Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Status is a copy of the reload record.
func (l *Live) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.status
	s.NeedsRestart = slices.Clone(s.NeedsRestart)
	return s
}

// Apply puts a newly loaded version of the file in force and says what it
// changed. Settings read only at start keep their values in force; they
// are listed in NeedsRestart (of the Changes and of Status) until the file
// sets them back or the process restarts. A version whose bytes are the
// one in force changes nothing (an editor saving without a change).
func (l *Live) Apply(next *Config, now time.Time) Changes {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status.LastError, l.status.LastErrorAt = "", time.Time{}
	if next.SHA256 == l.cfg.SHA256 {
		return Changes{}
	}
	merged, ch := merge(l.cfg, next)
	l.cfg = merged
	l.status.Generation++
	l.status.SHA256 = next.SHA256
	l.status.LoadedAt = now
	l.status.NeedsRestart = ch.NeedsRestart
	return ch
}

// Refuse records a version of the file that did not load: the config in
// force stays.
func (l *Live) Refuse(err error, now time.Time) {
	if err == nil {
		err = errors.New("refused")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status.LastError, l.status.LastErrorAt = err.Error(), now
}
