package awssig

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The parsers in this file are hand-written because the SDK only ever
// writes an Authorization header or presigned query parameters; it has no
// reader for them. They take input straight from the sandboxed agent, so
// they are strict (one spelling of everything, bounded sizes) and fuzzed
// (FuzzAuthorization). Their errors never quote the input: it holds a
// surrogate key ID and signature.

const (
	algV4  = "AWS4-HMAC-SHA256"
	algV4A = "AWS4-ECDSA-P256-SHA256"

	// maxAuthorization bounds the header we are willing to parse; SDKs
	// write a few hundred bytes (the signed header list is the long part).
	maxAuthorization = 16 << 10
)

// signature is a parsed SigV4 or SigV4A signature, from an Authorization
// header or from a presigned URL's query.
type signature struct {
	alg    string
	keyID  string
	date   string // yyyymmdd from the credential scope
	region string // "" for SigV4A, whose scope has no region
	// service is the signing name (s3, dynamodb, execute-api, ...).
	service string
	// signedHeaders are the lower-case names the client signed, in the
	// order it listed them (which must be sorted, as the SDK writes them).
	signedHeaders []string
	sig           string // lower-case hex
}

// signedHeaderList is the SignedHeaders value as the client wrote it.
func (s *signature) signedHeaderList() string { return strings.Join(s.signedHeaders, ";") }

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=<kid>/<date>/<region>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex>
//	AWS4-ECDSA-P256-SHA256 Credential=<kid>/<date>/<service>/aws4_request, SignedHeaders=a;b, Signature=<hex DER>
//
// Spaces after the commas are optional (SDKs differ); every field must be
// present exactly once and nothing else may be.
func parseAuthorization(v string) (signature, error) {
	var s signature
	if len(v) > maxAuthorization {
		return s, errors.New("authorization header is too long")
	}
	alg, rest, ok := strings.Cut(v, " ")
	if !ok || (alg != algV4 && alg != algV4A) {
		return s, errors.New("not an AWS4 authorization header")
	}
	s.alg = alg
	var cred, headers, sig string
	var seen [3]bool
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.Trim(part, " "), "=")
		if !ok {
			return s, errors.New("authorization field without '='")
		}
		var i int
		switch k {
		case "Credential":
			i, cred = 0, val
		case "SignedHeaders":
			i, headers = 1, val
		case "Signature":
			i, sig = 2, val
		default:
			return s, errors.New("unknown authorization field")
		}
		if seen[i] {
			return s, errors.New("repeated authorization field")
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return s, errors.New("authorization header lacks Credential, SignedHeaders or Signature")
	}
	if err := s.setCredential(cred); err != nil {
		return s, err
	}
	var err error
	if s.signedHeaders, err = parseSignedHeaders(headers); err != nil {
		return s, err
	}
	if err := checkSignature(alg, sig); err != nil {
		return s, err
	}
	s.sig = sig
	return s, nil
}

// formatAuthorization is the inverse of parseAuthorization, in the SDK's
// spelling; only the fuzz test uses it (the package takes the re-signed
// header from the SDK itself).
func formatAuthorization(s signature) string {
	scope := s.date + "/" + s.region + "/" + s.service + "/aws4_request"
	if s.alg == algV4A {
		scope = s.date + "/" + s.service + "/aws4_request"
	}
	return s.alg + " Credential=" + s.keyID + "/" + scope +
		", SignedHeaders=" + s.signedHeaderList() + ", Signature=" + s.sig
}

// setCredential parses <kid>/<date>[/<region>]/<service>/aws4_request.
func (s *signature) setCredential(v string) error {
	parts := strings.Split(v, "/")
	want := 5
	if s.alg == algV4A {
		want = 4
	}
	if len(parts) != want || parts[want-1] != "aws4_request" {
		return errors.New("malformed credential scope")
	}
	s.keyID, s.date, s.service = parts[0], parts[1], parts[want-2]
	if want == 5 {
		s.region = parts[2]
		if !isToken(s.region) {
			return errors.New("malformed region in credential scope")
		}
	}
	if len(s.keyID) < 16 || len(s.keyID) > 128 || !isAlnum(s.keyID) {
		return errors.New("malformed access key ID")
	}
	if len(s.date) != 8 || !isDigits(s.date) {
		return errors.New("malformed date in credential scope")
	}
	if !isToken(s.service) {
		return errors.New("malformed service in credential scope")
	}
	return nil
}

