package awssig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signTime is when the test clients sign; Resign is told it is a little
// later.
var signTime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

const (
	realSecret      = "R3alSecretR3alSecretR3alSecret/R3alSecre"
	surrogateSecret = "SurrogateSecretSurrogateSecret+Surrogate"
	realToken       = "FwoGZXIvYXdzEREALsessionTOKEN//real+token=="
	surrogateToken  = "FwoGZXIvYXdzESURROGATEsessionTOKEN//surr+tok=="
	emptySHA        = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// testCred is the masked credential the tests use; session gives it
// temporary (ASIA, session token) keys.
func testCred(session bool) Credential {
	c := Credential{
		Name:        "AWS_PROD",
		AccessKeyID: "AKIAREALKEY000000001", SecretAccessKey: realSecret,
		SurrogateAccessKeyID: "AKIASURROGATE0000002", SurrogateSecretAccessKey: surrogateSecret,
		Scopes: []string{"*.amazonaws.com"},
	}
	if session {
		c.AccessKeyID, c.SessionToken = "ASIAREALKEY000000003", realToken
		c.SurrogateAccessKeyID, c.SurrogateSessionToken = "ASIASURROGATE0000004", surrogateToken
	}
	return c
}

func surrogateOf(c Credential) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.SurrogateAccessKeyID, SecretAccessKey: c.SurrogateSecretAccessKey, SessionToken: c.SurrogateSessionToken}
}

func realOf(c Credential) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newReq builds a client request; body may be nil.
func newReq(t testing.TB, method, rawURL string, body []byte, headers ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// sdkSign signs req the way an SDK client does (the S3 client signs the
// path as sent; others escape it again). The session token is added and
// signed when cred has one.
func sdkSign(t testing.TB, req *http.Request, cred aws.Credentials, hash, service, region string, at time.Time) {
	t.Helper()
	s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" })
	if err := s.SignHTTP(context.Background(), cred, req, hash, service, region, at); err != nil {
		t.Fatal(err)
	}
}

func sdkPresign(t testing.TB, req *http.Request, cred aws.Credentials, hash, service, region string, at time.Time) (string, http.Header) {
	t.Helper()
	s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" })
	uri, hdr, err := s.PresignHTTP(context.Background(), cred, req, hash, service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	return uri, hdr
}

// wire sends req through HTTP/1.1 framing and parses it back the way the
// proxy's server does, then points it upstream like the proxy: what
// Resign gets is what the client actually sent.
func wire(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	in, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		t.Fatal(err)
	}
	in.RequestURI = ""
	in.URL.Scheme = "https"
	in.URL.Host = in.Host
	return in
}

// hostOf is the host name Resign is given.
func hostOf(r *http.Request) string { return r.URL.Hostname() }

// snapshot is what must not change on a request that is left alone.
type snapshot struct {
	method, url string
	header      http.Header
}

func snap(r *http.Request) snapshot {
	return snapshot{r.Method, r.URL.String(), r.Header.Clone()}
}

func (s snapshot) check(t *testing.T, r *http.Request) {
	t.Helper()
	if r.Method != s.method || r.URL.String() != s.url {
		t.Errorf("request line changed: %s %s, was %s %s", r.Method, r.URL, s.method, s.url)
	}
	if fmt.Sprint(r.Header) != fmt.Sprint(s.header) {
		t.Errorf("headers changed:\n got %v\nwant %v", r.Header, s.header)
	}
}

// readBody reads what the transport would send.
func readBody(t testing.TB, r *http.Request) []byte {
	t.Helper()
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

// noSurrogate checks no surrogate value is left in the headers or query.
func noSurrogate(t *testing.T, r *http.Request, c Credential) {
	t.Helper()
	q, _ := url.QueryUnescape(r.URL.RawQuery)
	places := []string{r.URL.RawQuery, q}
	for k, vs := range r.Header {
		places = append(places, k+": "+strings.Join(vs, ", "))
	}
	for _, v := range []string{c.SurrogateAccessKeyID, c.SurrogateSecretAccessKey, c.SurrogateSessionToken} {
		if v == "" {
			continue
		}
		for _, p := range places {
			if strings.Contains(p, v) {
				t.Errorf("surrogate value left in %q", p)
			}
		}
	}
}

// frameChunks encodes payload as a signed aws-chunked body, chunk bytes a
// chunk, the way an S3 client does, chaining from seed (hex).
func frameChunks(t testing.TB, payload []byte, chunk int, cred aws.Credentials, seedHex, region string, at time.Time) []byte {
	t.Helper()
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		t.Fatal(err)
	}
	ss := v4.NewStreamSigner(cred, "s3", region, seed)
	var out bytes.Buffer
	write := func(data []byte) {
		sig, err := ss.GetSignature(context.Background(), nil, data, at)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%x;chunk-signature=%x\r\n", len(data), sig)
		out.Write(data)
		out.WriteString("\r\n")
	}
	for off := 0; off < len(payload); off += chunk {
		write(payload[off:min(off+chunk, len(payload))])
	}
	write(nil)
	return out.Bytes()
}

// framedLen is the length frameChunks gives, known before signing (the
// client signs Content-Length first).
func framedLen(n, chunk int) int {
	total := 0
	for n > 0 {
		size := min(chunk, n)
		total += len(fmt.Sprintf("%x", size)) + len(";chunk-signature=") + 64 + 2 + size + 2
		n -= size
	}
	return total + 1 + len(";chunk-signature=") + 64 + 2 + 2
}

// authSig returns the Signature= of an Authorization header.
func authSig(t testing.TB, authz string) string {
	t.Helper()
	_, sig, ok := strings.Cut(authz, "Signature=")
	if !ok {
		t.Fatalf("no signature in %q", authz)
	}
	return sig
}
