package awssig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/aws-http-auth/credentials"
	"github.com/aws/smithy-go/aws-http-auth/sigv4a"
	httpauth "github.com/aws/smithy-go/aws-http-auth/v4"
)

// signV4A signs req as a SigV4A client does, with the surrogate key.
func signV4A(t testing.TB, req *http.Request, c Credential, hash []byte, service, regionSet string) {
	t.Helper()
	s := sigv4a.New(func(o *httpauth.SignerOptions) { o.DisableDoublePathEscape = isS3(service) })
	err := s.SignRequest(&sigv4a.SignRequestInput{
		Request:     req,
		PayloadHash: hash,
		Credentials: credentials.Credentials{AccessKeyID: c.SurrogateAccessKeyID, SecretAccessKey: c.SurrogateSecretAccessKey, SessionToken: c.SurrogateSessionToken},
		Service:     service,
		RegionSet:   []string{regionSet},
		Time:        signTime,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// v4aPublicKey derives the SigV4A public key of a key pair the way
// smithy-go does (FIPS 186-4 B.4.2 with a NIST SP 800-108 counter-mode
// HMAC-SHA256 KDF). Test-only: it lets the tests check ECDSA signatures.
func v4aPublicKey(t testing.TB, akid, secret string) *ecdsa.PublicKey {
	t.Helper()
	nMinus2 := new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(2))
	for counter := 1; counter < 256; counter++ {
		var fixed bytes.Buffer
		fixed.WriteString(algV4A)
		fixed.WriteByte(0)
		fixed.WriteString(akid)
		fixed.WriteByte(byte(counter))
		binary.Write(&fixed, binary.BigEndian, int32(256))
		h := hmac.New(sha256.New, []byte("AWS4A"+secret))
		binary.Write(h, binary.BigEndian, int32(1))
		h.Write(fixed.Bytes())
		k := new(big.Int).SetBytes(h.Sum(nil))
		if k.Cmp(nMinus2) < 0 {
			k.Add(k, big.NewInt(1))
			priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), k.FillBytes(make([]byte, 32)))
			if err != nil {
				t.Fatal(err)
			}
			return &priv.PublicKey
		}
	}
	t.Fatal("no key derived")
	return nil
}

// v4aAuth is a SigV4A signature as the test verifier reads it.
type v4aAuth struct {
	kid, scope, signedHeaders, date, payloadHash string
	sig                                          []byte
	presigned                                    bool // X-Amz-Signature is left out of the canonical query
}

// verifyV4A checks r's SigV4A Authorization header against the key pair.
func verifyV4A(t testing.TB, r *http.Request, akid, secret string) bool {
	t.Helper()
	authz := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(authz, algV4A+" Credential=")
	if !ok {
		t.Fatalf("not SigV4A: %q", authz)
	}
	fields := strings.Split(rest, ", ")
	sig, err := hex.DecodeString(strings.TrimPrefix(fields[2], "Signature="))
	if err != nil {
		t.Fatal(err)
	}
	a := v4aAuth{signedHeaders: strings.TrimPrefix(fields[1], "SignedHeaders="), date: r.Header.Get("X-Amz-Date"), sig: sig}
	a.kid, a.scope, _ = strings.Cut(fields[0], "/")
	a.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	if a.payloadHash == "" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		a.payloadHash = sha(body)
	}
	return checkV4A(t, r, akid, secret, a)
}

// verifyV4AQuery checks the signature of r's presigned SigV4A URL against
// the key pair. The payload hash is UNSIGNED-PAYLOAD unless the request
// has x-amz-content-sha256.
func verifyV4AQuery(t testing.TB, r *http.Request, akid, secret string) bool {
	t.Helper()
	q := r.URL.Query()
	for _, k := range []string{qAlgorithm, qCredential, qDate, qExpires, qSignedHeaders, qRegionSet, qSignature} {
		if len(q[k]) != 1 {
			t.Fatalf("presigned URL has %d %s", len(q[k]), k)
		}
	}
	if q.Get(qAlgorithm) != algV4A {
		t.Fatalf("not SigV4A: %s", q.Get(qAlgorithm))
	}
	sig, err := hex.DecodeString(q.Get(qSignature))
	if err != nil {
		t.Fatal(err)
	}
	a := v4aAuth{signedHeaders: q.Get(qSignedHeaders), date: q.Get(qDate), sig: sig, presigned: true}
	a.kid, a.scope, _ = strings.Cut(q.Get(qCredential), "/")
	a.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	if a.payloadHash == "" {
		a.payloadHash = unsignedPayload
	}
	return checkV4A(t, r, akid, secret, a)
}

