package slacktest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/testing/slacktest"
)

var ctx = context.Background()

func TestAuthTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		require string // RequireBotToken
		token   string
		wantErr string
	}{
		{"any bot token", "", "xoxb-whatever", ""},
		{"required token", botToken, botToken, ""},
		{"wrong token", botToken, "xoxb-wrong", "invalid_auth"},
		{"app token", "", appToken, "not_allowed_token_type"},
		{"no token", "", "", "not_authed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			fake.SetBot("U9", "B9", "T9")
			if tt.require != "" {
				fake.RequireBotToken(tt.require)
			}
			res, err := newAPI(fake, tt.token).AuthTestContext(ctx)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "U9", res.UserID)
			assert.Equal(t, "B9", res.BotID)
			assert.Equal(t, "T9", res.TeamID)
			calls := fake.Calls("auth.test")
			require.Len(t, calls, 1)
			assert.Equal(t, tt.token, calls[0].Token)
		})
	}
}

func TestUsersAndGroups(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	fake.AddUser(slacktest.User{ID: "U1", Name: "alice", RealName: "Alice Liddell", DisplayName: "al"})
	fake.AddUser(slacktest.User{ID: "U2", Name: "guest", IsRestricted: true, IsUltraRestricted: true, Deleted: true})
	fake.AddUser(slacktest.User{ID: "U3", Name: "otherbot", IsBot: true, BotID: "B3"})
	fake.AddUser(slacktest.User{ID: "U4", Name: "teamless", TeamID: "T4", NoTeam: true})
	fake.AddUserGroup("S1", "devs", "U1", "U2")
	api := newAPI(fake, botToken)

	tests := []struct {
		id      string
		wantErr string
		check   func(t *testing.T, u *slack.User)
	}{
		{id: "U1", check: func(t *testing.T, u *slack.User) {
			assert.Equal(t, "alice", u.Name)
			assert.Equal(t, "Alice Liddell", u.RealName)
			assert.Equal(t, "Alice Liddell", u.Profile.RealName)
			assert.Equal(t, "al", u.Profile.DisplayName)
			assert.Equal(t, slacktest.DefaultTeamID, u.TeamID)
			assert.False(t, u.IsBot)
			assert.Equal(t, "en-US", u.Locale)
		}},
		{id: "U2", check: func(t *testing.T, u *slack.User) {
			assert.True(t, u.IsRestricted)
			assert.True(t, u.IsUltraRestricted)
			assert.True(t, u.Deleted)
		}},
		{id: "U3", check: func(t *testing.T, u *slack.User) {
			assert.True(t, u.IsBot)
			assert.Equal(t, "B3", u.Profile.BotID)
		}},
		{id: "U4", check: func(t *testing.T, u *slack.User) {
			assert.Empty(t, u.TeamID, "NoTeam answers no team_id")
			assert.Empty(t, u.Profile.Team)
		}},
		{id: slacktest.DefaultBotUserID, check: func(t *testing.T, u *slack.User) {
			assert.True(t, u.IsBot)
			assert.Equal(t, slacktest.DefaultBotID, u.Profile.BotID)
		}},
		{id: "U404", wantErr: "user_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			u, err := api.GetUserInfoContext(ctx, tt.id)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.id, u.ID)
			tt.check(t, u)
		})
	}

	groups, err := api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	require.NoError(t, err)
	require.Len(t, groups, 1)
	assert.Equal(t, "S1", groups[0].ID)
	assert.Equal(t, "devs", groups[0].Handle)
	assert.Equal(t, []string{"U1", "U2"}, groups[0].Users)
	groups, err = api.GetUserGroupsContext(ctx)
	require.NoError(t, err)
	assert.Empty(t, groups[0].Users, "users only with include_users")

	members, err := api.GetUserGroupMembersContext(ctx, "S1")
	require.NoError(t, err)
	assert.Equal(t, []string{"U1", "U2"}, members)
	_, err = api.GetUserGroupMembersContext(ctx, "S404")
	require.EqualError(t, err, "no_such_subteam")
}

