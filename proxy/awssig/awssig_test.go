package awssig

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// headerCase is a request a client signs in the Authorization header.
type headerCase struct {
	name            string
	session         bool
	service, region string
	// hash is the payload hash given to the signer, also sent as
	// x-amz-content-sha256 by build (S3); "" means the body's SHA-256
	// and no such header (other services).
	hash  string
	body  []byte
	build func(t testing.TB) *http.Request // a fresh unsigned request
}

func s3Put(path string, body []byte, extra ...string) func(t testing.TB) *http.Request {
	return func(t testing.TB) *http.Request {
		h := append([]string{"Content-Type", "image/jpeg", "X-Amz-Content-Sha256", sha(body), "X-Amz-Meta-Owner", "agent"}, extra...)
		return newReq(t, http.MethodPut, "https://bucket.s3.us-east-1.amazonaws.com"+path, body, h...)
	}
}

func headerCases() []headerCase {
	photo := []byte("\xff\xd8\xff\xe0 not really a jpeg")
	ddb := []byte(`{"TableName":"orders","Key":{"id":{"S":"42"}}}`)
	trailer := []byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n")
	return []headerCase{
		{name: "s3 put object", service: "s3", region: "us-east-1", hash: sha(photo), body: photo,
			build: s3Put("/photos/2025/cat.jpg", photo)},
		{name: "s3 put object with session token", session: true, service: "s3", region: "us-east-1", hash: sha(photo), body: photo,
			build: s3Put("/photos/2025/cat.jpg", photo)},
		{name: "s3 key with space, unicode and plus", service: "s3", region: "us-east-1", hash: sha(photo), body: photo,
			build: s3Put("/dir/a%20b/%C3%BCber+c.txt", photo)},
		{name: "s3 key with encoded slash and plus", service: "s3", region: "us-east-1", hash: sha(photo), body: photo,
			build: s3Put("/dir/a%2Fb%2Bc%20d.txt", photo)},
		{name: "s3 multi-valued and spaced headers", service: "s3", region: "us-east-1", hash: sha(photo), body: photo,
			build: s3Put("/x", photo, "X-Amz-Meta-Tag", "one", "X-Amz-Meta-Tag", "two", "X-Amz-Meta-Note", "a   b    c", "Cache-Control", "no-cache")},
		{name: "s3 get unsigned payload, range, repeated query keys", service: "s3", region: "eu-west-1", hash: unsignedPayload,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodGet,
					"https://bucket.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=a%2Fb&prefix=z+y&empty&delimiter=%2F&start-after=%C3%A9",
					nil, "Range", "bytes=0-9", "X-Amz-Content-Sha256", unsignedPayload)
			}},
		{name: "s3 get empty payload hash with session token", session: true, service: "s3", region: "us-east-1", hash: emptySHA,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodGet, "https://bucket.s3.us-east-1.amazonaws.com/k%20ey?versionId=3", nil,
					"X-Amz-Content-Sha256", emptySHA, "If-None-Match", `"abc"`)
			}},
		{name: "s3 unsigned-trailer upload", service: "s3", region: "us-east-1", hash: streamingTrailer, body: trailer,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodPut, "https://bucket.s3.us-east-1.amazonaws.com/t.txt", trailer,
					"X-Amz-Content-Sha256", streamingTrailer, "Content-Encoding", "aws-chunked",
					"X-Amz-Trailer", "x-amz-checksum-crc32", "X-Amz-Decoded-Content-Length", "5")
			}},
		{name: "dynamodb post without content hash", service: "dynamodb", region: "us-east-1", body: ddb,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodPost, "https://dynamodb.us-east-1.amazonaws.com/", ddb,
					"Content-Type", "application/x-amz-json-1.0", "X-Amz-Target", "DynamoDB_20120810.GetItem")
			}},
		{name: "dynamodb post with session token", session: true, service: "dynamodb", region: "us-east-1", body: ddb,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodPost, "https://dynamodb.us-east-1.amazonaws.com/", ddb,
					"Content-Type", "application/x-amz-json-1.0", "X-Amz-Target", "DynamoDB_20120810.GetItem")
			}},
		{name: "sts form post", service: "sts", region: "us-east-1", body: []byte("Action=GetCallerIdentity&Version=2011-06-15"),
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodPost, "https://sts.us-east-1.amazonaws.com/",
					[]byte("Action=GetCallerIdentity&Version=2011-06-15"), "Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			}},
		{name: "api gateway path escaped twice", service: "execute-api", region: "us-east-1",
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodGet, "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a%20b/c%2Fd+e/%C3%BC?q=x%20y&q=a&z=%2B", nil)
			}},
	}
}

