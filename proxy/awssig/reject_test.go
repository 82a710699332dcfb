package awssig

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// signedS3Put is a surrogate-signed S3 PUT as it reaches the proxy.
func signedS3Put(t testing.TB, c Credential, body []byte, extra ...string) *http.Request {
	req := s3Put("/k.txt", body, extra...)(t)
	sdkSign(t, req, surrogateOf(c), sha(body), "s3", "us-east-1", signTime)
	return wire(t, req)
}

func TestResignLeavesRequestAlone(t *testing.T) {
	body := []byte("hello, bucket")
	ddb := []byte(`{"TableName":"orders"}`)
	type setup struct {
		in    *http.Request
		creds []Credential
		body  []byte // what the body must still be
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) setup
		// want is the Result; Reason is matched as a substring.
		want Result
	}{
		{name: "no AWS signature", want: Result{},
			setup: func(t *testing.T) setup {
				in := wire(t, newReq(t, http.MethodGet, "https://api.github.com/user", nil, "Authorization", "Bearer ghp_x"))
				return setup{in: in, creds: []Credential{testCred(false)}}
			}},
		{name: "tampered payload hash", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "surrogate signature does not verify"},
			setup: func(t *testing.T) setup {
				in := signedS3Put(t, testCred(false), body)
				in.Header.Set("X-Amz-Content-Sha256", sha([]byte("something else")))
				return setup{in: in, creds: []Credential{testCred(false)}, body: body}
			}},
		{name: "tampered signed header", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "surrogate signature does not verify"},
			setup: func(t *testing.T) setup {
				in := signedS3Put(t, testCred(false), body)
				in.Header.Set("Content-Type", "text/html")
				return setup{in: in, creds: []Credential{testCred(false)}, body: body}
			}},
		{name: "tampered query", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "surrogate signature does not verify"},
			setup: func(t *testing.T) setup {
				in := signedS3Put(t, testCred(false), body)
				in.URL.RawQuery = "acl"
				return setup{in: in, creds: []Credential{testCred(false)}, body: body}
			}},
		{name: "tampered body, no content hash", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "dynamodb", Reason: "surrogate signature does not verify"},
			setup: func(t *testing.T) setup {
				c := testCred(true)
				req := newReq(t, http.MethodPost, "https://dynamodb.us-east-1.amazonaws.com/", ddb, "X-Amz-Target", "DynamoDB_20120810.Scan")
				sdkSign(t, req, surrogateOf(c), sha(ddb), "dynamodb", "us-east-1", signTime)
				in := wire(t, req)
				evil := bytes.ToUpper(ddb) // same length, so Content-Length still holds
				in.Body = readCloser{bytes.NewReader(evil), http.NoBody}
				return setup{in: in, creds: []Credential{c}, body: evil}
			}},
		{name: "tampered presigned query", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "surrogate signature does not verify"},
			setup: func(t *testing.T) setup {
				c := testCred(false)
				uri, hdr := sdkPresign(t, newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k?X-Amz-Expires=60", nil),
					surrogateOf(c), unsignedPayload, "s3", "us-east-1", signTime)
				in := wire(t, presignedRequest(t, http.MethodGet, strings.Replace(uri, "/k?", "/other?", 1), hdr))
				return setup{in: in, creds: []Credential{c}}
			}},
		{name: "out of scope host", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "out of scope"},
			setup: func(t *testing.T) setup {
				c := testCred(false)
				req := newReq(t, http.MethodGet, "https://attacker.example/bucket/k", nil, "X-Amz-Content-Sha256", emptySHA)
				sdkSign(t, req, surrogateOf(c), emptySHA, "s3", "us-east-1", signTime)
				return setup{in: wire(t, req), creds: []Credential{c}}
			}},
		{name: "foreign real-looking key", want: Result{},
			setup: func(t *testing.T) setup {
				req := newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k", nil, "X-Amz-Content-Sha256", emptySHA)
				sdkSign(t, req, aws.Credentials{AccessKeyID: "AKIAOTHERKEY00000005", SecretAccessKey: strings.Repeat("x", 40)},
					emptySHA, "s3", "us-east-1", signTime)
				return setup{in: wire(t, req), creds: []Credential{testCred(false), testCred(true)}}
			}},
		{name: "signed with the real key", want: Result{},
			setup: func(t *testing.T) setup {
				c := testCred(false)
				req := newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k", nil, "X-Amz-Content-Sha256", emptySHA)
				sdkSign(t, req, realOf(c), emptySHA, "s3", "us-east-1", signTime)
				return setup{in: wire(t, req), creds: []Credential{c}}
			}},
		{name: "plain http", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "plain HTTP"},
			setup: func(t *testing.T) setup {
				in := signedS3Put(t, testCred(false), body)
				in.URL.Scheme = "http"
				return setup{in: in, creds: []Credential{testCred(false)}, body: body}
			}},
		{name: "session token not the surrogate's", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3", Reason: "not the credential's surrogate token"},
			setup: func(t *testing.T) setup {
				c := testCred(true)
				cred := surrogateOf(c)
				cred.SessionToken = "some-token-the-agent-brought"
				req := s3Put("/k.txt", body)(t)
				sdkSign(t, req, cred, sha(body), "s3", "us-east-1", signTime)
				return setup{in: wire(t, req), creds: []Credential{c}, body: body}
			}},
		{name: "signed streaming with trailer", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3",
			Reason: "x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER is not supported"},
			setup: func(t *testing.T) setup {
				c := testCred(false)
				req := newReq(t, http.MethodPut, "https://b.s3.us-east-1.amazonaws.com/k", body,
					"X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
				sdkSign(t, req, surrogateOf(c), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "s3", "us-east-1", signTime)
				return setup{in: wire(t, req), creds: []Credential{c}, body: body}
			}},
		{name: "malformed authorization with a surrogate key", want: Result{Name: "AWS_PROD", Reason: "malformed AWS signature"},
			setup: func(t *testing.T) setup {
				in := wire(t, newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k", nil,
					"Authorization", "AWS4-HMAC-SHA256 Credential=AKIASURROGATE0000002/20250304/us-east-1/s3, Signature=00"))
				return setup{in: in, creds: []Credential{testCred(false)}}
			}},
		{name: "signed header list the SDK cannot reproduce", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3",
			Reason: "the signed header list cannot be reproduced with the SDK"},
			setup: func(t *testing.T) setup {
				// The SDK always signs x-amz-date; this client did not.
				in := wire(t, newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k", nil,
					"X-Amz-Date", "20250304T050607Z", "X-Amz-Content-Sha256", emptySHA,
					"Authorization", "AWS4-HMAC-SHA256 Credential=AKIASURROGATE0000002/20250304/us-east-1/s3/aws4_request, "+
						"SignedHeaders=host;x-amz-content-sha256, Signature="+sig64))
				return setup{in: in, creds: []Credential{testCred(false)}}
			}},
		{name: "two signatures", want: Result{Name: "AWS_PROD", Reason: "both an Authorization header and a presigned query"},
			setup: func(t *testing.T) setup {
				in := signedS3Put(t, testCred(false), body)
				in.URL.RawQuery = "X-Amz-Credential=AKIASURROGATE0000002%2F20250304%2Fus-east-1%2Fs3%2Faws4_request"
				return setup{in: in, creds: []Credential{testCred(false)}, body: body}
			}},
		{name: "session token in the query of a header-signed request", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3",
			Reason: "X-Amz-Security-Token is not where the signature is"},
			setup: func(t *testing.T) setup {
				c := testCred(true)
				req := newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k?X-Amz-Security-Token="+url.QueryEscape(surrogateToken), nil,
					"X-Amz-Content-Sha256", emptySHA)
				sdkSign(t, req, surrogateOf(c), emptySHA, "s3", "us-east-1", signTime)
				return setup{in: wire(t, req), creds: []Credential{c}}
			}},
		{name: "session token in the header of a presigned request", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "s3",
			Reason: "X-Amz-Security-Token is not where the signature is"},
			setup: func(t *testing.T) setup {
				c := testCred(true)
				uri, hdr := sdkPresign(t, newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k?X-Amz-Expires=60", nil),
					surrogateOf(c), unsignedPayload, "s3", "us-east-1", signTime)
				req := presignedRequest(t, http.MethodGet, uri, hdr)
				req.Header.Set("X-Amz-Security-Token", surrogateToken)
				return setup{in: wire(t, req), creds: []Credential{c}}
			}},
		{name: "presigned SigV4A without X-Amz-Expires", want: Result{Name: "AWS_PROD", Service: "s3", Reason: "presigned URL needs exactly one X-Amz-Expires"},
			setup: func(t *testing.T) setup {
				in := wire(t, newReq(t, http.MethodGet, "https://b.s3-global.amazonaws.com/k?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256"+
					"&X-Amz-Credential=AKIASURROGATE0000002%2F20250304%2Fs3%2Faws4_request&X-Amz-Date=20250304T050607Z&X-Amz-Region-Set=%2A"+
					"&X-Amz-SignedHeaders=host&X-Amz-Signature=3045022100ab", nil))
				return setup{in: in, creds: []Credential{testCred(false)}}
			}},
		{name: "SigV4A streaming", want: Result{Name: "AWS_PROD", Region: "*", Service: "s3", Reason: "streaming payloads are not supported with SigV4A"},
			setup: func(t *testing.T) setup {
				c := testCred(false)
				req := newReq(t, http.MethodPut, "https://b.mrap.accesspoint.s3-global.amazonaws.com/k", body,
					"X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
				signV4A(t, req, c, []byte("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"), "s3", "*")
				return setup{in: wire(t, req), creds: []Credential{c}, body: body}
			}},
		{name: "body over 64 MiB", want: Result{Name: "AWS_PROD", Region: "us-east-1", Service: "lambda", Reason: "body over 64 MiB"},
			setup: func(t *testing.T) setup {
				c := testCred(false)
				big := bytes.Repeat([]byte("x"), maxBody+1)
				req := newReq(t, http.MethodPost, "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations", big)
				sdkSign(t, req, surrogateOf(c), sha(big), "lambda", "us-east-1", signTime)
				in := wire(t, req)
				return setup{in: in, creds: []Credential{c}, body: big}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup(t)
			before := snap(s.in)
			res := Resign(s.in, hostOf(s.in), s.creds, signTime.Add(time.Minute))
			reason, wantReason := res.Reason, tc.want.Reason
			res.Reason, tc.want.Reason = "", ""
			if res != tc.want {
				t.Errorf("Resign = %+v (reason %q), want %+v", res, reason, tc.want)
			}
			if !strings.Contains(reason, wantReason) || (wantReason == "") != (reason == "") {
				t.Errorf("Reason = %q, want it to say %q", reason, wantReason)
			}
			before.check(t, s.in)
			if got := readBody(t, s.in); !bytes.Equal(got, s.body) {
				t.Errorf("body changed: %d bytes, want %d", len(got), len(s.body))
			}
		})
	}
}