func TestConversationsInfo(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	fake.AddChannel(slacktest.Channel{ID: "D1", IsIM: true, User: "U1"})
	fake.AddChannel(slacktest.Channel{ID: "C1", Name: "general"})
	fake.AddChannel(slacktest.Channel{ID: "G1", Name: "secret", IsPrivate: true})
	api := newAPI(fake, botToken)
	tests := []struct {
		id                  string
		wantErr             string
		im, private, isChan bool
		name, user          string
	}{
		{id: "D1", im: true, private: true, user: "U1"},
		{id: "C1", isChan: true, name: "general"},
		{id: "G1", isChan: true, private: true, name: "secret"},
		{id: "C404", wantErr: "channel_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			c, err := api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: tt.id})
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.id, c.ID)
			assert.Equal(t, tt.im, c.IsIM)
			assert.Equal(t, tt.private, c.IsPrivate)
			assert.Equal(t, tt.isChan, c.IsChannel)
			assert.Equal(t, tt.name, c.Name)
			assert.Equal(t, tt.user, c.User)
		})
	}
}

func TestPostAndUpdate(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	api := newAPI(fake, botToken)
	parent := fake.AddThreadMessage("C1", "", map[string]any{"user": "U1", "text": "question"})

	block := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*working*", false, false), nil, nil)
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("working…", false),
		slack.MsgOptionBlocks(block), slack.MsgOptionTS(parent))
	require.NoError(t, err)
	assert.Equal(t, "C1", ch)
	assert.Regexp(t, `^\d{10}\.\d{6}$`, ts)
	assert.Positive(t, strings.Compare(ts, parent))

	ch, ts2, text, err := api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("done", false))
	require.NoError(t, err)
	assert.Equal(t, "C1", ch)
	assert.Equal(t, ts, ts2, "an update keeps the ts")
	assert.Equal(t, "done", text)

	posts := fake.Posts()
	require.Len(t, posts, 2)
	assert.Equal(t, "chat.postMessage", posts[0].Method)
	assert.Equal(t, parent, posts[0].ThreadTS)
	assert.Equal(t, ts, posts[0].TS)
	assert.Equal(t, "working…", posts[0].Text)
	assert.False(t, posts[0].Update)
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal(posts[0].Blocks, &blocks))
	assert.Equal(t, "section", blocks[0]["type"])
	assert.Equal(t, slacktest.Post{Method: "chat.update", Channel: "C1", ThreadTS: parent, TS: ts, Text: "done", Update: true}, posts[1])

	msgs := fake.Messages("C1")
	require.Len(t, msgs, 2)
	assert.Equal(t, "done", msgs[1]["text"])
	assert.Equal(t, slacktest.DefaultBotID, msgs[1]["bot_id"])
	assert.NotNil(t, msgs[1]["edited"])

	tests := []struct {
		name    string
		do      func() error
		wantErr string
	}{
		{"update unknown ts", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C1", "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update a user's message", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C1", parent, slack.MsgOptionText("x", false))
			return err
		}, "cant_update_message"},
		{"post nothing", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1")
			return err
		}, "no_text"},
		{"post too many blocks", func() error {
			var bs []slack.Block
			for range 51 {
				bs = append(bs, slack.NewDividerBlock())
			}
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionBlocks(bs...))
			return err
		}, "invalid_blocks"},
		{"post a section over 3000 characters", func() error {
			long := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("x", 3001), false, false), nil, nil)
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionBlocks(long))
			return err
		}, "invalid_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, tt.do(), tt.wantErr)
		})
	}
	assert.Len(t, fake.Posts(), 2, "failed calls are not posts")
}

// Posts record the unfurl arguments as sent, from a form or a JSON body,
// on posts and edits alike; "" means not sent.
func TestPostsRecordUnfurlArguments(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	api := newAPI(fake, botToken)
	rawPost := func(body string) error {
		req, err := http.NewRequest(http.MethodPost, fake.APIURL()+"chat.postMessage", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+botToken)
		resp, err := fake.Client().Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	tests := []struct {
		name                 string
		do                   func() error
		wantLinks, wantMedia string
	}{
		{"default", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("a", false))
			return err
		}, "", ""},
		{"both off", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("a", false),
				slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
			return err
		}, "false", "false"},
		{"links on", func() error {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("a", false), slack.MsgOptionEnableLinkUnfurl())
			return err
		}, "true", ""},
		{"JSON booleans", func() error {
			return rawPost(`{"channel":"C1","text":"a","unfurl_links":false,"unfurl_media":true}`)
		}, "false", "true"},
		{"edit with both off", func() error {
			_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("a", false))
			if err != nil {
				return err
			}
			_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("b", false),
				slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
			return err
		}, "false", "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.do())
			posts := fake.Posts()
			last := posts[len(posts)-1]
			assert.Equal(t, tt.wantLinks, last.UnfurlLinks, "unfurl_links of %s", last.Method)
			assert.Equal(t, tt.wantMedia, last.UnfurlMedia, "unfurl_media of %s", last.Method)
		})
	}
}

