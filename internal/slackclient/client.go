// Package slackclient makes the Slack Web API client of a repo's Slack
// app from its config, the one place both the listener and the reply
// activity get it from. It holds no state.
package slackclient

import (
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