func TestResignHeader(t *testing.T) {
	for _, tc := range headerCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := testCred(tc.session)
			hash := tc.hash
			if hash == "" {
				hash = sha(tc.body)
			}
			client := tc.build(t)
			sdkSign(t, client, surrogateOf(c), hash, tc.service, tc.region, signTime)
			in := wire(t, client)
			before := snap(in)

			res := Resign(in, hostOf(in), []Credential{testCred(!tc.session), c}, signTime.Add(30*time.Second))
			want := Result{Name: c.Name, Region: tc.region, Service: tc.service, Resigned: true}
			if res != want {
				t.Fatalf("Resign = %+v, want %+v", res, want)
			}

			// Independently: the same request signed by the SDK with the
			// real key is what went out.
			expect := tc.build(t)
			sdkSign(t, expect, realOf(c), hash, tc.service, tc.region, signTime)
			if got, w := in.Header.Get("Authorization"), expect.Header.Get("Authorization"); got != w {
				t.Errorf("Authorization\n got %s\nwant %s", got, w)
			}
			if got := in.Header.Values("X-Amz-Security-Token"); tc.session && (len(got) != 1 || got[0] != realToken) || !tc.session && len(got) != 0 {
				t.Errorf("X-Amz-Security-Token = %q", got)
			}
			// Nothing else changed.
			rest := in.Header.Clone()
			for _, h := range []string{"Authorization", "X-Amz-Security-Token"} {
				delete(before.header, h)
				delete(rest, h)
			}
			before.check(t, &http.Request{Method: in.Method, URL: in.URL, Header: rest})
			if got := readBody(t, in); !bytes.Equal(got, tc.body) {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
			noSurrogate(t, in, c)
		})
	}
}

// presignCase is a URL a client presigns.
type presignCase struct {
	name            string
	session         bool
	service, region string
	hash            string
	build           func(t testing.TB) *http.Request
}

func presignCases() []presignCase {
	return []presignCase{
		{name: "s3 presigned get", service: "s3", region: "us-east-1", hash: unsignedPayload,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodGet, "https://bucket.s3.us-east-1.amazonaws.com/reports/q1%20final+%C3%A9.pdf"+
					"?response-content-disposition=attachment%3B%20filename%3D%22q1.pdf%22&X-Amz-Expires=900&x-id=GetObject&x-id=again", nil)
			}},
		{name: "s3 presigned get with session token", session: true, service: "s3", region: "us-west-2", hash: unsignedPayload,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodGet, "https://bucket.s3.us-west-2.amazonaws.com/a%2Fb?X-Amz-Expires=3600", nil)
			}},
		{name: "s3 presigned put with signed content-type", session: true, service: "s3", region: "us-east-1", hash: unsignedPayload,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodPut, "https://bucket.s3.us-east-1.amazonaws.com/up.txt?X-Amz-Expires=600", nil,
					"Content-Type", "text/plain")
			}},
		{name: "sts presigned get (EKS token shape)", service: "sts", region: "us-east-1", hash: emptySHA,
			build: func(t testing.TB) *http.Request {
				return newReq(t, http.MethodGet, "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", nil,
					"X-K8s-Aws-Id", "my-cluster")
			}},
	}
}

// presignedRequest is what a client sends for a presigned URL: the URL and
// the headers the presigner says must go with it.
func presignedRequest(t testing.TB, method, uri string, hdr http.Header) *http.Request {
	req := newReq(t, method, uri, nil)
	for k, vs := range hdr {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	return req
}

func queryKeys(raw string) []string {
	var keys []string
	for _, p := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(p, "=")
		keys = append(keys, k)
	}
	return keys
}

func TestResignPresigned(t *testing.T) {
	for _, tc := range presignCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := testCred(tc.session)
			orig := tc.build(t)
			uri, hdr := sdkPresign(t, orig, surrogateOf(c), tc.hash, tc.service, tc.region, signTime)
			in := wire(t, presignedRequest(t, orig.Method, uri, hdr))
			keysBefore := queryKeys(in.URL.RawQuery)
			pathBefore := in.URL.EscapedPath()
			before := snap(in)

			res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(time.Minute))
			want := Result{Name: c.Name, Region: tc.region, Service: tc.service, Resigned: true}
			if res != want {
				t.Fatalf("Resign = %+v, want %+v", res, want)
			}

			expURI, _ := sdkPresign(t, tc.build(t), realOf(c), tc.hash, tc.service, tc.region, signTime)
			exp, err := url.Parse(expURI)
			if err != nil {
				t.Fatal(err)
			}
			if got, w := in.URL.Query(), exp.Query(); !sameValues(got, w) {
				t.Errorf("query\n got %v\nwant %v", got, w)
			}
			if got := queryKeys(in.URL.RawQuery); strings.Join(got, "&") != strings.Join(keysBefore, "&") {
				t.Errorf("query order changed:\n got %v\nwant %v", got, keysBefore)
			}
			if in.URL.EscapedPath() != pathBefore {
				t.Errorf("path changed: %s", in.URL.EscapedPath())
			}
			if fmt.Sprint(in.Header) != fmt.Sprint(before.header) {
				t.Errorf("headers changed:\n got %v\nwant %v", in.Header, before.header)
			}
			noSurrogate(t, in, c)
		})
	}
}

