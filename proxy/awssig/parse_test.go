package awssig

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const sig64 = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

func TestParseAuthorization(t *testing.T) {
	ok := []struct {
		in   string
		want signature
	}{
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + sig64,
			signature{alg: algV4, keyID: "AKIAIOSFODNN7EXAMPLE", date: "20130524", region: "us-east-1", service: "s3",
				signedHeaders: []string{"host", "range", "x-amz-date"}, sig: sig64}},
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig64,
			signature{alg: algV4, keyID: "AKIAIOSFODNN7EXAMPLE", date: "20130524", region: "us-east-1", service: "s3",
				signedHeaders: []string{"host"}, sig: sig64}},
		{"AWS4-HMAC-SHA256 Signature=" + sig64 + ",  SignedHeaders=host ,Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-west-1/execute-api/aws4_request",
			signature{alg: algV4, keyID: "AKIAIOSFODNN7EXAMPLE", date: "20130524", region: "eu-west-1", service: "execute-api",
				signedHeaders: []string{"host"}, sig: sig64}},
		{"AWS4-ECDSA-P256-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/s3/aws4_request, SignedHeaders=host;x-amz-region-set, Signature=3045022100abcd",
			signature{alg: algV4A, keyID: "AKIAIOSFODNN7EXAMPLE", date: "20130524", service: "s3",
				signedHeaders: []string{"host", "x-amz-region-set"}, sig: "3045022100abcd"}},
	}
	for _, tc := range ok {
		got, err := parseAuthorization(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseAuthorization(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	cred := "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	bad := []string{
		"",
		"AWS4-HMAC-SHA256",
		"Bearer " + cred,
		"AWS4-HMAC-SHA1 " + cred + ", SignedHeaders=host, Signature=" + sig64,
		"aws4-hmac-sha256 " + cred + ", SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host",
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sig64 + ", Signature=" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sig64 + ", Extra=1",
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + strings.ToUpper(sig64),
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sig64[:63],
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date;host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x, Signature=" + sig64,
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/s3/aws4_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIA/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPL!/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us east/s3/aws4_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524//s3/aws4_request, SignedHeaders=host, Signature=" + sig64,
		"AWS4-ECDSA-P256-SHA256 " + cred + ", SignedHeaders=host, Signature=3045",
		"AWS4-ECDSA-P256-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/s3/aws4_request, SignedHeaders=host, Signature=304",
		"AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=" + strings.Repeat("a;", 10000) + "b, Signature=" + sig64,
	}
	for _, in := range bad {
		if got, err := parseAuthorization(in); err == nil {
			t.Errorf("parseAuthorization(%q) = %+v, want an error", in, got)
		}
	}
}

func TestParsePresigned(t *testing.T) {
	base := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig64
	q, _ := url.ParseQuery(base)
	if s, err := parsePresigned(q); err != nil || s.keyID != "AKIAIOSFODNN7EXAMPLE" || s.sig != sig64 || s.service != "s3" {
		t.Errorf("parsePresigned = %+v, %v", s, err)
	}
	for _, extra := range []string{"&X-Amz-Signature=" + sig64, "&X-Amz-Date=20130524T000000Z", "&X-Amz-Expires=1",
		"&X-Amz-Security-Token=a&X-Amz-Security-Token=b", "&X-Amz-Credential=x"} {
		q, _ := url.ParseQuery(base + extra)
		if _, err := parsePresigned(q); err == nil {
			t.Errorf("parsePresigned accepts a repeated parameter: %s", extra)
		}
	}
	q, _ = url.ParseQuery(strings.Replace(base, "X-Amz-SignedHeaders=host&", "", 1))
	if _, err := parsePresigned(q); err == nil {
		t.Error("parsePresigned accepts a URL without X-Amz-SignedHeaders")
	}

	// SigV4A: X-Amz-Expires and X-Amz-Region-Set are required, once.
	v4a := "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-Region-Set=%2A&X-Amz-SignedHeaders=host&X-Amz-Signature=3045022100abcd"
	q, _ = url.ParseQuery(v4a)
	if s, err := parsePresigned(q); err != nil || s.alg != algV4A || s.keyID != "AKIAIOSFODNN7EXAMPLE" || s.service != "s3" || s.region != "" {
		t.Errorf("parsePresigned(SigV4A) = %+v, %v", s, err)
	}
	for _, bad := range []string{
		strings.Replace(v4a, "&X-Amz-Expires=86400", "", 1),
		strings.Replace(v4a, "&X-Amz-Region-Set=%2A", "", 1),
		v4a + "&X-Amz-Region-Set=us-east-1",
		v4a + "&X-Amz-Expires=1",
	} {
		q, _ := url.ParseQuery(bad)
		if _, err := parsePresigned(q); err == nil {
			t.Errorf("parsePresigned accepts %s", bad)
		}
	}
}

// FuzzAuthorization: the parsers must never panic, what they accept must
// be well-formed and survive a round trip, and their errors must not
// quote the input (it holds a surrogate key ID).
func FuzzAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + sig64)
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=" + sig64)
	f.Add("AWS4-ECDSA-P256-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/s3/aws4_request, SignedHeaders=host;x-amz-region-set, Signature=3045022100abcd")
	f.Add("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=;, Signature=")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig64)
	f.Add("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=900&X-Amz-Region-Set=%2A&X-Amz-SignedHeaders=host&X-Amz-Signature=3045022100abcd")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parseAuthorization(in)
		if err != nil {
			if len(in) >= 16 && strings.Contains(err.Error(), in) {
				t.Fatalf("error quotes the input: %v", err)
			}
		} else {
			checkParsed(t, s)
			again, err := parseAuthorization(formatAuthorization(s))
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Fatalf("round trip: %+v, %v; was %+v", again, err, s)
			}
		}
		q, _ := url.ParseQuery(in)
		if s, err := parsePresigned(q); err == nil {
			checkParsed(t, s)
		}
	})
}

func checkParsed(t *testing.T, s signature) {
	t.Helper()
	if s.alg != algV4 && s.alg != algV4A || !isAlnum(s.keyID) || len(s.date) != 8 || !isToken(s.service) ||
		(s.alg == algV4) != (s.region != "") || s.sig == "" || !isLowerHex(s.sig) || len(s.signedHeaders) == 0 {
		t.Fatalf("accepted a malformed signature: %+v", s)
	}
	for i, h := range s.signedHeaders {
		if !isHeaderName(h) || h == "" || i > 0 && s.signedHeaders[i-1] >= h {
			t.Fatalf("accepted malformed signed headers: %q", s.signedHeaders)
		}
	}
}