func TestWaitPosts(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	api := newAPI(fake, botToken)
	go func() {
		for i := range 3 {
			time.Sleep(20 * time.Millisecond)
			_, _, _ = api.PostMessageContext(ctx, "C1", slack.MsgOptionText(fmt.Sprint(i), false))
		}
	}()
	posts := fake.WaitPosts(t, func(p []slacktest.Post) bool { return len(p) == 3 }, wait)
	assert.Equal(t, "2", posts[2].Text)
	calls := fake.WaitCalls(t, "chat.postMessage", 3, wait)
	assert.Equal(t, "C1", calls[0].Arg("channel"))
}

func TestReactions(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	api := newAPI(fake, botToken)
	fake.PushEvent(map[string]any{"type": "app_mention", "user": "U1", "text": "hi", "ts": "1700000000.000001", "channel": "C1"})
	ref := slack.NewRefToMessage("C1", "1700000000.000001")
	steps := []struct {
		name    string
		add     bool
		emoji   string
		ref     slack.ItemRef
		wantErr string
	}{
		{"add", true, "eyes", ref, ""},
		{"add again", true, "eyes", ref, "already_reacted"},
		{"add another", true, "white_check_mark", ref, ""},
		{"remove", false, "eyes", ref, ""},
		{"remove again", false, "eyes", ref, "no_reaction"},
		{"colons", true, ":eyes:", ref, "invalid_name"},
		{"unknown message", true, "eyes", slack.NewRefToMessage("C1", "1.000002"), "message_not_found"},
	}
	for _, st := range steps {
		var err error
		if st.add {
			err = api.AddReactionContext(ctx, st.emoji, st.ref)
		} else {
			err = api.RemoveReactionContext(ctx, st.emoji, st.ref)
		}
		if st.wantErr == "" {
			require.NoError(t, err, st.name)
		} else {
			require.EqualError(t, err, st.wantErr, st.name)
		}
	}
	assert.Equal(t, []slacktest.Reaction{
		{Channel: "C1", TS: "1700000000.000001", Name: "eyes"},
		{Channel: "C1", TS: "1700000000.000001", Name: "white_check_mark"},
		{Channel: "C1", TS: "1700000000.000001", Name: "eyes", Removed: true},
	}, fake.Reactions())

	msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: "1700000000.000001"})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Len(t, msgs[0].Reactions, 1)
	assert.Equal(t, "white_check_mark", msgs[0].Reactions[0].Name)
	assert.Equal(t, []string{slacktest.DefaultBotUserID}, msgs[0].Reactions[0].Users)
}

func TestConversationsRepliesPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		limit         int
		parentOnPages bool
		wantPages     int
	}{
		{"one page", 0, false, 1},
		{"pages of 2", 2, false, 4},
		{"pages of 3", 3, false, 3},
		{"parent on every page", 2, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			fake.SetRepliesParentOnEveryPage(tt.parentOnPages)
			api := newAPI(fake, botToken)
			parent := "1700000000.000100"
			fake.AddThreadMessage("C1", "", map[string]any{"user": "U1", "text": "p", "ts": parent})
			want := []string{parent}
			for i := range 5 {
				want = append(want, fake.AddThreadMessage("C1", parent, map[string]any{"user": "U2", "text": fmt.Sprint(i)}))
			}
			_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("bot", false), slack.MsgOptionTS(parent))
			require.NoError(t, err)
			want = append(want, ts)
			fake.AddThreadMessage("C1", "", map[string]any{"user": "U1", "text": "other thread"})

			var got []string
			cursor, pages := "", 0
			for {
				msgs, hasMore, next, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
					ChannelID: "C1", Timestamp: parent, Cursor: cursor, Limit: tt.limit,
				})
				require.NoError(t, err)
				pages++
				for i, m := range msgs {
					if tt.parentOnPages && pages > 1 && i == 0 {
						assert.Equal(t, parent, m.Timestamp, "parent repeated")
						continue
					}
					got = append(got, m.Timestamp)
					if m.Timestamp == parent {
						assert.Equal(t, 6, m.ReplyCount)
						assert.Equal(t, ts, m.LatestReply)
						assert.ElementsMatch(t, []string{"U2", slacktest.DefaultBotUserID}, m.ReplyUsers)
					} else {
						assert.Equal(t, parent, m.ThreadTimestamp)
					}
				}
				assert.Equal(t, next != "", hasMore)
				if !hasMore {
					break
				}
				cursor = next
			}
			assert.Equal(t, want, got)
			assert.Equal(t, tt.wantPages, pages)
		})
	}

	fake := slacktest.NewServer(t)
	api := newAPI(fake, botToken)
	fake.AddThreadMessage("C1", "", map[string]any{"user": "U1", "text": "p", "ts": "1.000001"})
	for _, c := range []struct{ ts, cursor, wantErr string }{
		{"1.000001", "garbage", "invalid_cursor"},
		{"9.000009", "", "thread_not_found"},
	} {
		_, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: c.ts, Cursor: c.cursor})
		require.EqualError(t, err, c.wantErr)
	}
}

