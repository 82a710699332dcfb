package awssig

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4a"
	httpauth "github.com/aws/smithy-go/aws-http-auth/v4"
)

// maxPresignExpires is the longest X-Amz-Expires AWS accepts (7 days).
const maxPresignExpires = 7 * 24 * 60 * 60

// resignV4A re-signs a SigV4A (AWS4-ECDSA-P256-SHA256) Authorization
// header with the real key, through smithy-go's sigv4a signer.
//
// The surrogate's ECDSA signature is not verified. It cannot be
// reproduced and compared as SigV4's HMAC is (ECDSA signatures are
// randomised), and checking it with ecdsa.VerifyASN1 needs the
// string-to-sign, which smithy-go's sigv4a never exposes (nor the public
// key it derives; aws-sdk-go-v2's v4a is an internal package). Building the
// canonical request here would be hand-writing SigV4, which this package
// must not do. Nothing the boundary relies on is lost: the key ID must be
// the surrogate's and the host in scope, and anyone able to make a valid
// surrogate signature holds the surrogate secret, which lives in the
// sandbox anyway. (The tests do verify both signatures, with their own
// canonical request and key derivation.) The same holds for presigned
// URLs (resignV4APresigned).
//
// Streaming payloads are not supported.
func resignV4A(r *http.Request, s signature, t time.Time, c *Credential) error {
	tokens := headerValues(r.Header, hToken)
	if err := checkToken(tokens, c); err != nil {
		return err
	}
	regions := headerValues(r.Header, hRegionSet)
	if len(regions) != 1 || regions[0] == "" {
		return errors.New("need exactly one X-Amz-Region-Set")
	}
	hash, err := v4aPayloadHash(r, false)
	if err != nil {
		return err
	}
	cp, want, err := v4aRequest(r, s, false, len(tokens) > 0, c.SessionToken != "")
	if err != nil {
		return err
	}

	signer := sigv4a.New(func(o *httpauth.SignerOptions) {
		o.HeaderRules = want
		o.DisableDoublePathEscape = isS3(s.service)
	})
	err = signer.SignRequest(&sigv4a.SignRequestInput{
		Request:     cp,
		PayloadHash: hash,
		Credentials: credentials.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		Service:     s.service,
		RegionSet:   []string{regions[0]},
		Time:        t,
	})
	if err != nil {
		return fmt.Errorf("signing with sigv4a: %w", err)
	}
	authz := cp.Header.Get(hAuthorization)
	got, err := parseAuthorization(authz)
	if err != nil {
		return fmt.Errorf("reading sigv4a's Authorization header: %w", err)
	}
	if got.signedHeaderList() != strings.Join(want, ";") {
		return errHeaders()
	}
	setHeader(r.Header, hAuthorization, authz)
	if len(tokens) > 0 {
		setHeader(r.Header, hToken, c.SessionToken)
	}
	return nil
}

// resignV4APresigned re-signs a presigned SigV4A URL (query parameters
// X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256, X-Amz-Credential, X-Amz-Date,
// X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Region-Set, optionally
// X-Amz-Security-Token, and X-Amz-Signature) with the real key, through
// smithy-go's sigv4a signer in query-string mode. As for the header
// (resignV4A), the surrogate's signature is not verified.
//
// The signer is given the client's query without X-Amz-Signature: it sets
// X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Region-Set,
// X-Amz-SignedHeaders and (from the credentials) X-Amz-Security-Token,
// with the same values but the real key ID and token, and keeps every
// other parameter, X-Amz-Expires included, as a signed query parameter.
// In query mode it signs no X-Amz-Date or X-Amz-Security-Token header and
// hashes no body: the payload hash is x-amz-content-sha256 when the
// client sent it, else UNSIGNED-PAYLOAD (what the signer uses for a body
// it cannot seek, and what presigned URLs sign).
//
// Only X-Amz-Credential, X-Amz-Signature and X-Amz-Security-Token are
// replaced in the URL as sent (rewriteQuery), which must then parse to
// exactly what was signed; an expired URL, a malformed X-Amz-Expires and
// a surrogate value left anywhere in the URL or headers leave the request
// alone.
func resignV4APresigned(r *http.Request, d detected, t, now time.Time, c *Credential) error {
	s := d.sig
	tokens := d.query[qSecurityToken]
	if err := checkToken(tokens, c); err != nil {
		return err
	}
	regions := d.query[qRegionSet]
	if len(regions) != 1 || regions[0] == "" {
		return errors.New("need exactly one non-empty X-Amz-Region-Set")
	}
	expires, err := presignExpiry(d.query)
	if err != nil {
		return err
	}
	if now.After(t.Add(expires)) {
		return errors.New("presigned URL has expired")
	}
	hash, err := v4aPayloadHash(r, true)
	if err != nil {
		return err
	}
	cp, want, err := v4aRequest(r, s, true, false, false)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, vs := range d.query {
		if k != qSignature {
			q[k] = slices.Clone(vs)
		}
	}
	var token string
	if len(tokens) > 0 {
		// The signer replaces the token, or adds none when the real key
		// is a long-term one; then the surrogate's must go.
		token = c.SessionToken
		if token == "" {
			q.Del(qSecurityToken)
		}
	}
	cp.URL.RawQuery = q.Encode()

	signer := sigv4a.New(func(o *httpauth.SignerOptions) {
		o.HeaderRules = want
		o.DisableDoublePathEscape = isS3(s.service)
	})
	err = signer.SignRequest(&sigv4a.SignRequestInput{
		Request:       cp,
		PayloadHash:   hash,
		Credentials:   credentials.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: token},
		Service:       s.service,
		RegionSet:     []string{regions[0]},
		Time:          t,
		SignatureType: httpauth.SignatureTypeQueryString,
	})
	if err != nil {
		return fmt.Errorf("signing with sigv4a: %w", err)
	}
	signed := cp.URL.Query()
	if vs := signed[qSignedHeaders]; len(vs) != 1 || vs[0] != strings.Join(want, ";") {
		return errHeaders()
	}
	if vs := signed[qCredential]; len(vs) != 1 || vs[0] != c.AccessKeyID+"/"+s.date+"/"+s.service+"/aws4_request" {
		return errors.New("sigv4a signed with another credential scope")
	}
	if vs := signed[qSignature]; len(vs) != 1 || checkSignature(algV4A, vs[0]) != nil {
		return errors.New("sigv4a's X-Amz-Signature is malformed")
	}
	raw, err := rewriteQuery(r.URL.RawQuery, signed)
	if err != nil {
		return err
	}
	if leavesSurrogate(r, raw, c) {
		return errors.New("a surrogate value would remain in the URL or headers")
	}
	r.URL.RawQuery = raw
	return nil
}

