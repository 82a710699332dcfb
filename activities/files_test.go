package activities

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airut-go/airut/workflows"
)

// The dashboard reads a conversation's logs on its host: whole lines from
// an offset, a line written while it waits, and only the logs a kind
// names.
func TestReadConversationFile(t *testing.T) {
	f := newFixture(t)
	if _, err := f.prepare(workflows.PrepareInput{RepoID: "demo", ConversationID: "0000000a", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	l := f.layout("0000000a")
	for _, kind := range []string{workflows.FileEvents, workflows.FileNetwork, workflows.FileReplies} {
		if _, ok := l.LogFile(kind); !ok {
			t.Errorf("workflows.File %q is not a log conversation.Layout knows", kind)
		}
	}
	os.WriteFile(l.Events(), []byte(`{"type":"system"}`+"\n"+`{"type":"assi`), 0o644)
	read := func(in workflows.ReadFileInput) (workflows.ReadFileResult, error) {
		var res workflows.ReadFileResult
		val, err := f.env.ExecuteActivity(f.a.ReadConversationFile, in)
		if err == nil {
			err = val.Get(&res)
		}
		return res, err
	}
	res, err := read(workflows.ReadFileInput{RepoID: "demo", ConversationID: "0000000a", Kind: workflows.FileEvents})
	if err != nil || string(res.Data) != `{"type":"system"}`+"\n" || res.Next != 18 {
		t.Fatalf("read = %+v (%q), %v; want the whole first line", res, res.Data, err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		fh, _ := os.OpenFile(l.Events(), os.O_APPEND|os.O_WRONLY, 0)
		fh.WriteString(`stant"}` + "\n")
		fh.Close()
	}()
	res, err = read(workflows.ReadFileInput{RepoID: "demo", ConversationID: "0000000a", Kind: workflows.FileEvents, Offset: res.Next, WaitMS: 5000})
	if err != nil || !strings.Contains(string(res.Data), "assistant") {
		t.Errorf("waiting read = %q, %v; want the line finished meanwhile", res.Data, err)
	}
	if res, err := read(workflows.ReadFileInput{RepoID: "demo", ConversationID: "0000000a", Kind: workflows.FileNetwork}); err != nil || !res.Gone {
		t.Errorf("no network log yet: %+v, %v; want Gone", res, err)
	}
	_, err = read(workflows.ReadFileInput{RepoID: "demo", ConversationID: "0000000a", Kind: "../../../etc/passwd"})
	if !workflows.IsKind(err, workflows.ErrConfig) {
		t.Errorf("a path as kind: %v, want %s", err, workflows.ErrConfig)
	}
}