func TestResignNotes(t *testing.T) {
	c := testCred(false)
	body := []byte("x")
	t.Run("clock skew", func(t *testing.T) {
		in := signedS3Put(t, c, body)
		res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(-7*time.Minute))
		if !res.Resigned || res.Reason != "clock skew: X-Amz-Date is 7m0s ahead of the proxy's clock" {
			t.Errorf("Resign = %+v", res)
		}
	})
	t.Run("expired presigned URL", func(t *testing.T) {
		uri, hdr := sdkPresign(t, newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k?X-Amz-Expires=60", nil),
			surrogateOf(c), unsignedPayload, "s3", "us-east-1", signTime)
		in := wire(t, presignedRequest(t, http.MethodGet, uri, hdr))
		res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(2*time.Minute))
		if !res.Resigned || res.Reason != "presigned URL has expired" {
			t.Errorf("Resign = %+v", res)
		}
	})
	t.Run("old presigned URL still valid", func(t *testing.T) {
		uri, hdr := sdkPresign(t, newReq(t, http.MethodGet, "https://b.s3.us-east-1.amazonaws.com/k?X-Amz-Expires=86400", nil),
			surrogateOf(c), unsignedPayload, "s3", "us-east-1", signTime)
		in := wire(t, presignedRequest(t, http.MethodGet, uri, hdr))
		res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(3*time.Hour))
		if !res.Resigned || res.Reason != "" {
			t.Errorf("Resign = %+v", res)
		}
	})
}

// TestScopeChoosesCredential: two credentials may share a surrogate key
// ID only by accident; the one scoped to the host is used.
func TestScopeChoosesCredential(t *testing.T) {
	other := testCred(false)
	other.Name, other.Scopes, other.AccessKeyID = "OTHER", []string{"*.example.com"}, "AKIAOTHERKEY00000005"
	c := testCred(false)
	in := signedS3Put(t, c, []byte("x"))
	res := Resign(in, hostOf(in), []Credential{other, c}, signTime)
	if res.Name != c.Name || !res.Resigned {
		t.Fatalf("Resign = %+v", res)
	}
	if !strings.Contains(in.Header.Get("Authorization"), "Credential="+c.AccessKeyID+"/") {
		t.Errorf("signed with the wrong key: %s", in.Header.Get("Authorization"))
	}
}