// presignExpiry reads X-Amz-Expires: exactly one, 1 to 604800 seconds in
// decimal digits.
func presignExpiry(q url.Values) (time.Duration, error) {
	vs := q[qExpires]
	if len(vs) != 1 {
		return 0, fmt.Errorf("presigned URL needs exactly one %s", qExpires)
	}
	if v := vs[0]; v == "" || len(v) > 7 || !isDigits(v) {
		return 0, errors.New("malformed X-Amz-Expires")
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 || n > maxPresignExpires {
		return 0, errors.New("X-Amz-Expires is not between 1 and 604800 seconds")
	}
	return time.Duration(n) * time.Second, nil
}

// v4aPayloadHash is the payload hash to give the signer: x-amz-content-sha256
// when the client sent it, else the body's SHA-256 (header auth) or
// UNSIGNED-PAYLOAD (presigned).
func v4aPayloadHash(r *http.Request, presigned bool) ([]byte, error) {
	switch vs := headerValues(r.Header, hContentSHA); {
	case len(vs) > 1:
		return nil, errors.New("more than one x-amz-content-sha256")
	case len(vs) == 0 && presigned:
		return []byte(unsignedPayload), nil
	case len(vs) == 0:
		return bodySHA256(r)
	case vs[0] == unsignedPayload:
		return []byte(unsignedPayload), nil // the signer writes this sentinel as is
	case len(vs[0]) == 64 && isLowerHex(vs[0]):
		return hex.DecodeString(vs[0]) // the signer hex-encodes it again
	case strings.HasPrefix(vs[0], "STREAMING-"):
		return nil, errors.New("streaming payloads are not supported with SigV4A")
	default:
		return nil, errors.New("unsupported x-amz-content-sha256")
	}
}

// v4aRequest builds the copy of r to sign and the header rules that make
// the signer sign exactly the client's list. The copy holds the signed
// headers the signer does not write itself: it writes Host and, for
// header auth, X-Amz-Date, X-Amz-Region-Set and the session token (which
// is listed only if the real credential has one); in query mode it drops
// any X-Amz-Date and X-Amz-Security-Token header, so a list naming them
// cannot be reproduced.
func v4aRequest(r *http.Request, s signature, presigned, hasToken, realToken bool) (*http.Request, signedSet, error) {
	u := *r.URL
	cp := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	if cp.Method == "" {
		cp.Method = http.MethodGet
	}
	var want signedSet
	for _, name := range s.signedHeaders {
		if name != "x-amz-security-token" || realToken {
			want = append(want, name)
		}
		switch name {
		case "host":
			continue
		case "authorization":
			return nil, nil, errors.New("the Authorization header is listed as signed")
		case "x-amz-date", "x-amz-security-token":
			if presigned {
				return nil, nil, errHeaders()
			}
			if name == "x-amz-security-token" && !hasToken {
				return nil, nil, errors.New("signed header x-amz-security-token is missing")
			}
			continue
		case "x-amz-region-set":
			if !presigned {
				continue
			}
		case "content-length":
			if r.ContentLength < 0 {
				return nil, nil, errors.New("content-length is signed but the length is unknown")
			}
			cp.Header[name] = []string{strconv.FormatInt(r.ContentLength, 10)}
			continue
		}
		vs := headerValues(r.Header, name)
		if len(vs) == 0 {
			return nil, nil, fmt.Errorf("signed header %s is missing", name)
		}
		cp.Header[name] = slices.Clone(vs)
	}
	return cp, want, nil
}

// leavesSurrogate reports whether a surrogate value would still go
// upstream in r's path or headers, or in rawQuery (as written or with
// each name and value unescaped).
func leavesSurrogate(r *http.Request, rawQuery string, c *Credential) bool {
	places := []string{r.URL.EscapedPath(), r.URL.Path, rawQuery}
	for _, p := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(p, "=")
		for _, part := range []string{k, v} {
			if u, err := url.QueryUnescape(part); err == nil {
				places = append(places, u)
			}
		}
	}
	for k, vs := range r.Header {
		places = append(places, k)
		places = append(places, vs...)
	}
	for _, v := range []string{c.SurrogateAccessKeyID, c.SurrogateSecretAccessKey, c.SurrogateSessionToken} {
		if v == "" {
			continue
		}
		for _, p := range places {
			if strings.Contains(p, v) {
				return true
			}
		}
	}
	return false
}

// signedSet is the header list to sign, as smithy-go's header rules.
type signedSet []string

func (s signedSet) IsSigned(h string) bool { return slices.Contains(s, h) }