// parseSignedHeaders splits a;b;c, which must be non-empty lower-case
// header names in strictly ascending order: that is how the canonical
// request lists them, so any other order cannot be reproduced.
func parseSignedHeaders(v string) ([]string, error) {
	if v == "" {
		return nil, errors.New("empty SignedHeaders")
	}
	names := strings.Split(v, ";")
	if len(names) > 256 {
		return nil, errors.New("too many signed headers")
	}
	for i, n := range names {
		if n == "" || !isHeaderName(n) {
			return nil, errors.New("malformed name in SignedHeaders")
		}
		if i > 0 && names[i-1] >= n {
			return nil, errors.New("SignedHeaders not sorted or repeated")
		}
	}
	return names, nil
}

// checkSignature: SigV4 signatures are 64 lower-case hex digits; SigV4A
// ones are hex-encoded ASN.1 ECDSA signatures (at most 72 bytes for P-256).
func checkSignature(alg, sig string) error {
	if alg == algV4 {
		if len(sig) != 64 || !isLowerHex(sig) {
			return errors.New("malformed signature")
		}
		return nil
	}
	if len(sig) == 0 || len(sig) > 2*80 || len(sig)%2 != 0 || !isLowerHex(sig) {
		return errors.New("malformed signature")
	}
	return nil
}

// Presigned-URL query parameters (header names as S3 documents them; the
// query keys are case-sensitive).
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
	qRegionSet     = "X-Amz-Region-Set" // SigV4A
)

// isPresigned reports whether q carries any of the presigned-URL auth
// parameters, so that a half-formed one is reported rather than ignored.
func isPresigned(q url.Values) bool {
	for _, k := range []string{qAlgorithm, qCredential, qSignature} {
		if _, ok := q[k]; ok {
			return true
		}
	}
	return false
}

// parsePresigned reads the presigned-URL parameters from q; each must be
// there exactly once (X-Amz-Security-Token at most once, and for SigV4
// X-Amz-Expires too). SigV4A URLs must also carry X-Amz-Expires and
// X-Amz-Region-Set exactly once: the signer rewrites the region set and
// the expiry is part of what is re-signed (their values are checked where
// they are used).
func parsePresigned(q url.Values) (signature, error) {
	var s signature
	one := func(k string, required bool) (string, error) {
		vs := q[k]
		if len(vs) > 1 || (required && len(vs) == 0) {
			return "", fmt.Errorf("presigned URL needs exactly one %s", k)
		}
		if len(vs) == 0 {
			return "", nil
		}
		return vs[0], nil
	}
	for _, k := range []string{qExpires, qSecurityToken, qDate} {
		if _, err := one(k, k == qDate); err != nil {
			return s, err
		}
	}
	alg, err := one(qAlgorithm, true)
	if err != nil {
		return s, err
	}
	if alg != algV4 && alg != algV4A {
		return s, errors.New("unknown X-Amz-Algorithm")
	}
	s.alg = alg
	cred, err := one(qCredential, true)
	if err != nil {
		return s, err
	}
	if err := s.setCredential(cred); err != nil {
		return s, err
	}
	headers, err := one(qSignedHeaders, true)
	if err != nil {
		return s, err
	}
	if s.signedHeaders, err = parseSignedHeaders(headers); err != nil {
		return s, err
	}
	if s.sig, err = one(qSignature, true); err != nil {
		return s, err
	}
	if err := checkSignature(alg, s.sig); err != nil {
		return s, err
	}
	if alg == algV4A {
		for _, k := range []string{qExpires, qRegionSet} {
			if _, err := one(k, true); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isToken accepts region and service names: 1-64 of [A-Za-z0-9._-].
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// isHeaderName accepts lower-case RFC 9110 tokens of at most 128 bytes.
func isHeaderName(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
