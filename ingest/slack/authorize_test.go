package slack_test

import (
	"context"
	"strings"
	"testing"

	slackingest "github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/internal/slacktest"
)

func TestAuthorizeRulesAndBaselineRejections(t *testing.T) {
	s := slacktest.NewServer(t)
	s.SetBot("UBOT", "BBOT", "T1")
	for _, u := range []slacktest.User{
		{ID: "UMEMBER", Name: "member"},
		{ID: "UGUEST", Name: "guest", IsRestricted: true},
		{ID: "UGUEST2", Name: "guest2", IsUltraRestricted: true},
		{ID: "UENG", Name: "eng", IsRestricted: true},
		{ID: "UVIP", Name: "vip", IsRestricted: true},
		{ID: "UROBOT", Name: "robot", IsBot: true},
		{ID: "UGONE", Name: "gone", Deleted: true},
		{ID: "UEXT", Name: "ext", TeamID: "T2"},
	} {
		s.AddUser(u)
	}
	s.AddUserGroup("S1", "engineering", "UENG")
	api := slackclient.New(config.Slack{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: s.APIURL()})

	tests := []struct {
		name   string
		rules  []map[string]any
		user   string
		reason string // "" = allowed
	}{
		{"member by workspace rule", []map[string]any{{"workspace_members": true}}, "UMEMBER", ""},
		{"guest is no full member", []map[string]any{{"workspace_members": true}}, "UGUEST", "no authorization rule matched"},
		{"single-channel guest", []map[string]any{{"workspace_members": true}}, "UGUEST2", "no authorization rule matched"},
		{"group member", []map[string]any{{"user_group": "engineering"}}, "UENG", ""},
		{"not in group", []map[string]any{{"user_group": "engineering"}}, "UMEMBER", "no authorization rule matched"},
		{"by user id", []map[string]any{{"user_id": "UVIP"}}, "UVIP", ""},
		{"first matching rule wins", []map[string]any{{"user_id": "UNOPE"}, {"user_group": "engineering"}}, "UENG", ""},
		{"bots rejected", []map[string]any{{"workspace_members": true}}, "UROBOT", "bots may not use this bot"},
		{"deactivated rejected", []map[string]any{{"user_id": "UGONE"}}, "UGONE", "user is deactivated"},
		{"external rejected", []map[string]any{{"user_id": "UEXT"}}, "UEXT", "user is external"},
		{"unknown user", []map[string]any{{"workspace_members": true}}, "UNONE", "failed to fetch user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := slackingest.ParseRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			a := &slackingest.Authorizer{API: api, TeamID: "T1", Rules: rules}
			_, reason := a.Authorize(context.Background(), tt.user)
			if tt.reason == "" && reason != "" || tt.reason != "" && !strings.Contains(reason, tt.reason) {
				t.Errorf("Authorize(%s) = %q, want %q", tt.user, reason, tt.reason)
			}
		})
	}
}

func TestAuthorizeCachesLookups(t *testing.T) {
	s := slacktest.NewServer(t)
	s.SetBot("UBOT", "BBOT", "T1")
	s.AddUser(slacktest.User{ID: "UENG", Name: "eng"})
	s.AddUserGroup("S1", "engineering", "UENG")
	api := slackclient.New(config.Slack{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: s.APIURL()})
	rules, _ := slackingest.ParseRules([]map[string]any{{"user_group": "engineering"}})
	a := &slackingest.Authorizer{API: api, TeamID: "T1", Rules: rules}
	for i := 0; i < 3; i++ {
		if _, reason := a.Authorize(context.Background(), "UENG"); reason != "" {
			t.Fatalf("Authorize = %q", reason)
		}
	}
	if n := len(s.Calls("users.info")); n != 1 {
		t.Errorf("users.info called %d times, want 1 (cached)", n)
	}
	if n := len(s.Calls("usergroups.users.list")); n != 1 {
		t.Errorf("usergroups.users.list called %d times, want 1 (cached)", n)
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, items := range [][]map[string]any{
		nil,
		{{"workspace_members": true, "user_id": "U1"}},
		{{"everyone": true}},
		{{"user_group": ""}},
	} {
		if _, err := slackingest.ParseRules(items); err == nil {
			t.Errorf("ParseRules(%v) accepted", items)
		}
	}
}
