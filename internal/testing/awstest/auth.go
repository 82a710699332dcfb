package awstest

import (
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

const (
	algorithm        = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
	scopeDateFormat  = "20060102"
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	streamingSigned  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// maxSkew is how far S3 lets the request time be from its clock.
	maxSkew = 15 * time.Minute
	// maxPresignExpiry is S3's limit on X-Amz-Expires: seven days.
	maxPresignExpiry = 7 * 24 * time.Hour
)

// auth is what a request's SigV4 authentication says.
type auth struct {
	accessKeyID string
	presigned   bool
	date        time.Time
	region      string
	// signedHeaders is the SignedHeaders list as received.
	signedHeaders string
	// signature is the hex signature; it seeds the chunk signatures of a
	// signed aws-chunked body.
	signature   string
	payloadHash string
}

// authenticate checks r the way S3 does, in S3's order: the mechanism,
// the access key, the date, the token, unsigned x-amz-* headers, the
// payload hash, then the signature. The returned auth is non-nil as soon
// as the credential has been read, even when the answer is an error.
func (s *S3) authenticate(r *http.Request) (*auth, *s3Error) {
	query := r.URL.Query()
	header := r.Header.Get("Authorization")
	presigned := query.Has("X-Amz-Algorithm") || query.Has("X-Amz-Signature") || query.Has("X-Amz-Credential")
	var a *auth
	var err *s3Error
	switch {
	case presigned && header != "":
		return nil, &s3Error{status: http.StatusBadRequest, code: "InvalidArgument",
			message: "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"}
	case presigned:
		a, err = s.parsePresigned(r, query)
	case header != "":
		a, err = s.parseAuthorization(r, header)
	default:
		return nil, accessDenied("Access Denied")
	}
	if err != nil {
		return a, err
	}
	if err := s.checkToken(r, query, a.presigned); err != nil {
		return a, err
	}
	if err := checkAllAmzHeadersSigned(r, a.signedHeaders); err != nil {
		return a, err
	}
	if err := s.verifySignature(r, a); err != nil {
		return a, err
	}
	return a, nil
}

// parseAuthorization reads
//
//	AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
func (s *S3) parseAuthorization(r *http.Request, header string) (*auth, *s3Error) {
	rest, ok := strings.CutPrefix(header, algorithm+" ")
	if !ok {
		// SigV2 ("AWS AKID:sig"), SigV4a and anything else.
		return nil, invalidRequest("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, malformedHeader(fmt.Sprintf("the authorization header is malformed; %q is not key=value", part))
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, malformedHeader("the authorization header is malformed; missing " + k)
		}
	}
	a, err := s.parseCredential(fields["Credential"], r.Header.Get("X-Amz-Date"), malformedHeader)
	if err != nil {
		return a, err
	}
	a.signedHeaders = fields["SignedHeaders"]
	a.signature = fields["Signature"]

	if skew := time.Since(a.date); skew > maxSkew || skew < -maxSkew {
		return a, &s3Error{status: http.StatusForbidden, code: "RequestTimeTooSkewed",
			message: "The difference between the request time and the current time is too large.",
			extra: [][2]string{
				{"RequestTime", a.date.Format(amzDateFormat)},
				{"ServerTime", time.Now().UTC().Format(time.RFC3339)},
				{"MaxAllowedSkewMilliseconds", strconv.FormatInt(maxSkew.Milliseconds(), 10)},
			}}
	}

	a.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case a.payloadHash == "":
		return a, invalidRequest("Missing required header for this request: x-amz-content-sha256")
	case a.payloadHash == unsignedPayload, strings.HasPrefix(a.payloadHash, "STREAMING-"), isHexSHA256(a.payloadHash):
	default:
		return a, &s3Error{status: http.StatusBadRequest, code: "InvalidArgument",
			message: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
			extra:   [][2]string{{"ArgumentName", "x-amz-content-sha256"}, {"ArgumentValue", a.payloadHash}}}
	}
	return a, nil
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func (s *S3) parsePresigned(r *http.Request, query url.Values) (*auth, *s3Error) {
	if alg := query.Get("X-Amz-Algorithm"); alg != algorithm {
		return nil, queryError(fmt.Sprintf("X-Amz-Algorithm only supports %q", algorithm))
	}
	for _, k := range []string{"X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires"} {
		if query.Get(k) == "" {
			return nil, queryError("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	a, err := s.parseCredential(query.Get("X-Amz-Credential"), query.Get("X-Amz-Date"), queryError)
	if err != nil {
		return a, err
	}
	a.presigned = true
	a.signedHeaders = query.Get("X-Amz-SignedHeaders")
	a.signature = query.Get("X-Amz-Signature")
	// Presigned URLs carry no payload hash unless a client adds one; S3
	// then signs over UNSIGNED-PAYLOAD.
	a.payloadHash = unsignedPayload
	if h := query.Get("X-Amz-Content-Sha256"); h != "" {
		a.payloadHash = h
	}

	secs, perr := strconv.ParseInt(query.Get("X-Amz-Expires"), 10, 64)
	expiry := time.Duration(secs) * time.Second
	if perr != nil || secs < 1 || expiry > maxPresignExpiry {
		return a, queryError("X-Amz-Expires must be a number of seconds between 1 and 604800")
	}
	now := time.Now()
	if now.After(a.date.Add(expiry)) {
		e := accessDenied("Request has expired")
		e.extra = [][2]string{
			{"X-Amz-Expires", strconv.FormatInt(secs, 10)},
			{"Expires", a.date.Add(expiry).UTC().Format(time.RFC3339)},
			{"ServerTime", now.UTC().Format(time.RFC3339)},
		}
		return a, e
	}
	if a.date.After(now.Add(maxSkew)) {
		return a, accessDenied("Request is not valid yet")
	}
	return a, nil
}

// parseCredential reads AKID/yyyymmdd/region/s3/aws4_request and the
// request date, refusing an unknown key before anything else is judged.
func (s *S3) parseCredential(credential, amzDate string, malformed func(string) *s3Error) (*auth, *s3Error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aws4_request" {
		return nil, malformed(fmt.Sprintf("the credential %q is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"", credential))
	}
	a := &auth{accessKeyID: parts[0], region: parts[2]}
	if a.accessKeyID != s.keys.AccessKeyID {
		return a, &s3Error{status: http.StatusForbidden, code: "InvalidAccessKeyId",
			message: "The AWS Access Key Id you provided does not exist in our records.",
			extra:   [][2]string{{"AWSAccessKeyId", a.accessKeyID}}}
	}
	if parts[3] != "s3" {
		return a, malformed(fmt.Sprintf("the credential names service %q; expecting \"s3\"", parts[3]))
	}
	date, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		e := accessDenied("AWS authentication requires a valid Date or x-amz-date header")
		e.detail = fmt.Sprintf("X-Amz-Date %q is not yyyyMMdd'T'HHmmss'Z'", amzDate)
		return a, e
	}
	a.date = date
	if parts[1] != date.Format(scopeDateFormat) {
		return a, malformed(fmt.Sprintf("invalid credential date %q: it is not the date of X-Amz-Date %q", parts[1], amzDate))
	}
	return a, nil
}

func malformedHeader(detail string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "AuthorizationHeaderMalformed",
		message: "The authorization header is malformed.", detail: detail}
}

func queryError(message string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "AuthorizationQueryParametersError", message: message}
}

// checkToken holds the request's X-Amz-Security-Token to the session
// token: required when there is one, refused when there is none.
func (s *S3) checkToken(r *http.Request, query url.Values, presigned bool) *s3Error {
	got, sent := r.Header.Get("X-Amz-Security-Token"), len(r.Header.Values("X-Amz-Security-Token")) > 0
	if presigned {
		got, sent = query.Get("X-Amz-Security-Token"), query.Has("X-Amz-Security-Token")
	}
	if !sent && s.keys.SessionToken == "" {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.keys.SessionToken)) == 1 {
		return nil
	}
	e := &s3Error{status: http.StatusBadRequest, code: "InvalidToken",
		message: "The provided token is malformed or otherwise invalid."}
	switch {
	case !sent:
		e.detail = "no X-Amz-Security-Token; the keys have a session token"
	case s.keys.SessionToken == "":
		e.detail = "X-Amz-Security-Token sent; the keys have no session token"
	default:
		e.detail = "X-Amz-Security-Token is not the session token"
	}
	return e
}

// checkAllAmzHeadersSigned refuses x-amz-* headers left out of the
// signature, as S3 does: they change the request's meaning.
func checkAllAmzHeadersSigned(r *http.Request, signedHeaders string) *s3Error {
	signed := strings.Split(signedHeaders, ";")
	var unsigned []string
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !slices.Contains(signed, lower) {
			unsigned = append(unsigned, lower)
		}
	}
	if len(unsigned) == 0 {
		return nil
	}
	slices.Sort(unsigned)
	e := accessDenied("There were headers present in the request which were not signed")
	e.extra = [][2]string{{"HeadersNotSigned", strings.Join(unsigned, ", ")}}
	return e
}