func TestAssistantThreads(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	api := newAPI(fake, botToken)
	require.NoError(t, api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{
		ChannelID: "D1", ThreadTS: "1.000001", Status: "is thinking…", LoadingMessages: []string{"a", "b"},
	}))
	require.NoError(t, api.SetAssistantThreadsTitleContext(ctx, slack.AssistantThreadsSetTitleParameters{
		ChannelID: "D1", ThreadTS: "1.000001", Title: "Fix the build",
	}))
	require.NoError(t, api.SetAssistantThreadsSuggestedPromptsContext(ctx, slack.AssistantThreadsSetSuggestedPromptsParameters{
		ChannelID: "D1", ThreadTS: "1.000001", Prompts: []slack.AssistantThreadsPrompt{{Title: "Go", Message: "go on"}},
	}))
	err := api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{ChannelID: "D1"})
	require.EqualError(t, err, "invalid_arguments")

	status := fake.Calls("assistant.threads.setStatus")
	require.Len(t, status, 2)
	assert.Equal(t, "D1", status[0].Arg("channel_id"))
	assert.Equal(t, "1.000001", status[0].Arg("thread_ts"))
	assert.Equal(t, "is thinking…", status[0].Arg("status"))
	assert.Equal(t, "a,b", status[0].Arg("loading_messages"))
	assert.Empty(t, status[0].Error)
	assert.Equal(t, "invalid_arguments", status[1].Error)
	assert.Equal(t, "Fix the build", fake.Calls("assistant.threads.setTitle")[0].Arg("title"))
	assert.JSONEq(t, `[{"title":"Go","message":"go on"}]`, fake.Calls("assistant.threads.setSuggestedPrompts")[0].Arg("prompts"))
}

func TestUploadFile(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	fake.RequireBotToken(botToken)
	api := newAPI(fake, botToken)
	parent := fake.AddThreadMessage("C1", "", map[string]any{"user": "U1", "text": "send me the log"})
	data := []byte("line 1\nline 2\n")

	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Reader: bytes.NewReader(data), FileSize: len(data), Filename: "build.log", Title: "Build log",
		Channel: "C1", ThreadTimestamp: parent, InitialComment: "here",
	})
	require.NoError(t, err)
	assert.Equal(t, "Build log", sum.Title)

	uploads := fake.Uploads()
	require.Len(t, uploads, 1)
	u := uploads[0]
	assert.Equal(t, sum.ID, u.FileID)
	assert.Equal(t, "build.log", u.Name)
	assert.Equal(t, "Build log", u.Title)
	assert.Equal(t, data, u.Data)
	assert.Equal(t, "C1", u.Channel)
	assert.Equal(t, parent, u.ThreadTS)
	assert.Equal(t, "here", u.InitialComment)

	// The file share is a bot message in the thread.
	msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C1", Timestamp: parent})
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	share := msgs[1]
	assert.Equal(t, u.TS, share.Timestamp)
	assert.Equal(t, "file_share", share.SubType)
	assert.Equal(t, "here", share.Text)
	assert.Equal(t, slacktest.DefaultBotUserID, share.User)
	require.Len(t, share.Files, 1)
	assert.Equal(t, sum.ID, share.Files[0].ID)
	assert.Equal(t, len(data), share.Files[0].Size)
	assert.Equal(t, "text/plain", share.Files[0].Mimetype)

	// The uploaded file can be downloaded and looked up.
	var buf bytes.Buffer
	require.NoError(t, api.GetFileContext(ctx, share.Files[0].URLPrivateDownload, &buf))
	assert.Equal(t, data, buf.Bytes())
	f, _, _, err := api.GetFileInfoContext(ctx, sum.ID, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"C1"}, f.Channels)

	// Completing a file that was never uploaded fails.
	_, err = api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: "F404"}}})
	require.EqualError(t, err, "file_not_found")
}

