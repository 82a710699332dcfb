package slack_test

import (
	"context"
	"strings"
	"testing"

	slackingest "github.com/airut-go/airut/ingest/slack"
	"github.com/airut-go/airut/internal/config"
	"github.com/airut-go/airut/internal/slackclient"
	"github.com/airut-go/airut/internal/testing/slacktest"
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
		{ID: "UNOTEAM", Name: "noteam", NoTeam: true},
		{ID: "UFLAKY", Name: "flaky"},
	} {
		s.AddUser(u)
	}
	s.AddUserGroup("S1", "engineering", "UENG")
	api := slackclient.New(config.Slack{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: s.APIURL()})

	workspace := []map[string]any{{"workspace_members": true}}
	tests := []struct {
		name     string
		rules    []map[string]any
		team     string // the bot's workspace, as auth.test told
		user     string
		failInfo string // users.info answers this Slack error
		reason   string // "" = allowed
	}{
		{"member by workspace rule", workspace, "T1", "UMEMBER", "", ""},
		{"guest is no full member", workspace, "T1", "UGUEST", "", "no authorization rule matched"},
		{"single-channel guest", workspace, "T1", "UGUEST2", "", "no authorization rule matched"},
		{"group member", []map[string]any{{"user_group": "engineering"}}, "T1", "UENG", "", ""},
		{"not in group", []map[string]any{{"user_group": "engineering"}}, "T1", "UMEMBER", "", "no authorization rule matched"},
		{"by user id", []map[string]any{{"user_id": "UVIP"}}, "T1", "UVIP", "", ""},
		{"first matching rule wins", []map[string]any{{"user_id": "UNOPE"}, {"user_group": "engineering"}}, "T1", "UENG", "", ""},
		{"bots rejected", workspace, "T1", "UROBOT", "", "bots may not use this bot"},
		{"deactivated rejected", []map[string]any{{"user_id": "UGONE"}}, "T1", "UGONE", "", "user is deactivated"},
		{"external rejected", []map[string]any{{"user_id": "UEXT"}}, "T1", "UEXT", "", "user is external"},
		{"unknown user", workspace, "T1", "UNONE", "", "failed to fetch user info"},
		// Fail closed: whoever's team is not known is no member.
		{"user without team is external", workspace, "T1", "UNOTEAM", "", "external to this workspace"},
		{"user without team, by user id", []map[string]any{{"user_id": "UNOTEAM"}}, "T1", "UNOTEAM", "", "external to this workspace"},
		{"workspace team unknown", workspace, "", "UMEMBER", "", "external to this workspace"},
		{"users.info fails", workspace, "T1", "UFLAKY", "fatal_error", "failed to fetch user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := slackingest.ParseRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if tt.failInfo != "" {
				s.FailNext("users.info", tt.failInfo, 1)
			}
			a := &slackingest.Authorizer{API: api, TeamID: tt.team, Rules: rules}
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