// verifySignature re-signs a copy of r that holds only what the client
// says it signed, with the real keys, and compares.
func (s *S3) verifySignature(r *http.Request, a *auth) *s3Error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// The path as it came over the wire: S3 signs it without further
	// escaping (DisableURIPathEscaping), so it must not be re-encoded.
	rawPath := r.URL.EscapedPath()
	if strings.HasPrefix(r.RequestURI, "/") {
		rawPath, _, _ = strings.Cut(r.RequestURI, "?")
	}
	rawQuery := r.URL.RawQuery
	if a.presigned {
		q := r.URL.Query()
		q.Del("X-Amz-Signature")
		rawQuery = q.Encode()
	}
	cp := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: scheme, Host: r.Host, Opaque: "//" + r.Host + rawPath, RawQuery: rawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	signedList := strings.Split(a.signedHeaders, ";")
	for _, name := range signedList {
		switch name {
		case "host":
			// The signer takes it from cp.Host.
		case "content-length":
			// The SDK's signer signs content-length exactly when
			// ContentLength > 0, from the field, not the header.
			cp.ContentLength = r.ContentLength
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				cp.Header[http.CanonicalHeaderKey(name)] = slices.Clone(vs)
			}
		}
	}

	var logged string
	signer := v4.NewSigner(func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
		// Hoisted headers are already in a presigned request's query.
		o.DisableHeaderHoisting = true
		// The signer would add X-Amz-Security-Token to the signed
		// headers; leave it out when the client did. Its value has
		// been checked already.
		o.DisableSessionToken = !a.presigned && !slices.Contains(signedList, "x-amz-security-token")
		// The signer logs its canonical request and string to sign; S3
		// returns both with SignatureDoesNotMatch.
		o.LogSigning = true
		o.Logger = logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
			logged = fmt.Sprintf(format, v...)
		})
	})
	creds := aws.Credentials{AccessKeyID: s.keys.AccessKeyID, SecretAccessKey: s.keys.SecretAccessKey, SessionToken: s.keys.SessionToken}

	var wantHeaders, want string
	if a.presigned {
		signedURL, _, err := signer.PresignHTTP(r.Context(), creds, cp, a.payloadHash, "s3", a.region, a.date)
		if err != nil {
			return signatureMismatch(fmt.Sprintf("re-sign presigned request: %v", err))
		}
		u, err := url.Parse(signedURL)
		if err != nil {
			return signatureMismatch(fmt.Sprintf("read re-signed URL: %v", err))
		}
		wantHeaders, want = u.Query().Get("X-Amz-SignedHeaders"), u.Query().Get("X-Amz-Signature")
	} else {
		if err := signer.SignHTTP(r.Context(), creds, cp, a.payloadHash, "s3", a.region, a.date); err != nil {
			return signatureMismatch(fmt.Sprintf("re-sign request: %v", err))
		}
		wantHeaders, want = authorizationField(cp.Header.Get("Authorization"), "SignedHeaders"), authorizationField(cp.Header.Get("Authorization"), "Signature")
	}

	canonical, stringToSign := parseSigningLog(logged)
	mismatch := func(detail string) *s3Error {
		e := signatureMismatch(detail)
		e.extra = [][2]string{
			{"AWSAccessKeyId", a.accessKeyID},
			{"StringToSign", stringToSign},
			{"SignatureProvided", a.signature},
			{"StringToSignBytes", spacedHex([]byte(stringToSign))},
			{"CanonicalRequest", canonical},
			{"CanonicalRequestBytes", spacedHex([]byte(canonical))},
		}
		return e
	}
	if wantHeaders != a.signedHeaders {
		// The signer would sign something else (a header it ignores, such
		// as user-agent, an absent header, content-length: 0, an unsorted
		// list): the signature cannot match, and this says why.
		return mismatch(fmt.Sprintf("SignedHeaders %q cannot be reproduced; re-signing gives %q", a.signedHeaders, wantHeaders))
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(a.signature))) != 1 {
		return mismatch("signature differs")
	}
	return nil
}

// authorizationField returns one key's value from an Authorization header.
func authorizationField(header, key string) string {
	_, rest, _ := strings.Cut(header, " ")
	for part := range strings.SplitSeq(rest, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), key+"="); ok {
			return v
		}
	}
	return ""
}

// parseSigningLog takes the canonical request and string to sign out of
// the signer's signing log; empty when its layout is not the expected one.
func parseSigningLog(logged string) (canonical, stringToSign string) {
	const (
		canonicalMark = "---[ CANONICAL STRING  ]-----------------------------\n"
		stsMark       = "\n---[ STRING TO SIGN ]--------------------------------\n"
		endMark       = "\n---"
	)
	_, rest, ok := strings.Cut(logged, canonicalMark)
	if !ok {
		return "", ""
	}
	canonical, rest, ok = strings.Cut(rest, stsMark)
	if !ok {
		return "", ""
	}
	stringToSign, _, _ = strings.Cut(rest, endMark)
	return canonical, stringToSign
}

// spacedHex is S3's StringToSignBytes form: "41 57 53 34".
func spacedHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = hex.EncodeToString([]byte{c})
	}
	return strings.Join(parts, " ")
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
