// Package slackclient makes the Slack Web API client of a repo's Slack
// app from its config, the one place both the listener and the reply
// activity get it from, and posts and edits the bot's messages through one
// path, so that every message goes out with the same safe options. It
// holds no state.
package slackclient

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/airut-go/airut/internal/config"
)

// New returns the client for s (api_url, when set, points it elsewhere).
func New(s config.Slack) *slack.Client {
	opts := []slack.Option{slack.OptionAppLevelToken(s.AppToken)}
	if s.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(s.APIURL))
	}
	return slack.New(s.BotToken, opts...)
}

// Post posts text as the bot, in the thread threadTS ("" for none), and
// returns the new message's ts.
func Post(ctx context.Context, api *slack.Client, channel, threadTS, text string) (string, error) {
	opts := []slack.MsgOption{content(text)}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	_, ts, err := api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", fmt.Errorf("post slack message in %s: %w", channel, err)
	}
	return ts, nil
}

// Update replaces the text of the bot's message ts.
func Update(ctx context.Context, api *slack.Client, channel, ts, text string) error {
	if _, _, _, err := api.UpdateMessageContext(ctx, channel, ts, content(text)); err != nil {
		return fmt.Errorf("edit slack message %s in %s: %w", ts, channel, err)
	}
	return nil
}

// content is a message's text with unfurling off. The text may come from
// the agent, and an unfurl makes Slack's servers fetch every link in it
// from outside the sandbox: a link with data in its URL would carry the
// data past the network allowlist. Both kinds are turned off explicitly,
// on edits too, because Slack's defaults differ by message and have
// changed over time.
func content(text string) slack.MsgOption {
	return slack.MsgOptionCompose(
		slack.MsgOptionText(text, false),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	)
}
