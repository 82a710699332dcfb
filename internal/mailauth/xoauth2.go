package mailauth

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is written here because go-sasl, which Airut uses for every
// other mechanism, has no XOAUTH2 (only the standard OAUTHBEARER, which
// Microsoft 365 does not offer for IMAP and SMTP). The mechanism is one
// message: "user=<user>^Aauth=Bearer <token>^A^A". A server that refuses
// the token answers with a JSON challenge instead of failing at once; the
// client must then send an empty response, and the server fails the
// exchange. FuzzXOAUTH2Challenge feeds it challenges.

// Xoauth2Name is the mechanism's name.
const Xoauth2Name = "XOAUTH2"

// ErrTokenRefused is the server refusing the token; the wrapped text is
// what it said.
var ErrTokenRefused = errors.New("the mail server refused the OAuth2 token")

// xoauth2Client is a SASL XOAUTH2 client.
type xoauth2Client struct {
	user, token string
	refused     *Refusal
}

// Refusal is what a server said when it refused a token (its JSON
// challenge), for the log.
type Refusal struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

// NewXoauth2Client authenticates user with an OAuth2 access token.
func NewXoauth2Client(user, token string) sasl.Client {
	return &xoauth2Client{user: user, token: token}
}

func (c *xoauth2Client) Start() (mech string, ir []byte, err error) {
	if c.user == "" || c.token == "" {
		return "", nil, errors.New("xoauth2: user and token are required")
	}
	return Xoauth2Name, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next answers the server's challenge, which only comes when it refuses
// the token: an empty response ends the exchange (the server then fails
// it), and the error says why it refused.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.refused != nil {
		return nil, errors.New("xoauth2: unexpected second challenge")
	}
	var r Refusal
	if err := json.Unmarshal(challenge, &r); err != nil {
		r = Refusal{Status: "unreadable challenge"}
	}
	c.refused = &r
	return []byte{}, nil
}

// Refused is why the server refused the token of an XOAUTH2 client
// whose login failed (nil when it did not say, or c is another kind):
// callers add it to their error.
func Refused(c sasl.Client) error {
	x, ok := c.(*xoauth2Client)
	if !ok || x.refused == nil {
		return nil
	}
	return fmt.Errorf("%w (status %q, scope %q)", ErrTokenRefused, x.refused.Status, x.refused.Scope)
}
