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

// arPassFor is arPass for another From domain.
func arPassFor(domain string) string {
	return strings.ReplaceAll(arPass, "example.org", domain)
}

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
			reason: `unparsable Authentication-Results header: unsupported version "2"`},
		{name: "two From headers", raw: rawMessage(arPass, fromPat, "From: other@example.org"), cfg: defaultAuth,
			reason: "2 From headers", from: "Pat Example <pat@example.org>"},
		{name: "two From headers differing in case", raw: rawMessage(arPass, fromPat, "FROM: other@example.org"), cfg: defaultAuth,
			reason: "2 From headers"},
		{name: "no From header", raw: rawMessage(arPass, "Subject: x"), cfg: defaultAuth, reason: "0 From headers"},
		{name: "From with two addresses", raw: rawMessage(arPass, "From: pat@example.org, boss@example.org"), cfg: defaultAuth,
			reason: "From must hold exactly one address", from: "pat@example.org, boss@example.org"},
		{name: "From with two bracketed addresses", raw: rawMessage(arPass, "From: Pat <pat@example.org>, Boss <boss@example.org>"), cfg: defaultAuth,
			reason: "From must hold exactly one address"},
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
		{name: "authorized by domain wildcard", raw: rawMessage(arPassFor("corp.example"), "From: Ana <ana@corp.example>"), cfg: defaultAuth, sender: "ana@corp.example"},
		{name: "wildcard does not cover subdomains", raw: rawMessage(arPassFor("eu.corp.example"), "From: ana@eu.corp.example"), cfg: defaultAuth,
			reason: "sender not authorized"},
		{name: "wildcard does not match a suffix of another domain", raw: rawMessage(arPassFor("evilcorp.example"), "From: ana@evilcorp.example"), cfg: defaultAuth,
			reason: "sender not authorized"},
		{name: "wrong domain", raw: rawMessage(arPassFor("example.net"), "From: pat@example.net"), cfg: defaultAuth,
			reason: "sender not authorized", from: "pat@example.net"},
		{name: "authorization ignores case", raw: rawMessage(arPass, "From: PAT@EXAMPLE.ORG"),
			cfg: AuthConfig{TrustedAuthservID: "mx.example.com", AuthorizedSenders: []string{"Pat@Example.Org"}}, sender: "pat@example.org"},
		{name: "wildcard ignores case", raw: rawMessage(arPassFor("corp.example"), "From: Ana@Corp.Example"),
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
	for _, c := range spoofCases() {
		f.Add(c.raw)
	}
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

// authCase is a message and the verdict Authenticate must reach on it.
type authCase struct {
	name   string
	raw    []byte
	cfg    AuthConfig
	sender string // "" when rejected
	reason string // when rejected: a substring of RejectError.Reason
}

// ar builds an Authentication-Results header line.
func ar(value string) string { return "Authentication-Results: " + value }

// spoofCases are forged or ambiguous messages: each claims to be from the
// authorized pat@example.org (or rides on its DMARC pass) and must start
// nothing. The listener test runs them through the whole intake too.
func spoofCases() []authCase {
	msCfg := AuthConfig{AuthorizedSenders: []string{"pat@example.org"}}
	return []authCase{
		{name: "dmarc=pass injected in an spf comment", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=pass (mx.example.com: domain of x; dmarc=pass header.from=example.org designates 192.0.2.1 as permitted sender) smtp.mailfrom=evil.example"), fromPat),
			reason: "no dmarc result"},
		{name: "dmarc=pass injected in a nested comment", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=pass (helo (x) ; dmarc=pass header.from=example.org) smtp.mailfrom=evil.example; dmarc=fail header.from=example.org"), fromPat),
			reason: "dmarc=fail"},
		{name: "dmarc=pass injected after an escaped parenthesis in a comment", cfg: defaultAuth,
			raw:    rawMessage(ar(`mx.example.com; spf=pass (helo x\) ; dmarc=pass header.from=example.org) smtp.mailfrom=evil.example`), fromPat),
			reason: "no dmarc result"},
		{name: "dmarc=pass in an unterminated comment", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=pass (domain of x; dmarc=pass header.from=example.org"), fromPat),
			reason: "unparsable Authentication-Results header: unterminated comment"},
		{name: "dmarc=pass injected in a quoted local part of MAIL FROM", cfg: defaultAuth,
			raw: rawMessage(ar(`mx.example.com; spf=pass (domain of "x;dmarc=pass header.from=example.org"@evil.example designates 192.0.2.1 as permitted sender) `+
				`smtp.mailfrom="x;dmarc=pass header.from=example.org"@evil.example; dmarc=fail header.from=example.org`), fromPat),
			reason: "dmarc=fail"},
		{name: "dmarc=pass injected in a quoted string with quoted-pairs", cfg: defaultAuth,
			raw:    rawMessage(ar(`mx.example.com; spf=pass smtp.mailfrom="x\";dmarc=pass header.from=example.org;\""@evil.example`), fromPat),
			reason: "no dmarc result"},
		{name: "dmarc=pass injected in a quoted smtp.helo", cfg: defaultAuth,
			raw:    rawMessage(ar(`mx.example.com; spf=none smtp.helo="evil;dmarc=pass header.from=example.org"`), fromPat),
			reason: "no dmarc result"},
		{name: "dmarc=pass as the smtp.helo value", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=none smtp.helo=dmarc=pass; dmarc=fail header.from=example.org"), fromPat),
			reason: "unparsable Authentication-Results header"},
		{name: "dmarc=pass as the smtp.mailfrom value", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=pass smtp.mailfrom=dmarc=pass header.from=example.org"), fromPat),
			reason: "unparsable Authentication-Results header"},
		{name: "dmarc=pass for another domain", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=pass smtp.mailfrom=evil.example; dmarc=pass (p=REJECT) header.from=evil.example"), fromPat),
			reason: "dmarc header.from evil.example does not match From domain example.org"},
		{name: "dmarc=pass for a domain ending in the From domain", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; dmarc=pass header.from=mail.example.org"), fromPat),
			reason: "dmarc header.from mail.example.org does not match From domain example.org"},
		{name: "dmarc=pass before dmarc=fail", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; dmarc=pass header.from=example.org; dmarc=fail header.from=example.org"), fromPat),
			reason: "more than one dmarc result, one is fail"},
		{name: "dmarc=fail before dmarc=pass", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; dmarc=fail header.from=example.org; dmarc=pass header.from=example.org"), fromPat),
			reason: "more than one dmarc result, one is fail"},
		{name: "a second dmarc=pass for another domain", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; dmarc=pass header.from=example.org; dmarc=pass header.from=evil.example"), fromPat),
			reason: "dmarc header.from evil.example does not match From domain example.org"},
		{name: "dmarc=pass without header.from", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; spf=pass smtp.mailfrom=example.org; dmarc=pass"), fromPat),
			reason: "dmarc=pass without header.from"},
		{name: "dmarc=pass with header.from given twice", cfg: defaultAuth,
			raw:    rawMessage(ar("mx.example.com; dmarc=pass header.from=evil.example header.from=example.org"), fromPat),
			reason: "header.from given twice"},
		{name: "Microsoft 365 header with dmarc=pass for another domain", cfg: msCfg,
			raw:    rawMessage(strings.ReplaceAll(arMicrosft, "example.org", "evil.example"), fromPat),
			reason: "dmarc header.from evil.example does not match From domain example.org"},
		{name: "Microsoft 365 header with dmarc=pass injected in a comment", cfg: msCfg,
			raw:    rawMessage(ar("spf=pass (sender IP is 192.0.2.10; dmarc=pass header.from=example.org) smtp.mailfrom=evil.example;dmarc=fail action=oreject header.from=example.org"), fromPat),
			reason: "dmarc=fail"},
		{name: "two addresses in From", cfg: defaultAuth,
			raw:    rawMessage(arPass, "From: attacker@evil.example, <pat@example.org>"),
			reason: "From must hold exactly one address"},
		{name: "two mailboxes in From, one with a quoted display name", cfg: defaultAuth,
			raw:    rawMessage(arPass, `From: "Eve" <eve@evil.example>, "Pat" <pat@example.org>`),
			reason: "From must hold exactly one address"},
		{name: "group in From", cfg: defaultAuth,
			raw:    rawMessage(arPass, "From: Team: <pat@example.org>;"),
			reason: "From must hold exactly one address, not a group"},
		{name: "group of two in From", cfg: defaultAuth,
			raw:    rawMessage(arPass, "From: Team: attacker@evil.example, <pat@example.org>;"),
			reason: "From must hold exactly one address, not a group"},
		{name: "address-shaped display name", cfg: defaultAuth,
			raw:    rawMessage(arPass, "From: attacker@evil.example <pat@example.org>"),
			reason: "From must hold exactly one address, but its display name holds another"},
		{name: "address hidden in a comment", cfg: defaultAuth,
			raw:    rawMessage(arPass, "From: attacker@evil.example (<pat@example.org>)"),
			reason: "malformed From"},
		{name: "text after the address", cfg: defaultAuth,
			raw:    rawMessage(arPass, "From: <pat@example.org> attacker@evil.example"),
			reason: "malformed From"},
		{name: "untrusted header with dmarc=pass placed first", cfg: defaultAuth,
			raw:    rawMessage(ar("evil.example; dmarc=pass header.from=example.org"), fromPat),
			reason: `authserv-id "evil.example" is not trusted`},
		{name: "trusted header after an untrusted first one", cfg: defaultAuth,
			raw:    rawMessage(ar("evil.example; dmarc=pass header.from=example.org"), arPass, fromPat),
			reason: `authserv-id "evil.example" is not trusted`},
		{name: "trusted authserv-id inside a comment", cfg: defaultAuth,
			raw:    rawMessage(ar("(mx.example.com) evil.example; dmarc=pass header.from=example.org"), fromPat),
			reason: `authserv-id "evil.example" is not trusted`},
	}
}

// TestAuthenticateSpoofs holds the regressions of the Authentication-Results
// and From hardening, and the real-shaped headers that must still pass.
func TestAuthenticateSpoofs(t *testing.T) {
	gmail := ar("mx.example.com;\r\n" +
		"       dkim=pass header.i=@example.org header.s=20230601 header.b=AbCd1234;\r\n" +
		"       arc=pass (i=1 spf=pass spfdomain=example.org dkim=pass dkdomain=example.org dmarc=pass fromdomain=example.org);\r\n" +
		"       spf=pass (google.com: domain of pat@example.org designates 209.85.220.41 as permitted sender) smtp.mailfrom=pat@example.org;\r\n" +
		"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org")
	openDKIM := ar(`mx.example.com; dkim=pass (2048-bit key; unprotected) header.d=example.org header.i=@example.org header.b="AbCd1234"; ` +
		`spf=pass (mx.example.com: domain of "pat@example.org" designates 192.0.2.10 as permitted sender) smtp.mailfrom=pat@example.org; ` +
		`dmarc=pass (p=none dis=none) header.from=example.org`)
	tests := append([]authCase{
		{name: "Gmail-shaped header", raw: rawMessage(gmail, fromPat), cfg: defaultAuth, sender: "pat@example.org"},
		{name: "OpenDKIM/OpenDMARC-shaped header with ';' in a comment", raw: rawMessage(openDKIM, fromPat), cfg: defaultAuth, sender: "pat@example.org"},
		{name: "Microsoft 365-shaped header", raw: rawMessage(arMicrosft, fromPat),
			cfg: AuthConfig{AuthorizedSenders: []string{"pat@example.org"}}, sender: "pat@example.org"},
		{name: "Microsoft 365 with an unsigned message",
			raw: rawMessage(ar("spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=example.org; dkim=none (message not signed) header.d=none;dmarc=pass action=none header.from=example.org;compauth=pass reason=100;"), fromPat),
			cfg: AuthConfig{AuthorizedSenders: []string{"pat@example.org"}}, sender: "pat@example.org"},
		{name: "header.from and From domain differ in case", raw: rawMessage(ar("mx.example.com; DMARC=Pass header.from=EXAMPLE.org"), "From: Pat <pat@Example.ORG>"),
			cfg: defaultAuth, sender: "pat@example.org"},
		{name: "quoted header.from", raw: rawMessage(ar(`mx.example.com; dmarc=pass header.from="example.org"`), fromPat), cfg: defaultAuth, sender: "pat@example.org"},
		{name: "quoted display name with a comma and an @", raw: rawMessage(arPass, `From: "Example, Pat (pat@example.org)" <pat@example.org>`),
			cfg: defaultAuth, sender: "pat@example.org"},
		{name: "comment in the display name", raw: rawMessage(arPass, "From: Pat (work, home: x@y) <pat@example.org>"), cfg: defaultAuth, sender: "pat@example.org"},
	}, spoofCases()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender, err := Authenticate(tt.raw, tt.cfg)
			if tt.sender != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.sender, sender)
				return
			}
			require.Error(t, err, "accepted as %q", sender)
			var re *RejectError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, re.Reason, tt.reason)
		})
	}
}
