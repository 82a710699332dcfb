package awssig

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// errHeaders: the SDK, given the rebuilt request, signs a different header
// list than the client did, so the signature cannot be reproduced.
func errHeaders() error {
	return errors.New("the signed header list cannot be reproduced with the SDK")
}

// v4Input is the input the client gave its SigV4 signer, rebuilt from the
// request as it arrived: method, URL and host, and only the headers the
// client listed in SignedHeaders.
//
// The SDK decides itself what to sign, so the copy is shaped to make it
// sign exactly the client's list:
//   - it signs every header in the map except a few canonical names
//     (User-Agent, Expect, ...) that it compares case-sensitively, so the
//     copy's keys are lower case: all of them are signed;
//   - it signs content-length whenever ContentLength > 0 and never from the
//     header map, so ContentLength is set only if content-length is listed
//     (and a listed content-length of 0 cannot be reproduced);
//   - it writes X-Amz-Date from the signing time (header auth) and
//     X-Amz-Security-Token from the credentials; the token is turned off
//     (DisableSessionToken) and put in the copy only where the client had
//     it, signed or not, so the list stays the client's;
//   - presigned: header hoisting is turned off, since the query already is
//     what the client sent (minus X-Amz-Signature, which the SDK appends).
//
// Path escaping (S3 signs the path as sent, other services escape it once
// more) and, for presigned URLs without x-amz-content-sha256, the payload
// hash (UNSIGNED-PAYLOAD or the body's) are found by trying: the variant
// whose signature verifies is the one the client used.
type v4Input struct {
	r          *http.Request
	sig        signature
	presigned  bool
	t          time.Time
	headers    http.Header // lower-case keys
	length     int64       // ContentLength for the copy
	query      url.Values  // presigned: the query without X-Amz-Signature
	hasToken   bool        // the client sent X-Amz-Security-Token (header, or query when presigned)
	signsToken bool        // header auth: and it is in SignedHeaders
}

// v4Signed is what one SDK signing produced.
type v4Signed struct {
	sig, signedHeaders string
	authorization      string     // header auth
	query              url.Values // presigned: the whole signed query
}

func resignV4(r *http.Request, d detected, t time.Time, c *Credential) error {
	in := &v4Input{r: r, sig: d.sig, presigned: d.presigned, t: t, headers: http.Header{}}
	tokens := headerValues(r.Header, hToken)
	if d.presigned {
		tokens = d.query[qSecurityToken]
	}
	if err := checkToken(tokens, c); err != nil {
		return err
	}
	in.hasToken = len(tokens) > 0
	if err := in.collect(d.query); err != nil {
		return err
	}
	hashes, hashBody, err := payloadHashes(r, d.presigned)
	if err != nil {
		return err
	}

	surrogate := aws.Credentials{AccessKeyID: c.SurrogateAccessKeyID, SecretAccessKey: c.SurrogateSecretAccessKey}
	hash, s3Escaping, err := in.verify(surrogate, c.SurrogateSessionToken, hashes, hashBody)
	if err != nil {
		return err
	}

	// Re-sign the same input with the real key.
	real := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	got, err := in.sign(real, c.SessionToken, hash, s3Escaping)
	if err != nil {
		return err
	}
	wantReal := in.sig.signedHeaders
	if in.signsToken && c.SessionToken == "" {
		wantReal = slices.DeleteFunc(slices.Clone(wantReal), func(h string) bool { return h == "x-amz-security-token" })
	}
	if got.signedHeaders != strings.Join(wantReal, ";") {
		return errHeaders()
	}

	// Everything is computed; only now is the request changed.
	var rawQuery string
	if in.presigned {
		if rawQuery, err = rewriteQuery(r.URL.RawQuery, got.query); err != nil {
			return err
		}
	}
	var body *chunkReader
	if hash == streamingSigned {
		seed, err1 := hex.DecodeString(in.sig.sig)
		realSeed, err2 := hex.DecodeString(got.sig)
		if err1 != nil || err2 != nil {
			return errors.New("seed signature is not hex")
		}
		body = newChunkReader(r.Body, surrogate, real, seed, realSeed, in.sig.region, in.sig.service, t)
	}
	if in.presigned {
		r.URL.RawQuery = rawQuery
	} else {
		setHeader(r.Header, hAuthorization, got.authorization)
		if in.hasToken {
			setHeader(r.Header, hToken, c.SessionToken)
		}
	}
	if body != nil {
		r.Body = body
		r.GetBody = nil // the chunks cannot be replayed through the verifier
	}
	return nil
}