// TestAWSDocumentedExamples runs AWS's published SigV4 examples (S3 API
// reference: header auth GET, presigned GET, chunked upload) through
// Resign, with AWS's example key as the surrogate. That Resign accepts them
// shows the rebuilt request reproduces AWS's own canonical requests, and
// that the SDK's event-stream chunk signer computes S3's chunk signatures.
func TestAWSDocumentedExamples(t *testing.T) {
	aws := Credential{
		Name:        "EXAMPLE",
		AccessKeyID: "AKIAREALKEY000000001", SecretAccessKey: realSecret,
		SurrogateAccessKeyID: "AKIAIOSFODNN7EXAMPLE", SurrogateSecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		Scopes: []string{"*.amazonaws.com"},
	}
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

	t.Run("header auth GET", func(t *testing.T) {
		build := func(t testing.TB) *http.Request {
			return newReq(t, http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil,
				"Range", "bytes=0-9", "X-Amz-Content-Sha256", emptySHA)
		}
		req := build(t)
		req.Header.Set("X-Amz-Date", "20130524T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
		in := wire(t, req)
		if res := Resign(in, hostOf(in), []Credential{aws}, at); !res.Resigned || res.Reason != "" {
			t.Fatalf("Resign = %+v", res)
		}
		expect := build(t)
		sdkSign(t, expect, realOf(aws), emptySHA, "s3", "us-east-1", at)
		if got, w := in.Header.Get("Authorization"), expect.Header.Get("Authorization"); got != w {
			t.Errorf("Authorization\n got %s\nwant %s", got, w)
		}
	})

	t.Run("presigned GET", func(t *testing.T) {
		in := wire(t, newReq(t, http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"+
			"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"+
			"&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", nil))
		if res := Resign(in, hostOf(in), []Credential{aws}, at); !res.Resigned || res.Reason != "" {
			t.Fatalf("Resign = %+v", res)
		}
		expURI, _ := sdkPresign(t, newReq(t, http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Expires=86400", nil),
			realOf(aws), unsignedPayload, "s3", "us-east-1", at)
		exp, _ := url.Parse(expURI)
		if !sameValues(in.URL.Query(), exp.Query()) {
			t.Errorf("query\n got %v\nwant %v", in.URL.Query(), exp.Query())
		}
	})

	t.Run("chunked upload", func(t *testing.T) {
		a1, a2 := bytes.Repeat([]byte("a"), 65536), bytes.Repeat([]byte("a"), 1024)
		body := []byte("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" + string(a1) + "\r\n" +
			"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" + string(a2) + "\r\n" +
			"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
		build := func(t testing.TB, body []byte) *http.Request {
			req := newReq(t, http.MethodPut, "https://s3.amazonaws.com/examplebucket/chunkObject.txt", body,
				"X-Amz-Storage-Class", "REDUCED_REDUNDANCY", "X-Amz-Content-Sha256", streamingSigned,
				"Content-Encoding", "aws-chunked", "X-Amz-Decoded-Content-Length", "66560")
			req.ContentLength = 66824
			return req
		}
		req := build(t, body)
		req.Header.Set("X-Amz-Date", "20130524T000000Z")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
			"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		in := wire(t, req)
		if res := Resign(in, hostOf(in), []Credential{aws}, at); !res.Resigned || res.Reason != "" {
			t.Fatalf("Resign = %+v", res)
		}
		expect := build(t, nil)
		expect.ContentLength = 66824
		sdkSign(t, expect, realOf(aws), streamingSigned, "s3", "us-east-1", at)
		if got, w := in.Header.Get("Authorization"), expect.Header.Get("Authorization"); got != w {
			t.Fatalf("Authorization\n got %s\nwant %s", got, w)
		}
		got := readBody(t, in)
		want := frameChunks(t, append(a1, a2...), 65536, realOf(aws), authSig(t, expect.Header.Get("Authorization")), "us-east-1", at)
		if !bytes.Equal(got, want) {
			t.Errorf("re-signed body differs (%d bytes, want %d)", len(got), len(want))
		}
	})
}
