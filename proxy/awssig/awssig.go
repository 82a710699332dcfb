// Package awssig re-signs AWS requests on the proxy: the agent holds
// surrogate AWS credentials (an access key ID with the real one's prefix
// and length, a secret and session token of the same shape) and signs its
// requests with them as usual; for a host in the credential's scopes the
// proxy checks that the surrogate signature is good (SigV4; a SigV4A
// ECDSA signature cannot be checked, see resignV4A) and signs the request
// again with the real key, so the real secret never enters the sandbox.
//
// It handles SigV4 (Authorization header and presigned URLs, including
// S3's aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD uploads, whose chunk
// signatures are rewritten as the body is read, and
// STREAMING-UNSIGNED-PAYLOAD-TRAILER) and SigV4A (Authorization header
// and presigned URLs; no streaming payloads). What it cannot re-sign goes
// out as the agent sent it, with the surrogate signature, and the
// upstream rejects it; Result.Reason says why. It never blocks a request.
//
// The signing itself is the SDK's (aws-sdk-go-v2's aws/signer/v4 and
// smithy-go's aws-http-auth/sigv4a): this package only parses what the
// SDK cannot (the Authorization header, the aws-chunked framing) and
// rebuilds, from the request, the exact input the client gave its signer.
//
// This package is part of the sandbox's security boundary. It does no I/O
// beyond reading the request body it is handed, starts no goroutines,
// logs nothing, and never puts a secret or surrogate value into Result or
// an error. It must stay small and import only the standard library,
// proxy/allowlist and the two signing libraries.
package awssig

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/airut-go/airut/proxy/allowlist"
)

// Credential is one masked AWS credential: the real key, the surrogate
// the agent was given, and the hosts the real key may be used for.
type Credential struct {
	Name                                                                  string // config key, for the log; never log values
	AccessKeyID, SecretAccessKey, SessionToken                            string // real
	SurrogateAccessKeyID, SurrogateSecretAccessKey, SurrogateSessionToken string
	Scopes                                                                []string // host fnmatch patterns (allowlist.MatchAny(scopes, host, true))
}

// Result says what Resign did, for the network log. It never holds a
// secret or surrogate value.
type Result struct {
	Name            string // the credential whose surrogate key signed the request; "" if none
	Region, Service string // from the credential scope (SigV4A: the X-Amz-Region-Set value)
	Resigned        bool
	// Reason says why the request was not re-signed. It may also hold a
	// note on a re-signed request that the upstream will likely refuse
	// (clock skew, an expired presigned SigV4 URL; an expired presigned
	// SigV4A URL is not re-signed).
	Reason string
}

const (
	maxBody = 64 << 20 // the most body read into memory to hash it

	// maxSkew is how far X-Amz-Date may be from the proxy's clock before
	// Reason notes it (AWS allows 15 minutes; 5 is a warning).
	maxSkew = 5 * time.Minute

	amzDateLayout = "20060102T150405Z"

	unsignedPayload  = "UNSIGNED-PAYLOAD"
	streamingSigned  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

	hAuthorization = "Authorization"
	hToken         = "X-Amz-Security-Token"
	hDate          = "X-Amz-Date"
	hContentSHA    = "X-Amz-Content-Sha256"
	hRegionSet     = "X-Amz-Region-Set"
)

