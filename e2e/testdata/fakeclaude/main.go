// Command fakeclaude stands in for Claude Code where only the container
// path is measured: it reads the prompt, prints a stream-json init event
// stamped with its start time and a result event stamped with its exit
// time, and exits. The benchmarks use the stamps to split a task's wall
// time into Airut's overhead and the agent's own run.
package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	started := time.Now().UnixNano()
	io.Copy(io.Discard, os.Stdin)
	fmt.Printf(`{"type":"system","subtype":"init","session_id":"fake-session","started_ns":%d}`+"\n", started)
	fmt.Printf(`{"type":"assistant","message":{"content":[{"type":"text","text":"ok"}]}}` + "\n")
	fmt.Printf(`{"type":"result","subtype":"success","session_id":"fake-session","result":"ok","is_error":false,"total_cost_usd":0,"duration_ms":0,"num_turns":1,"exited_ns":%d}`+"\n", time.Now().UnixNano())
}
