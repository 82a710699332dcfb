package awssig

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4a"
	httpauth "github.com/aws/smithy-go/aws-http-auth/v4"
)

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
// canonical request and key derivation.)
//
// Streaming payloads and presigned SigV4A URLs are not supported.
func resignV4A(r *http.Request, s signature, t time.Time, c *Credential) error {
	tokens := headerValues(r.Header, hToken)
	if err := checkToken(tokens, c); err != nil {
		return err
	}
	regions := headerValues(r.Header, hRegionSet)
	if len(regions) != 1 || regions[0] == "" {
		return errors.New("need exactly one X-Amz-Region-Set")
	}
	var hash []byte
	switch vs := headerValues(r.Header, hContentSHA); {
	case len(vs) > 1:
		return errors.New("more than one x-amz-content-sha256")
	case len(vs) == 0:
		sum, err := bodySHA256(r)
		if err != nil {
			return err
		}
		hash = sum
	case vs[0] == unsignedPayload:
		hash = []byte(unsignedPayload) // the signer writes this sentinel as is
	case len(vs[0]) == 64 && isLowerHex(vs[0]):
		hash, _ = hex.DecodeString(vs[0]) // the signer hex-encodes it again
	case strings.HasPrefix(vs[0], "STREAMING-"):
		return errors.New("streaming payloads are not supported with SigV4A")
	default:
		return errors.New("unsupported x-amz-content-sha256")
	}

	// The copy holds the signed headers the signer does not write itself
	// (it writes Host, X-Amz-Date, X-Amz-Region-Set and the session
	// token), and the header rules make it sign exactly the client's list.
	u := *r.URL
	cp := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	if cp.Method == "" {
		cp.Method = http.MethodGet
	}
	var want signedSet
	for _, name := range s.signedHeaders {
		if name != "x-amz-security-token" || c.SessionToken != "" {
			want = append(want, name)
		}
		switch name {
		case "host", "x-amz-date", "x-amz-region-set":
			continue
		case "authorization":
			return errors.New("the Authorization header is listed as signed")
		case "x-amz-security-token":
			if len(tokens) == 0 {
				return errors.New("signed header x-amz-security-token is missing")
			}
			continue
		case "content-length":
			if r.ContentLength < 0 {
				return errors.New("content-length is signed but the length is unknown")
			}
			cp.Header[name] = []string{strconv.FormatInt(r.ContentLength, 10)}
			continue
		}
		vs := headerValues(r.Header, name)
		if len(vs) == 0 {
			return fmt.Errorf("signed header %s is missing", name)
		}
		cp.Header[name] = slices.Clone(vs)
	}

	signer := sigv4a.New(func(o *httpauth.SignerOptions) {
		o.HeaderRules = want
		o.DisableDoublePathEscape = isS3(s.service)
	})
	err := signer.SignRequest(&sigv4a.SignRequestInput{
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

// signedSet is the header list to sign, as smithy-go's header rules.
type signedSet []string

func (s signedSet) IsSigned(h string) bool { return slices.Contains(s, h) }