// checkV4A checks a SigV4A signature against the key pair, with a
// canonical request written here from AWS's documentation, independent of
// both the package and the signing library.
func checkV4A(t testing.TB, r *http.Request, akid, secret string, a v4aAuth) bool {
	t.Helper()
	if a.kid != akid {
		return false
	}
	service := strings.Split(a.scope, "/")[1]

	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !isS3(service) {
		var b strings.Builder
		for i := 0; i < len(path); i++ {
			c := path[i]
			if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		path = b.String()
	}
	enc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var params []string
	for k, vs := range r.URL.Query() {
		if a.presigned && k == qSignature {
			continue
		}
		for _, v := range vs {
			params = append(params, enc(k)+"="+enc(v))
		}
	}
	sort.Strings(params)
	var headers strings.Builder
	for _, name := range strings.Split(a.signedHeaders, ";") {
		vals := slices.Clone(r.Header.Values(name))
		if name == "host" {
			vals = []string{r.Host}
		}
		for i := range vals {
			vals[i] = strings.TrimSpace(vals[i])
		}
		headers.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	canonical := strings.Join([]string{r.Method, path, strings.Join(params, "&"), headers.String(), a.signedHeaders, a.payloadHash}, "\n")
	cr := sha256.Sum256([]byte(canonical))
	sts := strings.Join([]string{algV4A, a.date, a.scope, hex.EncodeToString(cr[:])}, "\n")
	digest := sha256.Sum256([]byte(sts))
	return ecdsa.VerifyASN1(v4aPublicKey(t, akid, secret), digest[:], a.sig)
}

func TestResignSigV4A(t *testing.T) {
	cases := []struct {
		name              string
		session           bool
		service, regions  string
		body              []byte
		hashHeader        bool // S3: send x-amz-content-sha256
		method, url       string
		headers           []string
		wantSignedHeaders string
	}{
		{name: "s3 multi-region access point put", session: true, service: "s3", regions: "*", hashHeader: true,
			body: []byte("object body"), method: http.MethodPut,
			url:               "https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/dir/a%20b+c%C3%BC.txt?x-id=PutObject",
			headers:           []string{"X-Amz-Meta-Owner", "agent", "Content-Type", "text/plain"},
			wantSignedHeaders: "host;x-amz-content-sha256;x-amz-date;x-amz-meta-owner;x-amz-region-set;x-amz-security-token"},
		{name: "lambda post, body hash, path escaped twice", service: "lambda", regions: "us-east-1,us-west-2",
			body: []byte(`{"payload":1}`), method: http.MethodPost,
			url:               "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my%20fn/invocations",
			headers:           []string{"X-Amz-Invocation-Type", "Event"},
			wantSignedHeaders: "host;x-amz-date;x-amz-invocation-type;x-amz-region-set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testCred(tc.session)
			sum := sha256.Sum256(tc.body)
			headers := tc.headers
			if tc.hashHeader {
				headers = append(headers, "X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			}
			req := newReq(t, tc.method, tc.url, tc.body, headers...)
			signV4A(t, req, c, sum[:], tc.service, tc.regions)
			in := wire(t, req)
			// The test's verifier accepts the library's signature: it is right.
			if !verifyV4A(t, in, c.SurrogateAccessKeyID, c.SurrogateSecretAccessKey) {
				t.Fatal("test verifier rejects the client's surrogate signature")
			}

			res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(time.Minute))
			want := Result{Name: c.Name, Region: tc.regions, Service: tc.service, Resigned: true}
			if res != want {
				t.Fatalf("Resign = %+v, want %+v", res, want)
			}
			if !verifyV4A(t, in, c.AccessKeyID, c.SecretAccessKey) {
				t.Errorf("re-signed request does not verify with the real key: %s", in.Header.Get("Authorization"))
			}
			if verifyV4A(t, in, c.AccessKeyID, c.SurrogateSecretAccessKey) {
				t.Error("the test verifier accepts a signature made with another secret")
			}
			if !strings.Contains(in.Header.Get("Authorization"), "SignedHeaders="+tc.wantSignedHeaders+",") {
				t.Errorf("signed headers changed: %s", in.Header.Get("Authorization"))
			}
			if got := in.Header.Get("X-Amz-Security-Token"); tc.session && got != realToken || !tc.session && got != "" {
				t.Errorf("X-Amz-Security-Token = %q", got)
			}
			if got := readBody(t, in); !bytes.Equal(got, tc.body) {
				t.Errorf("body = %q", got)
			}
			noSurrogate(t, in, c)
		})
	}
}

func surrogateV4A(c Credential) credentials.Credentials {
	return credentials.Credentials{AccessKeyID: c.SurrogateAccessKeyID, SecretAccessKey: c.SurrogateSecretAccessKey, SessionToken: c.SurrogateSessionToken}
}

// presignV4A presigns req as a SigV4A client does (smithy-go's sigv4a in
// query-string mode); a nil hash lets the signer choose (UNSIGNED-PAYLOAD
// for a body it cannot seek).
func presignV4A(t testing.TB, req *http.Request, cred credentials.Credentials, hash []byte, service, regionSet string) {
	t.Helper()
	s := sigv4a.New(func(o *httpauth.SignerOptions) { o.DisableDoublePathEscape = isS3(service) })
	err := s.SignRequest(&sigv4a.SignRequestInput{
		Request:       req,
		PayloadHash:   hash,
		Credentials:   cred,
		Service:       service,
		RegionSet:     []string{regionSet},
		Time:          signTime,
		SignatureType: httpauth.SignatureTypeQueryString,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withoutAuth is q without the parameters Resign replaces.
func withoutAuth(q url.Values) url.Values {
	out := url.Values{}
	for k, vs := range q {
		if k != qCredential && k != qSignature && k != qSecurityToken {
			out[k] = vs
		}
	}
	return out
}

func TestResignPresignedSigV4A(t *testing.T) {
	cases := []struct {
		name             string
		session          bool
		longTermReal     bool // the real key has no session token (the surrogate has one)
		service, regions string
		method, url      string
		headers          []string
		body             []byte
		hashHeader       bool // send and sign x-amz-content-sha256 (else the signer picks UNSIGNED-PAYLOAD)
		wantSigned       string
	}{
		{name: "s3 mrap get, session token, extra parameters, escaped key", session: true, service: "s3", regions: "*",
			method: http.MethodGet,
			url: "https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/dir/a%20b+c%C3%BC%2Bd.txt" +
				"?x-id=GetObject&response-content-type=text%2Fplain%3B%20charset%3Dutf-8" +
				"&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&X-Amz-Expires=900",
			wantSigned: "host"},
		{name: "s3 get without session token, repeated and empty parameters", service: "s3", regions: "us-east-1,us-west-2",
			method:     http.MethodGet,
			url:        "https://b.mrap.accesspoint.s3-global.amazonaws.com/k%20ey?versionId=3&tag=a-b&tag=a%2Fb&empty&X-Amz-Expires=604800",
			wantSigned: "host"},
		{name: "s3 put with signed meta header and content hash", session: true, service: "s3", regions: "*",
			method: http.MethodPut, body: []byte("object body"), hashHeader: true,
			url:        "https://b.mrap.accesspoint.s3-global.amazonaws.com/up.txt?x-id=PutObject&X-Amz-Expires=600",
			headers:    []string{"X-Amz-Meta-Owner", "agent"},
			wantSigned: "host;x-amz-content-sha256;x-amz-meta-owner"},
		{name: "real key is long-term: the token goes", session: true, longTermReal: true, service: "s3", regions: "*",
			method:     http.MethodGet,
			url:        "https://b.mrap.accesspoint.s3-global.amazonaws.com/k?X-Amz-Expires=60&x-id=GetObject",
			wantSigned: "host"},
		{name: "non-s3 service, path escaped twice", service: "execute-api", regions: "*",
			method:     http.MethodGet,
			url:        "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a%20b/c%2Fd+e/%C3%BC?q=x%20y&q=a&z=%2B&X-Amz-Expires=60",
			wantSigned: "host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testCred(tc.session)
			if tc.longTermReal {
				c.AccessKeyID, c.SessionToken = "AKIAREALKEY000000001", ""
			}
			headers := tc.headers
			var hash []byte
			if tc.hashHeader {
				sum := sha256.Sum256(tc.body)
				hash = sum[:]
				headers = append(headers, "X-Amz-Content-Sha256", hex.EncodeToString(hash))
			}
			req := newReq(t, tc.method, tc.url, tc.body, headers...)
			presignV4A(t, req, surrogateV4A(c), hash, tc.service, tc.regions)
			in := wire(t, req)
			if !verifyV4AQuery(t, in, c.SurrogateAccessKeyID, c.SurrogateSecretAccessKey) {
				t.Fatal("test verifier rejects the client's surrogate signature")
			}
			qBefore := in.URL.Query()
			keysBefore := queryKeys(in.URL.RawQuery)
			pathBefore := in.URL.EscapedPath()
			before := snap(in)

			res := Resign(in, hostOf(in), []Credential{testCred(!tc.session), c}, signTime.Add(time.Minute))
			want := Result{Name: c.Name, Region: tc.regions, Service: tc.service, Resigned: true}
			if res != want {
				t.Fatalf("Resign = %+v, want %+v", res, want)
			}

			q := in.URL.Query()
			if got, w := q[qCredential], c.AccessKeyID+"/20250304/"+tc.service+"/aws4_request"; len(got) != 1 || got[0] != w {
				t.Errorf("X-Amz-Credential = %q, want %q", got, w)
			}
			if got := q[qSecurityToken]; tc.session && !tc.longTermReal && (len(got) != 1 || got[0] != realToken) ||
				(!tc.session || tc.longTermReal) && len(got) != 0 {
				t.Errorf("X-Amz-Security-Token = %q", got)
			}
			if !verifyV4AQuery(t, in, c.AccessKeyID, c.SecretAccessKey) {
				t.Errorf("re-signed URL does not verify with the real key: %s", in.URL.RawQuery)
			}
			if verifyV4AQuery(t, in, c.AccessKeyID, c.SurrogateSecretAccessKey) {
				t.Error("the test verifier accepts a signature made with another secret")
			}
			if got := q.Get(qSignedHeaders); got != tc.wantSigned {
				t.Errorf("X-Amz-SignedHeaders = %q, want %q", got, tc.wantSigned)
			}
			// Every other parameter (date, expiry, region set, the
			// client's own) is as the client sent it, in the same order.
			if got, w := withoutAuth(q), withoutAuth(qBefore); !sameValues(got, w) {
				t.Errorf("query\n got %v\nwant %v", got, w)
			}
			wantKeys := slices.DeleteFunc(keysBefore, func(k string) bool { return tc.longTermReal && k == qSecurityToken })
			if got := queryKeys(in.URL.RawQuery); !slices.Equal(got, wantKeys) {
				t.Errorf("query order changed:\n got %v\nwant %v", got, wantKeys)
			}
			if in.URL.EscapedPath() != pathBefore {
				t.Errorf("path changed: %s", in.URL.EscapedPath())
			}
			if fmt.Sprint(in.Header) != fmt.Sprint(before.header) {
				t.Errorf("headers changed:\n got %v\nwant %v", in.Header, before.header)
			}
			if got := readBody(t, in); !bytes.Equal(got, tc.body) && len(got)+len(tc.body) > 0 {
				t.Errorf("body = %q", got)
			}
			noSurrogate(t, in, c)
		})
	}
}

// dropParam removes key's pairs from a raw query.
func dropParam(raw, key string) string {
	var out []string
	for _, p := range strings.Split(raw, "&") {
		if k, _, _ := strings.Cut(p, "="); k != key {
			out = append(out, p)
		}
	}
	return strings.Join(out, "&")
}

// setParam replaces the value of key's pairs in a raw query with value
// (written as is).
func setParam(raw, key, value string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if k, _, _ := strings.Cut(p, "="); k == key {
			parts[i] = k + "=" + value
		}
	}
	return strings.Join(parts, "&")
}

func TestResignPresignedSigV4ALeavesRequestAlone(t *testing.T) {
	const mrap = "https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/k"
	// presigned is a surrogate-presigned SigV4A GET as it reaches the proxy.
	presigned := func(t *testing.T, c Credential, rawURL string, headers ...string) *http.Request {
		req := newReq(t, http.MethodGet, rawURL, nil, headers...)
		presignV4A(t, req, surrogateV4A(c), nil, "s3", "*")
		return wire(t, req)
	}
	type setup struct {
		in    *http.Request
		c     Credential
		after time.Duration // how long after signing Resign is called; a minute if 0
	}
	cases := []struct {
		name   string
		setup  func(t *testing.T) setup
		reason string
	}{
		{name: "X-Amz-Region-Set twice", reason: "presigned URL needs exactly one X-Amz-Region-Set",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery += "&X-Amz-Region-Set=us-east-1"
				return setup{in: in, c: c}
			}},
		{name: "X-Amz-Expires twice", reason: "presigned URL needs exactly one X-Amz-Expires",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=900&X-Amz-Expires=60"), c: c}
			}},
		{name: "X-Amz-Signature twice", reason: "presigned URL needs exactly one X-Amz-Signature",
			setup: func(t *testing.T) setup {
				c := testCred(false)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery += "&X-Amz-Signature=" + in.URL.Query().Get(qSignature)
				return setup{in: in, c: c}
			}},
		{name: "X-Amz-Security-Token twice", reason: "presigned URL needs exactly one X-Amz-Security-Token",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery += "&X-Amz-Security-Token=" + url.QueryEscape(surrogateToken)
				return setup{in: in, c: c}
			}},
		{name: "X-Amz-Credential twice", reason: "presigned URL needs exactly one X-Amz-Credential",
			setup: func(t *testing.T) setup {
				c := testCred(false)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery += "&X-Amz-Credential=" + url.QueryEscape(in.URL.Query().Get(qCredential))
				return setup{in: in, c: c}
			}},
		{name: "no X-Amz-Region-Set", reason: "presigned URL needs exactly one X-Amz-Region-Set",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = dropParam(in.URL.RawQuery, qRegionSet)
				return setup{in: in, c: c}
			}},
		{name: "empty X-Amz-Region-Set", reason: "need exactly one non-empty X-Amz-Region-Set",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = setParam(in.URL.RawQuery, qRegionSet, "")
				return setup{in: in, c: c}
			}},
		{name: "no X-Amz-Expires", reason: "presigned URL needs exactly one X-Amz-Expires",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?x-id=GetObject"), c: c}
			}},
		{name: "no X-Amz-SignedHeaders", reason: "presigned URL needs exactly one X-Amz-SignedHeaders",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = dropParam(in.URL.RawQuery, qSignedHeaders)
				return setup{in: in, c: c}
			}},
		{name: "no X-Amz-Date", reason: "presigned URL needs exactly one X-Amz-Date",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = dropParam(in.URL.RawQuery, qDate)
				return setup{in: in, c: c}
			}},
		{name: "no X-Amz-Signature", reason: "presigned URL needs exactly one X-Amz-Signature",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = dropParam(in.URL.RawQuery, qSignature)
				return setup{in: in, c: c}
			}},
		{name: "expired", reason: "presigned URL has expired",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=900"), c: c, after: 901 * time.Second}
			}},
		{name: "malformed X-Amz-Expires", reason: "malformed X-Amz-Expires",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=15m"), c: c}
			}},
		{name: "X-Amz-Expires zero", reason: "X-Amz-Expires is not between 1 and 604800 seconds",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=0"), c: c}
			}},
		{name: "X-Amz-Expires over 7 days", reason: "X-Amz-Expires is not between 1 and 604800 seconds",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=604801"), c: c}
			}},
		{name: "X-Amz-Date not on the scope's date", reason: "X-Amz-Date is not on the credential scope's date",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = setParam(in.URL.RawQuery, qDate, "20250305T050607Z")
				return setup{in: in, c: c}
			}},
		{name: "SigV4 credential scope", reason: "malformed credential scope",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = setParam(in.URL.RawQuery, qCredential, url.QueryEscape(c.SurrogateAccessKeyID+"/20250304/us-east-1/s3/aws4_request"))
				return setup{in: in, c: c}
			}},
		{name: "session token not the surrogate's", reason: "not the credential's surrogate token",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				cred := surrogateV4A(c)
				cred.SessionToken = "some-token-the-agent-brought"
				req := newReq(t, http.MethodGet, mrap+"?X-Amz-Expires=900", nil)
				presignV4A(t, req, cred, nil, "s3", "*")
				return setup{in: wire(t, req), c: c}
			}},
		{name: "session token also in a header", reason: "X-Amz-Security-Token is not where the signature is",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.Header.Set("X-Amz-Security-Token", surrogateToken)
				return setup{in: in, c: c}
			}},
		{name: "streaming payload", reason: "streaming payloads are not supported with SigV4A",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=900", "X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"), c: c}
			}},
		{name: "signed header missing", reason: "signed header x-amz-meta-owner is missing",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900", "X-Amz-Meta-Owner", "agent")
				in.Header.Del("X-Amz-Meta-Owner")
				return setup{in: in, c: c}
			}},
		{name: "x-amz-date listed as a signed header", reason: "the signed header list cannot be reproduced",
			setup: func(t *testing.T) setup {
				// smithy-go drops the X-Amz-Date header when it signs a query.
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.RawQuery = setParam(in.URL.RawQuery, qSignedHeaders, "host%3Bx-amz-date")
				in.Header.Set("X-Amz-Date", "20250304T050607Z")
				return setup{in: in, c: c}
			}},
		{name: "surrogate key ID in another parameter", reason: "a surrogate value would remain in the URL or headers",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=900&note="+c.SurrogateAccessKeyID), c: c}
			}},
		{name: "surrogate token in another header", reason: "a surrogate value would remain in the URL or headers",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, mrap+"?X-Amz-Expires=900", "X-Amz-Meta-Note", surrogateToken), c: c}
			}},
		{name: "plain http", reason: "plain HTTP",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				in := presigned(t, c, mrap+"?X-Amz-Expires=900")
				in.URL.Scheme = "http"
				return setup{in: in, c: c}
			}},
		{name: "out of scope host", reason: "out of scope",
			setup: func(t *testing.T) setup {
				c := testCred(true)
				return setup{in: presigned(t, c, "https://attacker.example/k?X-Amz-Expires=900"), c: c}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup(t)
			if s.after == 0 {
				s.after = time.Minute
			}
			before := snap(s.in)
			res := Resign(s.in, hostOf(s.in), []Credential{s.c}, signTime.Add(s.after))
			if res.Name != s.c.Name || res.Resigned || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("Resign = %+v, want it left alone saying %q", res, tc.reason)
			}
			before.check(t, s.in)
		})
	}
}