// verify checks the surrogate signature, finding which of the payload
// hashes (then, if hashBody, the body's SHA-256) and which path escaping
// the client signed with.
func (in *v4Input) verify(surrogate aws.Credentials, token string, hashes []string, hashBody bool) (hash string, s3Escaping bool, err error) {
	want := in.sig.signedHeaderList()
	try := func(h string) (bool, error) {
		for _, esc := range []bool{isS3(in.sig.service), !isS3(in.sig.service)} {
			got, err := in.sign(surrogate, token, h, esc)
			if err != nil {
				return false, err
			}
			if got.signedHeaders != want {
				return false, errHeaders()
			}
			if hmac.Equal([]byte(got.sig), []byte(in.sig.sig)) {
				hash, s3Escaping = h, esc
				return true, nil
			}
		}
		return false, nil
	}
	for _, h := range hashes {
		if ok, err := try(h); ok || err != nil {
			return hash, s3Escaping, err
		}
	}
	if hashBody {
		sum, err := bodySHA256(in.r)
		if err != nil {
			return "", false, err
		}
		if ok, err := try(hex.EncodeToString(sum)); ok || err != nil {
			return hash, s3Escaping, err
		}
	}
	return "", false, errors.New("surrogate signature does not verify")
}

// collect copies the signed headers (and, presigned, the query) into in.
func (in *v4Input) collect(query url.Values) error {
	r := in.r
	for _, name := range in.sig.signedHeaders {
		switch name {
		case "host":
			continue // the SDK signs r.Host (or URL.Host) itself
		case "authorization":
			return errors.New("the Authorization header is listed as signed")
		case "content-length":
			if r.ContentLength <= 0 {
				return errors.New("content-length is signed but not positive, which the SDK cannot sign")
			}
			in.length = r.ContentLength
			continue
		case "x-amz-date":
			if !in.presigned {
				continue // the SDK writes it from the signing time
			}
		case "x-amz-security-token":
			if !in.presigned {
				if !in.hasToken {
					return errors.New("signed header x-amz-security-token is missing")
				}
				in.signsToken = true
				continue
			}
		}
		vs := headerValues(r.Header, name)
		if len(vs) == 0 {
			return fmt.Errorf("signed header %s is missing", name)
		}
		in.headers[name] = slices.Clone(vs)
	}
	if in.presigned {
		in.query = url.Values{}
		for k, vs := range query {
			if k != qSignature {
				in.query[k] = slices.Clone(vs)
			}
		}
	}
	return nil
}

// payloadHashes returns the payload hashes to try: x-amz-content-sha256
// verbatim when the client sent it (S3), else for presigned URLs
// UNSIGNED-PAYLOAD; hashBody says to try the body's SHA-256 after those
// (what other services sign).
func payloadHashes(r *http.Request, presigned bool) (hashes []string, hashBody bool, err error) {
	vs := headerValues(r.Header, hContentSHA)
	switch {
	case len(vs) > 1:
		return nil, false, errors.New("more than one x-amz-content-sha256")
	case len(vs) == 1:
		h := vs[0]
		switch {
		case h == unsignedPayload || h == streamingTrailer || len(h) == 64 && isHex(h):
		case h == streamingSigned:
			if presigned {
				return nil, false, errors.New("a streaming payload in a presigned URL is not supported")
			}
			if r.Body == nil || r.Body == http.NoBody {
				return nil, false, errors.New("streaming payload without a body")
			}
		case strings.HasPrefix(h, "STREAMING-") && len(h) <= 64 && isToken(h):
			// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (the trailer
			// signature is not in the SDK), -EVENTS (event-stream framing)
			// and the SigV4A variants.
			return nil, false, fmt.Errorf("x-amz-content-sha256 %s is not supported", h)
		default:
			return nil, false, errors.New("unsupported x-amz-content-sha256")
		}
		return []string{h}, false, nil
	case presigned:
		return []string{unsignedPayload}, true, nil
	}
	return nil, true, nil
}