func TestDownloadPrivateFile(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	fake.RequireBotToken(botToken)
	data := []byte{0x89, 'P', 'N', 'G', 0, 1, 2}
	file := fake.AddFileObject("shot 1.png", data)
	download := fake.AddFile("notes.txt", []byte("notes"))
	assert.Equal(t, "image/png", file["mimetype"])
	assert.Equal(t, 7, file["size"])

	tests := []struct {
		name    string
		token   string
		url     string
		want    []byte
		wantErr string
	}{
		{"bot token, url_private_download", botToken, file["url_private_download"].(string), data, ""},
		{"bot token, url_private", botToken, file["url_private"].(string), data, ""},
		{"AddFile", botToken, download, []byte("notes"), ""},
		{"wrong token", "xoxb-wrong", download, nil, "redirected to the sign-in page"},
		{"app token", appToken, download, nil, "redirected to the sign-in page"},
		{"unknown file", botToken, fake.URL() + "/files-pri/" + slacktest.DefaultTeamID + "-F404/x.txt", nil, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := newAPI(fake, tt.token).GetFileContext(ctx, tt.url, &buf)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, buf.Bytes())
		})
	}

	// A browser-like request without a token lands on the sign-in page.
	resp, err := fake.Client().Get(download)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "Sign in")
	u, _ := url.Parse(download)
	assert.Equal(t, u.Path, resp.Request.URL.Query().Get("redir"))
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*slacktest.Server)
		check func(t *testing.T, err error)
	}{
		{"ratelimited", func(s *slacktest.Server) { s.FailNext("chat.postMessage", "ratelimited", 2); s.SetRetryAfter(3) },
			func(t *testing.T, err error) {
				var rl *slack.RateLimitedError
				require.ErrorAs(t, err, &rl)
				assert.Equal(t, 3*time.Second, rl.RetryAfter)
			}},
		{"internal_error", func(s *slacktest.Server) { s.FailNext("chat.postMessage", "internal_error", 2) },
			func(t *testing.T, err error) {
				var se slack.SlackErrorResponse
				require.ErrorAs(t, err, &se)
				assert.Equal(t, "internal_error", se.Err)
			}},
		{"HTTP 503", func(s *slacktest.Server) { s.FailNextStatus("chat.postMessage", http.StatusServiceUnavailable, 2) },
			func(t *testing.T, err error) {
				var se slack.StatusCodeError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, http.StatusServiceUnavailable, se.Code)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := slacktest.NewServer(t)
			tt.setup(fake)
			api := newAPI(fake, botToken)
			_, err := api.AuthTestContext(ctx)
			require.NoError(t, err, "other methods are not affected")
			for range 2 {
				_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
				require.Error(t, err)
				tt.check(t, err)
			}
			_, _, err = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
			require.NoError(t, err, "after n failures")
			calls := fake.Calls("chat.postMessage")
			require.Len(t, calls, 3)
			assert.NotEmpty(t, calls[0].Error)
			assert.Empty(t, calls[2].Error)
			assert.Len(t, fake.Posts(), 1)
		})
	}
}

func TestRawWireFormat(t *testing.T) {
	t.Parallel()
	fake := slacktest.NewServer(t)
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		auth        string
		wantStatus  int
		want        string
	}{
		{"unknown method", "chat.nope", "application/x-www-form-urlencoded", "token=xoxb-1", "", 200, `{"ok":false,"error":"unknown_method","req_method":"chat.nope"}`},
		{"JSON body with bearer", "chat.postMessage", "application/json", `{"channel":"C1","text":"hi"}`, "Bearer xoxb-1", 200, ""},
		{"bad JSON", "chat.postMessage", "application/json", `{`, "Bearer xoxb-1", 200, `{"ok":false,"error":"invalid_json"}`},
		{"token in a JSON body", "auth.test", "application/json", `{"token":"xoxb-1"}`, "", 200, `{"ok":false,"error":"not_authed"}`},
		{"form, no token", "auth.test", "application/x-www-form-urlencoded", "", "", 200, `{"ok":false,"error":"not_authed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, fake.APIURL()+tt.method, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tt.contentType)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := fake.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			if tt.want != "" {
				assert.JSONEq(t, tt.want, string(body))
			} else {
				var v map[string]any
				require.NoError(t, json.Unmarshal(body, &v))
				assert.Equal(t, true, v["ok"], "%s", body)
			}
		})
	}
	assert.Equal(t, "hi", fake.Posts()[0].Text)
	assert.Equal(t, "C1", fake.Calls("chat.postMessage")[0].Arg("channel"))
}
