package workflows_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/airut-go/airut/workflows"
)

// ReplyTo replaced a map[string]string in workflow history. These tests
// hold it to that wire format both ways: what earlier releases recorded
// decodes into the right parts, and what this release writes decodes as
// the old map, which workers of the previous release still running in a
// rolling upgrade read.

func TestReplyToDecodesTheOldMap(t *testing.T) {
	tests := []struct {
		name string
		old  string // as recorded in testdata/email-0.json and slack-0.json
		want workflows.ReplyTo
	}{
		{
			name: "email, first message",
			old:  `{"message_id":"first@example.com","references":"","subject":"Summarise my notes","to":"Alice \u003calice@example.com\u003e"}`,
			want: workflows.ReplyTo{EmailThread: &workflows.EmailThread{
				To: "Alice <alice@example.com>", Subject: "Summarise my notes", MessageID: "first@example.com", References: workflows.IDList{}}},
		},
		{
			name: "email, in a thread",
			old:  `{"message_id":"second@example.com","references":"first@example.com airut.8748e732.1795350645.adff701f@example.com","subject":"Re: Re: [ID:8748e732] Summarise my notes","to":"Alice \u003calice@example.com\u003e"}`,
			want: workflows.ReplyTo{EmailThread: &workflows.EmailThread{
				To: "Alice <alice@example.com>", Subject: "Re: Re: [ID:8748e732] Summarise my notes", MessageID: "second@example.com",
				References: workflows.IDList{"first@example.com", "airut.8748e732.1795350645.adff701f@example.com"}}},
		},
		{
			name: "slack, direct message",
			old:  `{"dm":"1","slack_channel":"D1","thread_ts":"1700000000.000100","title":"What did I ask?","ts":"1700000000.000200"}`,
			want: workflows.ReplyTo{SlackThread: &workflows.SlackThread{
				ChannelID: "D1", ThreadTS: "1700000000.000100", TS: "1700000000.000200", Title: "What did I ask?", DM: true}},
		},
		{
			name: "slack, channel thread",
			old:  `{"slack_channel":"C1","thread_ts":"1700000000.000100","title":"Fix it","ts":"1700000000.000100"}`,
			want: workflows.ReplyTo{SlackThread: &workflows.SlackThread{
				ChannelID: "C1", ThreadTS: "1700000000.000100", TS: "1700000000.000100", Title: "Fix it"}},
		},
		{
			// The first scheduled conversations (before Opens was a Flag)
			// recorded a JSON bool.
			name: "email that opens a thread, recorded as a bool",
			old:  `{"opens":true,"subject":"Nightly check","to":"alice@example.com"}`,
			want: workflows.ReplyTo{EmailThread: &workflows.EmailThread{To: "alice@example.com", Subject: "Nightly check", Opens: true}},
		},
		{name: "local, empty map", old: `{}`, want: workflows.ReplyTo{}},
		{name: "local, nil map", old: `null`, want: workflows.ReplyTo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got workflows.ReplyTo
			if err := json.Unmarshal([]byte(tt.old), &got); err != nil {
				t.Fatalf("decode %s: %v", tt.old, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %s as\n%s\nwant\n%s", tt.old, show(got), show(tt.want))
			}
		})
	}
}

