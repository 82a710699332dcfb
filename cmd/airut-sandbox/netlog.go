package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airut-go/airut/proxy"
)

// liveLog follows the network log while a run goes on and writes each
// request, readable, to w (--network-log-live).
type liveLog struct {
	path    string
	offset  int64
	w       io.Writer
	partial []byte
	stop    chan struct{}
	done    chan struct{}
}

// pollInterval is how often the log is read for new lines.
const pollInterval = 100 * time.Millisecond

// followLog starts following path from offset (the lines the run adds).
func followLog(path string, offset int64, w io.Writer) *liveLog {
	l := &liveLog{path: path, offset: offset, w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				l.read() // what the proxy wrote last
				return
			case <-t.C:
				l.read()
			}
		}
	}()
	return l
}

// Stop prints what is left and stops; it returns once nothing more is
// written.
func (l *liveLog) Stop() {
	close(l.stop)
	<-l.done
}

func (l *liveLog) read() {
	f, err := os.Open(l.path)
	if err != nil {
		return // not written yet
	}
	defer f.Close()
	if _, err := f.Seek(l.offset, io.SeekStart); err != nil {
		return
	}
	data, err := io.ReadAll(f)
	if err != nil && len(data) == 0 {
		return
	}
	l.offset += int64(len(data))
	data = append(l.partial, data...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if s, ok := formatLogLine(data[:i]); ok {
			fmt.Fprintln(l.w, s)
		}
		data = data[i+1:]
	}
	l.partial = append(l.partial[:0], data...)
}

// formatLogLine turns one JSON line of the network log into what
// --network-log-live prints:
//
//	[net] ALLOWED GET api.github.com/repos/x/y -> 200 (masked secret swapped in: GH_TOKEN)
//	[net] BLOCKED POST evil.example/upload -> 403 (host not in allowlist)
//	[net] BLOCKED raw TCP to 10.0.0.5:22 (only HTTP and HTTPS leave the sandbox)
//
// DNS lookups are left out (every name resolves to the proxy); lines that
// are not JSON are shown as they are.
func formatLogLine(line []byte) (string, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return "", false
	}
	var l proxy.LogLine
	if err := json.Unmarshal(line, &l); err != nil {
		return "[net] " + string(line), true
	}
	verdict := "BLOCKED"
	if l.Allowed {
		verdict = "ALLOWED"
	}
	var b strings.Builder
	switch l.Kind {
	case "dns":
		return "", false
	case "http":
		fmt.Fprintf(&b, "[net] %s %s %s%s", verdict, l.Method, l.Host, l.Path)
		if l.Status != 0 {
			fmt.Fprintf(&b, " -> %d", l.Status)
		}
	case "tcp", "udp":
		fmt.Fprintf(&b, "[net] %s raw %s to %s", verdict, strings.ToUpper(l.Kind), l.Host)
		if !l.Allowed {
			b.WriteString(" (only HTTP and HTTPS leave the sandbox)")
		}
		return b.String(), true
	default:
		fmt.Fprintf(&b, "[net] %s %s %s", verdict, l.Kind, l.Host)
	}
	var notes []string
	if !l.Allowed && l.Reason != "" {
		notes = append(notes, l.Reason)
	}
	if len(l.Swapped) > 0 {
		notes = append(notes, "masked secret swapped in: "+strings.Join(l.Swapped, ", "))
	}
	if len(l.Withheld) > 0 {
		notes = append(notes, "masked secret withheld over plain HTTP: "+strings.Join(l.Withheld, ", "))
	}
	if len(l.Stripped) > 0 {
		notes = append(notes, "credential headers removed: "+strings.Join(l.Stripped, ", "))
	}
	if l.Error != "" {
		notes = append(notes, "error: "+l.Error)
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, "; "))
	}
	return b.String(), true
}
