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

// verifyV4A checks r's SigV4A signature against the key pair, with a
// canonical request written here from AWS's documentation, independent of
// both the package and the signing library.
func verifyV4A(t testing.TB, r *http.Request, akid, secret string) bool {
	t.Helper()
	authz := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(authz, algV4A+" Credential=")
	if !ok {
		t.Fatalf("not SigV4A: %q", authz)
	}
	fields := strings.Split(rest, ", ")
	scopeKey := fields[0]
	signed := strings.TrimPrefix(fields[1], "SignedHeaders=")
	sig, err := hex.DecodeString(strings.TrimPrefix(fields[2], "Signature="))
	if err != nil {
		t.Fatal(err)
	}
	kid, scope, _ := strings.Cut(scopeKey, "/")
	if kid != akid {
		return false
	}
	service := strings.Split(scope, "/")[1]

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
		for _, v := range vs {
			params = append(params, enc(k)+"="+enc(v))
		}
	}
	sort.Strings(params)
	var headers strings.Builder
	for _, name := range strings.Split(signed, ";") {
		vals := slices.Clone(r.Header.Values(name))
		if name == "host" {
			vals = []string{r.Host}
		}
		for i := range vals {
			vals[i] = strings.TrimSpace(vals[i])
		}
		headers.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		hash = sha(body)
	}
	canonical := strings.Join([]string{r.Method, path, strings.Join(params, "&"), headers.String(), signed, hash}, "\n")
	cr := sha256.Sum256([]byte(canonical))
	sts := strings.Join([]string{algV4A, r.Header.Get("X-Amz-Date"), scope, hex.EncodeToString(cr[:])}, "\n")
	digest := sha256.Sum256([]byte(sts))
	return ecdsa.VerifyASN1(v4aPublicKey(t, akid, secret), digest[:], sig)
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