// request builds a fresh copy for one signing (the SDK changes what it
// signs); token goes where the client had its session token.
func (in *v4Input) request(token string) *http.Request {
	u := *in.r.URL
	req := &http.Request{
		Method:        in.r.Method,
		URL:           &u,
		Host:          in.r.Host,
		Header:        in.headers.Clone(),
		ContentLength: in.length,
	}
	if req.Method == "" {
		req.Method = http.MethodGet // as net/http sends it
	}
	if in.signsToken && token != "" {
		req.Header["x-amz-security-token"] = []string{token}
	}
	if in.presigned {
		q := url.Values{}
		for k, vs := range in.query {
			q[k] = slices.Clone(vs)
		}
		if in.hasToken {
			q.Del(qSecurityToken)
			if token != "" {
				q.Set(qSecurityToken, token)
			}
		}
		u.RawQuery = q.Encode()
	}
	return req
}

// sign signs a fresh copy with the SDK.
func (in *v4Input) sign(cred aws.Credentials, token, payloadHash string, s3Escaping bool) (v4Signed, error) {
	req := in.request(token)
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableSessionToken = true
		o.DisableHeaderHoisting = true
		o.DisableURIPathEscaping = s3Escaping
	})
	ctx := context.Background()
	s := in.sig
	if in.presigned {
		uri, _, err := signer.PresignHTTP(ctx, cred, req, payloadHash, s.service, s.region, in.t)
		if err != nil {
			return v4Signed{}, fmt.Errorf("presigning with the SDK: %w", err)
		}
		u, err := url.Parse(uri)
		if err != nil {
			return v4Signed{}, errors.New("the SDK's presigned URL does not parse") // the error would quote it
		}
		q := u.Query()
		return v4Signed{sig: q.Get(qSignature), signedHeaders: q.Get(qSignedHeaders), query: q}, nil
	}
	if err := signer.SignHTTP(ctx, cred, req, payloadHash, s.service, s.region, in.t); err != nil {
		return v4Signed{}, fmt.Errorf("signing with the SDK: %w", err)
	}
	authz := req.Header.Get(hAuthorization)
	p, err := parseAuthorization(authz)
	if err != nil {
		return v4Signed{}, fmt.Errorf("reading the SDK's Authorization header: %w", err)
	}
	return v4Signed{sig: p.sig, signedHeaders: p.signedHeaderList(), authorization: authz}, nil
}

// rewriteQuery puts the real X-Amz-Credential, X-Amz-Signature and
// X-Amz-Security-Token from signed (the SDK's signed query) into raw,
// keeping every other parameter as written and in place. It then checks
// that the result parses to exactly the signed query, so what goes out is
// what was signed.
func rewriteQuery(raw string, signed url.Values) (string, error) {
	repl := map[string]string{
		qCredential:    signed.Get(qCredential),
		qSignature:     signed.Get(qSignature),
		qSecurityToken: signed.Get(qSecurityToken),
	}
	parts := strings.Split(raw, "&")
	out := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		key, err := url.QueryUnescape(k)
		if v, ok := repl[key]; ok && err == nil {
			if v == "" {
				continue // the real credential has no session token
			}
			p = key + "=" + url.QueryEscape(v)
		}
		out = append(out, p)
	}
	rewritten := strings.Join(out, "&")
	got, _ := url.ParseQuery(rewritten) // pairs it drops, the SDK's URL.Query dropped too
	if !sameValues(got, signed) {
		return "", errors.New("the rewritten query is not the signed one")
	}
	return rewritten, nil
}

// sameValues compares two queries as multisets of key=value pairs.
func sameValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || len(va) != len(vb) {
			return false
		}
		va, vb = slices.Clone(va), slices.Clone(vb)
		slices.Sort(va)
		slices.Sort(vb)
		if !slices.Equal(va, vb) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := hexDigit(s[i]); !ok {
			return false
		}
	}
	return true
}