// Resign re-signs r in place with the real key if it is signed with a
// surrogate access key ID whose credential is scoped to host (the host
// name without port). r is the request about to be sent upstream; its
// body may be read (and is then put back) or wrapped. now is the proxy's
// clock, used for the skew note and to leave an expired presigned SigV4A
// URL alone.
//
// A request that carries no AWS signature, or one made with a key ID that
// is not a surrogate (a real key the agent brought, say), is left alone
// and gives a zero Result. Any failure leaves r exactly as it was (bar
// the body being buffered) and says why in Reason.
func Resign(r *http.Request, host string, creds []Credential, now time.Time) Result {
	if r == nil || r.URL == nil {
		return Result{}
	}
	d, ok := detect(r)
	if !ok {
		return Result{}
	}
	c, inScope := pick(creds, d, host)
	if c == nil {
		return Result{}
	}
	res := Result{Name: c.Name, Region: d.sig.region, Service: d.sig.service}
	if d.err != nil {
		res.Reason = "malformed AWS signature: " + d.err.Error()
		return res
	}
	if d.sig.alg == algV4A {
		vs := headerValues(r.Header, hRegionSet)
		if d.presigned {
			vs = d.query[qRegionSet]
		}
		if len(vs) == 1 {
			res.Region = vs[0]
		}
	}
	if !inScope {
		res.Reason = "out of scope"
		return res
	}
	if !strings.EqualFold(r.URL.Scheme, "https") {
		// As for masked secrets: a real credential only goes over TLS.
		res.Reason = "plain HTTP: a real signature is only put on HTTPS requests"
		return res
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		res.Reason = "credential has no real access key"
		return res
	}
	var note string
	t, err := signingTime(r, d)
	if err == nil && misplacedToken(r, d) {
		err = errors.New("X-Amz-Security-Token is not where the signature is")
	}
	if err == nil {
		note = skewNote(t, now, d)
		switch {
		case d.sig.alg == algV4:
			err = resignV4(r, d, t, c)
		case d.presigned:
			err = resignV4APresigned(r, d, t, now, c)
		default:
			err = resignV4A(r, d.sig, t, c)
		}
	}
	res.Resigned = err == nil
	var reasons []string
	if err != nil {
		reasons = append(reasons, err.Error())
	}
	if note != "" {
		reasons = append(reasons, note)
	}
	res.Reason = strings.Join(reasons, "; ")
	return res
}

// detected is what detect found on a request.
type detected struct {
	sig       signature
	presigned bool
	query     url.Values // r.URL.Query(), parsed the way the SDK parses it
	raw       string     // the auth text, to find the key ID when it does not parse
	err       error      // a malformed signature
}

// detect finds an AWS signature in the Authorization header or the query.
// ok is false when there is none; d.err is set when there is one but it
// is malformed or ambiguous.
func detect(r *http.Request) (d detected, ok bool) {
	var auths, aws []string
	for _, v := range headerValues(r.Header, hAuthorization) {
		auths = append(auths, v)
		if strings.HasPrefix(v, algV4+" ") || strings.HasPrefix(v, algV4A+" ") {
			aws = append(aws, v)
		}
	}
	d.query = r.URL.Query()
	d.presigned = isPresigned(d.query)
	if len(aws) == 0 && !d.presigned {
		return d, false
	}
	switch {
	case len(aws) > 0 && d.presigned:
		d.raw = strings.Join(aws, " ") + " " + strings.Join(d.query[qCredential], " ")
		d.err = errors.New("both an Authorization header and a presigned query")
	case len(auths) > 1:
		d.raw = strings.Join(aws, " ")
		d.err = errors.New("more than one Authorization header")
	case d.presigned:
		d.raw = strings.Join(d.query[qCredential], " ")
		d.sig, d.err = parsePresigned(d.query)
	default:
		d.raw = aws[0]
		d.sig, d.err = parseAuthorization(aws[0])
	}
	return d, true
}

// pick returns the credential whose surrogate key ID signed the request,
// preferring one scoped to host. When the signature did not parse, a
// credential whose surrogate key ID appears in the auth text is taken, so
// that the log can still name it.
func pick(creds []Credential, d detected, host string) (c *Credential, inScope bool) {
	for i := range creds {
		kid := creds[i].SurrogateAccessKeyID
		if kid == "" {
			continue
		}
		if (d.err == nil && kid != d.sig.keyID) || (d.err != nil && !strings.Contains(d.raw, kid)) {
			continue
		}
		if allowlist.MatchAny(creds[i].Scopes, host, true) {
			return &creds[i], true
		}
		if c == nil {
			c = &creds[i]
		}
	}
	return c, false
}