func TestResignPresignedSigV4ANotes(t *testing.T) {
	c := testCred(true)
	presigned := func(t *testing.T, expires string) *http.Request {
		req := newReq(t, http.MethodGet, "https://b.mrap.accesspoint.s3-global.amazonaws.com/k?X-Amz-Expires="+expires, nil)
		presignV4A(t, req, surrogateV4A(c), nil, "s3", "*")
		return wire(t, req)
	}
	t.Run("old URL still valid", func(t *testing.T) {
		in := presigned(t, "86400")
		res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(3*time.Hour))
		if !res.Resigned || res.Reason != "" || res.Region != "*" {
			t.Errorf("Resign = %+v", res)
		}
	})
	t.Run("signed ahead of the proxy's clock", func(t *testing.T) {
		in := presigned(t, "60")
		res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(-7*time.Minute))
		if !res.Resigned || res.Reason != "clock skew: X-Amz-Date is 7m0s ahead of the proxy's clock" {
			t.Errorf("Resign = %+v", res)
		}
	})
	t.Run("expired is left alone, said once", func(t *testing.T) {
		in := presigned(t, "60")
		res := Resign(in, hostOf(in), []Credential{c}, signTime.Add(2*time.Minute))
		if res.Resigned || res.Reason != "presigned URL has expired" {
			t.Errorf("Resign = %+v", res)
		}
	})
}