func TestReplyToEncodesAsTheOldMap(t *testing.T) {
	tests := []struct {
		name string
		r    workflows.ReplyTo
		want map[string]string
	}{
		{
			name: "email, in a thread",
			r: workflows.ReplyTo{EmailThread: &workflows.EmailThread{
				To: "pat@example.org", Subject: "Fix it", MessageID: "m3@example.org", References: workflows.IDList{"m1@example.org", "m2@example.org"}}},
			want: map[string]string{"to": "pat@example.org", "subject": "Fix it", "message_id": "m3@example.org", "references": "m1@example.org m2@example.org"},
		},
		{
			// The previous release reads a missing key as "", as it wrote it.
			name: "email without Message-ID or References",
			r:    workflows.ReplyTo{EmailThread: &workflows.EmailThread{To: "pat@example.org", Subject: "Fix it"}},
			want: map[string]string{"to": "pat@example.org", "subject": "Fix it"},
		},
		{
			// A scheduled task's reply opens its thread.
			name: "email that opens a thread",
			r:    workflows.ReplyTo{EmailThread: &workflows.EmailThread{To: "pat@example.org", Subject: "Nightly check", Opens: true}},
			want: map[string]string{"to": "pat@example.org", "subject": "Nightly check", "opens": "1"},
		},
		{
			name: "slack, direct message",
			r: workflows.ReplyTo{SlackThread: &workflows.SlackThread{
				ChannelID: "D1", ThreadTS: "1700000000.000100", TS: "1700000000.000200", Title: "Hi", DM: true}},
			want: map[string]string{"slack_channel": "D1", "thread_ts": "1700000000.000100", "ts": "1700000000.000200", "title": "Hi", "dm": "1"},
		},
		{
			name: "slack, channel thread",
			r:    workflows.ReplyTo{SlackThread: &workflows.SlackThread{ChannelID: "C1", ThreadTS: "1700000000.000100", TS: "1700000000.000100"}},
			want: map[string]string{"slack_channel": "C1", "thread_ts": "1700000000.000100", "ts": "1700000000.000100"},
		},
		{name: "local", r: workflows.ReplyTo{}, want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			var old map[string]string
			if err := json.Unmarshal(b, &old); err != nil {
				t.Fatalf("the previous release cannot decode %s: %v", b, err)
			}
			if !maps.Equal(old, tt.want) {
				t.Errorf("the previous release reads %s as %v, want %v", b, old, tt.want)
			}
			var back workflows.ReplyTo
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.r) {
				t.Errorf("round trip of %s gives %s (%v), want %s", b, show(back), err, show(tt.r))
			}
		})
	}
}

// Every reply address in the recorded histories decodes into a ReplyTo
// that the previous release reads back as the map that was recorded.
func TestReplyToRecordedHistoriesRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{} // channel -> addresses checked
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var history any
		if err := json.Unmarshal(raw, &history); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, payload := range payloads(history) {
			var p struct {
				Channel string
				ReplyTo json.RawMessage
			}
			if json.Unmarshal(payload, &p) != nil || len(p.ReplyTo) == 0 {
				continue
			}
			var recorded map[string]string
			if err := json.Unmarshal(p.ReplyTo, &recorded); err != nil {
				t.Fatalf("%s: recorded ReplyTo %s is not a string map: %v", f, p.ReplyTo, err)
			}
			var r workflows.ReplyTo
			if err := json.Unmarshal(p.ReplyTo, &r); err != nil {
				t.Fatalf("%s: decode %s: %v", f, p.ReplyTo, err)
			}
			switch p.Channel {
			case "email":
				if r.EmailThread == nil || r.SlackThread != nil {
					t.Errorf("%s: email address %s decoded as %s", f, p.ReplyTo, show(r))
				}
			case "slack":
				if r.SlackThread == nil || r.EmailThread != nil {
					t.Errorf("%s: slack address %s decoded as %s", f, p.ReplyTo, show(r))
				}
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]string
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s: %s does not decode as the old map: %v", f, b, err)
			}
			maps.DeleteFunc(recorded, func(_, v string) bool { return v == "" })
			if !maps.Equal(back, recorded) {
				t.Errorf("%s: recorded %s, written back as %s", f, p.ReplyTo, b)
			}
			seen[p.Channel]++
		}
	}
	if seen["email"] == 0 || seen["slack"] == 0 {
		t.Fatalf("checked %v reply addresses; want some of email and of slack", seen)
	}
}

// payloads are the decoded data of every payload in a JSON history.
func payloads(v any) [][]byte {
	var out [][]byte
	switch v := v.(type) {
	case map[string]any:
		if s, ok := v["data"].(string); ok {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				out = append(out, b)
			}
		}
		for _, e := range v {
			out = append(out, payloads(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, payloads(e)...)
		}
	}
	return out
}

func show(r workflows.ReplyTo) string {
	b, _ := json.Marshal(struct {
		Email *workflows.EmailThread
		Slack *workflows.SlackThread
	}{r.EmailThread, r.SlackThread})
	return string(b)
}