// signingTime reads X-Amz-Date (header, or query for presigned URLs). It
// must be in the one format the SDK writes, since the SDK re-formats the
// time it is given, and agree with the credential scope's date.
func signingTime(r *http.Request, d detected) (time.Time, error) {
	vs := headerValues(r.Header, hDate)
	if d.presigned {
		vs = d.query[qDate]
	}
	if len(vs) != 1 {
		return time.Time{}, errors.New("need exactly one X-Amz-Date")
	}
	t, err := time.Parse(amzDateLayout, vs[0])
	if err != nil || t.Format(amzDateLayout) != vs[0] {
		return time.Time{}, errors.New("malformed X-Amz-Date")
	}
	if vs[0][:8] != d.sig.date {
		return time.Time{}, errors.New("X-Amz-Date is not on the credential scope's date")
	}
	return t, nil
}

// skewNote notes a signing time the upstream will likely refuse, or "".
func skewNote(t, now time.Time, d detected) string {
	off := t.Sub(now)
	if d.presigned {
		// A presigned URL is meant to be used later: only an expired one
		// or a future date is worth a note. (An expired SigV4A URL is not
		// re-signed at all: resignV4APresigned says so.)
		if vs := d.query[qExpires]; len(vs) == 1 && d.sig.alg == algV4 {
			secs, err := strconv.ParseInt(vs[0], 10, 64)
			// (bounded so the Duration cannot overflow; AWS allows 7 days)
			if err == nil && secs >= 0 && secs < 1<<32 && now.After(t.Add(time.Duration(secs)*time.Second)) {
				return "presigned URL has expired"
			}
		}
		if off <= maxSkew {
			return ""
		}
	} else if off <= maxSkew && off >= -maxSkew {
		return ""
	}
	dir := "ahead of"
	if off < 0 {
		dir, off = "behind", -off
	}
	return fmt.Sprintf("clock skew: X-Amz-Date is %s %s the proxy's clock", off.Round(time.Second), dir)
}

// misplacedToken reports a session token in the header of a presigned
// request or in the query of a header-signed one: only the token next to
// the signature is swapped, so one elsewhere would go out still holding
// the surrogate.
func misplacedToken(r *http.Request, d detected) bool {
	if d.presigned {
		return len(headerValues(r.Header, hToken)) > 0
	}
	return len(d.query[qSecurityToken]) > 0
}

// checkToken: a session token the request carries must be the surrogate
// one, or re-signing would vouch for a token the agent brought.
func checkToken(vals []string, c *Credential) error {
	if len(vals) == 0 {
		return nil
	}
	if len(vals) > 1 {
		return errors.New("more than one X-Amz-Security-Token")
	}
	if c.SurrogateSessionToken == "" || subtle.ConstantTimeCompare([]byte(vals[0]), []byte(c.SurrogateSessionToken)) != 1 {
		return errors.New("X-Amz-Security-Token is not the credential's surrogate token")
	}
	return nil
}

// isS3 reports whether the service signs the path as sent (escaped once);
// every other service escapes it a second time.
func isS3(service string) bool {
	switch service {
	case "s3", "s3-object-lambda", "s3-outposts", "s3express":
		return true
	}
	return false
}

// headerValues gathers the values of the header named name across keys
// that differ only in case (set directly rather than canonicalised), in a
// stable order.
func headerValues(h http.Header, name string) []string {
	var keys []string
	for k := range h {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, h[k]...)
	}
	return out
}

// setHeader replaces every case variant of name with value (none if
// value is "").
func setHeader(h http.Header, name, value string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
	if value != "" {
		h[http.CanonicalHeaderKey(name)] = []string{value}
	}
}

// bodySHA256 hashes the body, reading it into memory (at most maxBody)
// and putting back a reader with the same bytes, so the request goes out
// as it would have. Over the limit the bytes read are put back in front
// of the rest and nothing is hashed.
func bodySHA256(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		sum := sha256.Sum256(nil)
		return sum[:], nil
	}
	orig := r.Body
	buf, err := io.ReadAll(io.LimitReader(orig, maxBody+1))
	if err != nil || len(buf) > maxBody {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), orig), orig}
		if err != nil {
			return nil, fmt.Errorf("reading the body to hash it: %w", err)
		}
		return nil, errors.New("body over 64 MiB is not hashed")
	}
	r.Body = readCloser{bytes.NewReader(buf), orig}
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	sum := sha256.Sum256(buf)
	return sum[:], nil
}

// readCloser reads from the buffered body but closes the original.
type readCloser struct {
	io.Reader
	io.Closer
}
