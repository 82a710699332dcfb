package email

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawMessage builds a message from header lines.
func rawMessage(headers ...string) []byte {
	return []byte(strings.Join(headers, "\r\n") + "\r\n\r\nPlease fix the build.\r\n")
}

const (
	fromPat    = "From: Pat Example <pat@example.org>"
	arPass     = "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=pat@example.org; dkim=pass header.d=example.org; dmarc=pass (p=REJECT) header.from=example.org"
	arFail     = "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=evil.example; dkim=none; dmarc=fail (p=REJECT) header.from=example.org"
	arSPFOnly  = "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=example.org"
	arMicrosft = "Authentication-Results: spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=example.org; dkim=pass (signature was verified) header.d=example.org;dmarc=pass action=none header.from=example.org;compauth=pass reason=100"
	authAsInt  = "X-MS-Exchange-Organization-AuthAs: Internal"
)

var defaultAuth = AuthConfig{
	TrustedAuthservID: "mx.example.com",
	AuthorizedSenders: []string{"pat@example.org", "*@corp.example"},
}

func TestAuthenticate(t *testing.T) {
	ms := AuthConfig{AuthorizedSenders: []string{"pat@example.org"}, MicrosoftInternalFallback: true}
	tests := []struct {
		name   string
		raw    []byte
		cfg    AuthConfig
		sender string // "" when rejected
		reason string // a substring of the RejectError's Reason
		from   string // RejectError.From
	}{
		{name: "dmarc pass from the trusted server", raw: rawMessage(arPass, fromPat, "Subject: x"), cfg: defaultAuth, sender: "pat@example.org"},
		{name: "no Authentication-Results", raw: rawMessage(fromPat), cfg: defaultAuth,
			reason: "no Authentication-Results header", from: "pat@example.org"},
		{name: "another authserv-id", raw: rawMessage(strings.Replace(arPass, "mx.example.com", "evil.example", 1), fromPat), cfg: defaultAuth,
			reason: `authserv-id "evil.example" is not trusted`},
		{name: "dmarc fail", raw: rawMessage(arFail, fromPat), cfg: defaultAuth, reason: "dmarc=fail"},
		{name: "dmarc none", raw: rawMessage("Authentication-Results: mx.example.com; dmarc=none header.from=example.org", fromPat), cfg: defaultAuth,
			reason: "dmarc=none"},
		{name: "dmarc pass only in a lower header", raw: rawMessage(arFail, arPass, fromPat), cfg: defaultAuth, reason: "dmarc=fail"},
		{name: "forged trusted header below an untrusted top one",
			raw: rawMessage(strings.Replace(arPass, "mx.example.com", "relay.example.net", 1), arPass, fromPat), cfg: defaultAuth,
			reason: `authserv-id "relay.example.net" is not trusted`},
		{name: "spf pass only", raw: rawMessage(arSPFOnly, fromPat), cfg: defaultAuth, reason: "no dmarc result"},
		{name: "dmarc=pass inside an arc comment is no dmarc result",
			raw: rawMessage("Authentication-Results: mx.example.com; arc=pass (i=1 spf=pass dmarc=pass fromdomain=example.org)", fromPat), cfg: defaultAuth,
			reason: "no dmarc result"},
		{name: "dmarc=passthrough is not pass",
			raw: rawMessage("Authentication-Results: mx.example.com; dmarc=passthrough header.from=example.org", fromPat), cfg: defaultAuth,
			reason: "dmarc=passthrough"},
		{name: "unparsable header", raw: rawMessage("Authentication-Results: mx.example.com 2; dmarc=pass", fromPat), cfg: defaultAuth,
			reason: "unparsable Authentication-Results header: msgauth: unsupported version"},
		{name: "two From headers", raw: rawMessage(arPass, fromPat, "From: other@example.org"), cfg: defaultAuth,
			reason: "2 From headers", from: "Pat Example <pat@example.org>"},
		{name: "two From headers differing in case", raw: rawMessage(arPass, fromPat, "FROM: other@example.org"), cfg: defaultAuth,
			reason: "2 From headers"},
		{name: "no From header", raw: rawMessage(arPass, "Subject: x"), cfg: defaultAuth, reason: "0 From headers"},
		{name: "From with two addresses", raw: rawMessage(arPass, "From: pat@example.org, boss@example.org"), cfg: defaultAuth,
			reason: "malformed From", from: "pat@example.org, boss@example.org"},
		{name: "From with two bracketed addresses", raw: rawMessage(arPass, "From: Pat <pat@example.org>, Boss <boss@example.org>"), cfg: defaultAuth,
			reason: "malformed From"},
		{name: "bracket inside the display name", raw: rawMessage(arPass, `From: "pat@example.org <x>" <evil@example.net>`), cfg: defaultAuth,
			reason: "malformed From"},
		{name: "malformed From", raw: rawMessage(arPass, "From: not an address"), cfg: defaultAuth, reason: "malformed From"},
		{name: "unbalanced bracket", raw: rawMessage(arPass, "From: Pat <pat@example.org"), cfg: defaultAuth, reason: "malformed From"},
		{name: "reversed brackets", raw: rawMessage(arPass, "From: Pat >pat@example.org<"), cfg: defaultAuth, reason: "malformed From"},
		{name: "empty From", raw: rawMessage(arPass, "From:"), cfg: defaultAuth, reason: "malformed From"},
		{name: "quoted local part is refused", raw: rawMessage(arPass, `From: <"pat"@example.org>`), cfg: defaultAuth, reason: "malformed From"},
		{name: "display name and brackets, mixed case", raw: rawMessage(arPass, `From: "Example, Pat" <Pat@Example.ORG>`), cfg: defaultAuth,
			sender: "pat@example.org"},
		{name: "bare address", raw: rawMessage(arPass, "From: pat@example.org"), cfg: defaultAuth, sender: "pat@example.org"},
		{name: "encoded display name", raw: rawMessage(arPass, "From: =?utf-8?q?P=C3=A4t?= <pat@example.org>"), cfg: defaultAuth,
			sender: "pat@example.org"},
		{name: "authserv-id compared case-insensitively", raw: rawMessage(strings.Replace(arPass, "mx.example.com", "MX.Example.COM", 1), fromPat),
			cfg: defaultAuth, sender: "pat@example.org"},
		{name: "authserv-id with version", raw: rawMessage(strings.Replace(arPass, "mx.example.com;", "mx.example.com 1;", 1), fromPat),
			cfg: defaultAuth, sender: "pat@example.org"},
		{name: "empty trusted id accepts any authserv-id",
			raw: rawMessage(strings.Replace(arPass, "mx.example.com", "anything.example", 1), fromPat),
			cfg: AuthConfig{AuthorizedSenders: []string{"pat@example.org"}}, sender: "pat@example.org"},
		{name: "empty trusted id accepts Microsoft 365's header without authserv-id", raw: rawMessage(arMicrosft, fromPat),
			cfg: AuthConfig{AuthorizedSenders: []string{"pat@example.org"}}, sender: "pat@example.org"},
		{name: "header without authserv-id when one is expected", raw: rawMessage(arMicrosft, fromPat), cfg: defaultAuth,
			reason: `authserv-id missing, expected "mx.example.com"`},
		{name: "empty trusted id still needs dmarc pass", raw: rawMessage(arFail, fromPat),
			cfg: AuthConfig{AuthorizedSenders: []string{"pat@example.org"}}, reason: "dmarc=fail"},
		{name: "Microsoft fallback: internal mail without Authentication-Results", raw: rawMessage(fromPat, authAsInt), cfg: ms,
			sender: "pat@example.org"},
		{name: "Microsoft fallback: value compared case-insensitively", raw: rawMessage(fromPat, "X-MS-Exchange-Organization-AuthAs:  internal "), cfg: ms,
			sender: "pat@example.org"},
		{name: "Microsoft fallback: anonymous mail", raw: rawMessage(fromPat, "X-MS-Exchange-Organization-AuthAs: Anonymous"), cfg: ms,
			reason: `X-MS-Exchange-Organization-AuthAs is "Anonymous"`},
		{name: "Microsoft fallback: no AuthAs header", raw: rawMessage(fromPat), cfg: ms,
			reason: "no Authentication-Results header and no X-MS-Exchange-Organization-AuthAs: Internal"},
		{name: "Microsoft fallback: not used when Authentication-Results exists", raw: rawMessage(arFail, fromPat, authAsInt), cfg: ms,
			reason: "dmarc=fail"},
		{name: "Microsoft fallback off", raw: rawMessage(fromPat, authAsInt), cfg: defaultAuth, reason: "no Authentication-Results header"},
		{name: "Microsoft fallback still checks the sender", raw: rawMessage("From: eve@example.org", authAsInt), cfg: ms,
			reason: "sender not authorized", from: "eve@example.org"},
		{name: "authorized by exact address", raw: rawMessage(arPass, "From: pat@example.org"), cfg: defaultAuth, sender: "pat@example.org"},
		{name: "authorized by domain wildcard", raw: rawMessage(arPass, "From: Ana <ana@corp.example>"), cfg: defaultAuth, sender: "ana@corp.example"},
		{name: "wildcard does not cover subdomains", raw: rawMessage(arPass, "From: ana@eu.corp.example"), cfg: defaultAuth,
			reason: "sender not authorized"},
		{name: "wildcard does not match a suffix of another domain", raw: rawMessage(arPass, "From: ana@evilcorp.example"), cfg: defaultAuth,
			reason: "sender not authorized"},
		{name: "wrong domain", raw: rawMessage(arPass, "From: pat@example.net"), cfg: defaultAuth,
			reason: "sender not authorized", from: "pat@example.net"},
		{name: "authorization ignores case", raw: rawMessage(arPass, "From: PAT@EXAMPLE.ORG"),
			cfg: AuthConfig{TrustedAuthservID: "mx.example.com", AuthorizedSenders: []string{"Pat@Example.Org"}}, sender: "pat@example.org"},
		{name: "wildcard ignores case", raw: rawMessage(arPass, "From: Ana@Corp.Example"),
			cfg: AuthConfig{TrustedAuthservID: "mx.example.com", AuthorizedSenders: []string{"*@CORP.example"}}, sender: "ana@corp.example"},
		{name: "nobody authorized", raw: rawMessage(arPass, fromPat), cfg: AuthConfig{TrustedAuthservID: "mx.example.com"},
			reason: "sender not authorized"},
		{name: "malformed header block", raw: []byte(" leading space\r\nFrom: pat@example.org\r\n\r\n"), cfg: defaultAuth,
			reason: "malformed header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender, err := Authenticate(tt.raw, tt.cfg)
			if tt.sender != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.sender, sender)
				return
			}
			require.Error(t, err)
			assert.Empty(t, sender)
			var re *RejectError
			require.True(t, errors.As(err, &re), "error %v is not a *RejectError", err)
			assert.Contains(t, re.Reason, tt.reason)
			if tt.from != "" {
				assert.Equal(t, tt.from, re.From)
			}
			assert.Contains(t, err.Error(), re.Reason)
		})
	}
}

