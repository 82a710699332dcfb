// Command fakeclaude stands in for Claude Code where only the container
// path is measured: it reads the prompt, prints a stream-json init event
// stamped with its start time and a result event stamped with its exit
// time, and exits. The benchmarks use the stamps to split a task's wall
// time into Airut's overhead and the agent's own run.
//
// A prompt line "SLEEP: <duration>" (a Go duration, e.g. "SLEEP: 2s")
// makes it wait that long between the two events: a task that stands for
// an agent waiting on its model for a fixed time, so a benchmark measures
// how many such tasks the engine keeps running, not the host's CPU.
// Without the line it exits at once.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	started := time.Now().UnixNano()
	prompt, _ := io.ReadAll(os.Stdin)
	fmt.Printf(`{"type":"system","subtype":"init","session_id":"fake-session","started_ns":%d}`+"\n", started)
	time.Sleep(sleepFor(prompt))
	fmt.Printf(`{"type":"assistant","message":{"content":[{"type":"text","text":"ok"}]}}` + "\n")
	fmt.Printf(`{"type":"result","subtype":"success","session_id":"fake-session","result":"ok","is_error":false,"total_cost_usd":0,"duration_ms":0,"num_turns":1,"exited_ns":%d}`+"\n", time.Now().UnixNano())
}

// sleepFor is the duration of the prompt's first valid SLEEP line, or 0.
func sleepFor(prompt []byte) time.Duration {
	sc := bufio.NewScanner(bytes.NewReader(prompt))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SLEEP:"); ok {
			if d, err := time.ParseDuration(strings.TrimSpace(v)); err == nil && d > 0 {
				return d
			}
		}
	}
	return 0
}
