package sandbox

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/airut-go/airut/proxy"
)

// maxBlockedExamples bounds the refused requests a summary names.
const maxBlockedExamples = 3

// LogOffset is the end of the append-only log at path (0 when there is
// none yet): what is written after it belongs to the run about to start.
// The agent run takes it of the network log and of its event log.
func LogOffset(path string) int64 {
	if st, err := os.Stat(path); err == nil {
		return st.Size()
	}
	return 0
}

// NetworkCounts is what the proxy let through and refused in part of a
// network log.
type NetworkCounts struct {
	// Allowed counts the HTTP requests sent on.
	Allowed int
	// Blocked counts the HTTP requests and raw connections refused;
	// Examples names the first few distinct ones ("GET host/path").
	Blocked  int
	Examples []string
}

// CountSince counts the network log at path after offset. Refused DNS
// queries (TXT, AAAA) are left out: resolvers ask for AAAA as a matter of
// course. A log that cannot be read counts nothing.
func CountSince(path string, offset int64) NetworkCounts {
	var c NetworkCounts
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return c
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l proxy.LogLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l.Allowed {
			if l.Kind == "http" {
				c.Allowed++
			}
			continue
		}
		ex, ok := blockedExample(l)
		if !ok {
			continue
		}
		c.Blocked++
		if len(c.Examples) < maxBlockedExamples && !slices.Contains(c.Examples, ex) {
			c.Examples = append(c.Examples, ex)
		}
	}
	return c
}

// blockedExample names a refused request; ok is false for kinds that are
// not counted (DNS).
func blockedExample(l proxy.LogLine) (string, bool) {
	switch l.Kind {
	case "http":
		return l.Method + " " + l.Host + l.Path, true
	case "tcp", "udp":
		// Not an allowlist matter: only HTTP(S) can ever leave.
		return "raw " + strings.ToUpper(l.Kind) + " to " + l.Host + " (never allowed)", true
	}
	return "", false
}