// TestAuthenticateCorpus authenticates the corpus messages, whose top
// header comes from mx.example.com (but Outlook web's, from Microsoft
// 365, which has no authserv-id).
func TestAuthenticateCorpus(t *testing.T) {
	cfg := AuthConfig{TrustedAuthservID: "mx.example.com", AuthorizedSenders: []string{"*@example.com", "*@example.org", "*@example.net",
		"*@example.de", "*@example.jp", "*@example.io"}}
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		p, err := Parse(raw)
		require.NoError(t, err)
		sender, err := Authenticate(raw, cfg)
		if strings.HasSuffix(path, "outlook_web.eml") {
			var re *RejectError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, re.Reason, "authserv-id missing")
			cfg365 := cfg
			cfg365.TrustedAuthservID = ""
			sender, err = Authenticate(raw, cfg365)
		}
		require.NoError(t, err, path)
		assert.Equal(t, p.Sender, sender, path)
	}
}

func TestRejectErrorMessage(t *testing.T) {
	assert.Equal(t, `sender "pat@example.org" rejected: dmarc=fail`, (&RejectError{Reason: "dmarc=fail", From: "pat@example.org"}).Error())
	assert.Equal(t, "sender rejected: 0 From headers", (&RejectError{Reason: "0 From headers"}).Error())
}

func FuzzAuthenticate(f *testing.F) {
	for _, path := range corpusFiles(f) {
		raw, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Add(rawMessage(arPass, fromPat))
	f.Add(rawMessage(arMicrosft, fromPat))
	f.Add(rawMessage(fromPat, authAsInt))
	f.Add(rawMessage(arFail, arPass, fromPat))
	cfgs := []AuthConfig{
		defaultAuth,
		{AuthorizedSenders: []string{"pat@example.org", "*@example.com"}, MicrosoftInternalFallback: true},
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, cfg := range cfgs {
			sender, err := Authenticate(raw, cfg)
			if err != nil {
				var re *RejectError
				if !errors.As(err, &re) {
					t.Fatalf("error %v is not a *RejectError", err)
				}
				if sender != "" {
					t.Fatalf("rejected but returned sender %q", sender)
				}
				continue
			}
			if !strictAddr.MatchString(sender) || sender != strings.ToLower(sender) {
				t.Fatalf("accepted sender %q is not a lower-case plain address", sender)
			}
			if !authorized(sender, cfg.AuthorizedSenders) {
				t.Fatalf("accepted unauthorized sender %q", sender)
			}
		}
	})
}
