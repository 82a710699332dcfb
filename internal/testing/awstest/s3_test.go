package awstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/airut-go/airut/internal/testing/awstest"
)

var (
	keys = awstest.Keys{
		AccessKeyID:     "AKIAREALREALREAL0001",
		SecretAccessKey: "real/secret/key/0123456789abcdefghijklmn",
		SessionToken:    "real-session-token",
	}
	region = "eu-west-1"
)

const (
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	streamingSigned  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// oddKey needs escaping in a path and would be escaped twice by a
	// signer that did not know S3 signs its path as sent.
	oddKey = "dir/a b+c~(1)=%é.txt"
)

func start(t *testing.T, k awstest.Keys, useTLS bool) (*awstest.S3, *httptest.Server) {
	t.Helper()
	srv := awstest.NewS3(k)
	var ts *httptest.Server
	if useTLS {
		ts = httptest.NewTLSServer(srv.Handler())
	} else {
		ts = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(ts.Close)
	return srv, ts
}

func sdkClient(ts *httptest.Server, k awstest.Keys, calc aws.RequestChecksumCalculation) *s3.Client {
	return s3.New(s3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(ts.URL),
		UsePathStyle:               true,
		HTTPClient:                 ts.Client(),
		Credentials:                credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, k.SessionToken),
		RequestChecksumCalculation: calc,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		Retryer:                    aws.NopRetryer{},
	})
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// xmlError reads S3's error document.
func xmlError(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var doc struct{ Code, Message string }
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("error body is not S3's XML: %v\n%s", err, body)
	}
	return doc.Code, doc.Message
}

func last(t *testing.T, srv *awstest.S3) awstest.Request {
	t.Helper()
	seen := srv.Seen()
	if len(seen) == 0 {
		t.Fatal("no request seen")
	}
	return seen[len(seen)-1]
}

// TestSDK runs the real aws-sdk-go-v2 client against the server the ways
// it is configured in practice, and pins what it sends for PutObject.
func TestSDK(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
	tests := []struct {
		name string
		tls  bool
		calc aws.RequestChecksumCalculation
		keys awstest.Keys
		body []byte
		// wantHash is the PutObject x-amz-content-sha256; "sha256"
		// stands for the body's hash.
		wantHash    string
		wantChunked bool
	}{
		// config.LoadDefaultConfig's default: a trailing CRC32 over TLS.
		{name: "https when supported", tls: true, calc: aws.RequestChecksumCalculationWhenSupported, keys: keys,
			body: []byte("hello"), wantHash: streamingTrailer, wantChunked: true},
		{name: "https when supported 200KiB", tls: true, calc: aws.RequestChecksumCalculationWhenSupported, keys: keys,
			body: big, wantHash: streamingTrailer, wantChunked: true},
		// An empty body's checksum goes in a header, never a trailer.
		{name: "https when supported empty", tls: true, calc: aws.RequestChecksumCalculationWhenSupported, keys: keys,
			body: []byte{}, wantHash: unsignedPayload},
		// s3.New without config leaves the setting unset: no checksum.
		{name: "https unset", tls: true, calc: aws.RequestChecksumCalculationUnset, keys: keys,
			body: []byte("hello"), wantHash: unsignedPayload},
		{name: "https when required", tls: true, calc: aws.RequestChecksumCalculationWhenRequired, keys: keys,
			body: []byte("hello"), wantHash: unsignedPayload},
		// Without TLS the payload is hashed and the CRC32 is a header.
		{name: "http when supported", tls: false, calc: aws.RequestChecksumCalculationWhenSupported, keys: keys,
			body: []byte("hello"), wantHash: "sha256"},
		{name: "http unset", tls: false, calc: aws.RequestChecksumCalculationUnset, keys: keys,
			body: big, wantHash: "sha256"},
		{name: "https long-term keys", tls: true, calc: aws.RequestChecksumCalculationWhenSupported,
			keys: awstest.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey},
			body: []byte("hello"), wantHash: streamingTrailer, wantChunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv, ts := start(t, tt.keys, tt.tls)
			c := sdkClient(ts, tt.keys, tt.calc)
			bucket := "bucket-1"

			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(oddKey), Body: bytes.NewReader(tt.body)}); err != nil {
				t.Fatalf("PutObject: %v\n%+v", err, last(t, srv))
			}
			put := last(t, srv)
			wantHash := tt.wantHash
			if wantHash == "sha256" {
				wantHash = hexSHA256(tt.body)
			}
			if put.PayloadHash != wantHash || put.Chunked != tt.wantChunked || !put.Verified {
				t.Errorf("PutObject seen with payload hash %q, chunked %v, verified %v; want %q, %v, true",
					put.PayloadHash, put.Chunked, put.Verified, wantHash, tt.wantChunked)
			}
			if got, ok := srv.Object(bucket, oddKey); !ok || !bytes.Equal(got, tt.body) {
				t.Fatalf("stored object is %d bytes (present %v), want %d", len(got), ok, len(tt.body))
			}

			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(oddKey)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, tt.body) {
				t.Fatalf("GetObject body: %d bytes, %v; want %d bytes", len(got), err, len(tt.body))
			}
			if tt.calc == aws.RequestChecksumCalculationWhenSupported && aws.ToString(out.ChecksumCRC32) == "" {
				t.Error("GetObject returned no CRC32 for an object uploaded with one")
			}

			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(oddKey)})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if aws.ToInt64(head.ContentLength) != int64(len(tt.body)) {
				t.Errorf("HeadObject ContentLength %d, want %d", aws.ToInt64(head.ContentLength), len(tt.body))
			}

			presigned, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(oddKey)})
			if err != nil {
				t.Fatalf("PresignGetObject: %v", err)
			}
			resp, err := ts.Client().Get(presigned.URL)
			if err != nil {
				t.Fatalf("GET presigned URL: %v", err)
			}
			got, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, tt.body) {
				t.Fatalf("presigned GET: %d, %d bytes; want 200, %d bytes\n%s", resp.StatusCode, len(got), len(tt.body), got)
			}
			if r := last(t, srv); !r.Presigned || !r.Verified {
				t.Errorf("presigned GET seen as %+v", r)
			}

			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("missing")})
			if code := errorCode(err); code != "NoSuchKey" {
				t.Errorf("GetObject of a missing key: %v, want NoSuchKey", err)
			}
			_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("missing")})
			if code := errorCode(err); code != "NotFound" {
				t.Errorf("HeadObject of a missing key: %v, want NotFound", err)
			}

			for i, r := range srv.Seen() {
				if !r.Verified || r.AccessKeyID != tt.keys.AccessKeyID {
					t.Errorf("request %d (%s %s) not verified: %+v", i, r.Method, r.Path, r)
				}
			}
		})
	}
}

// TestSDKCredentialErrors: wrong keys give S3's error codes, which the
// SDK reports as S3's.
func TestSDKCredentialErrors(t *testing.T) {
	tests := []struct {
		name     string
		client   awstest.Keys
		wantCode string
	}{
		{"wrong secret", awstest.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: "surrogate-secret", SessionToken: keys.SessionToken}, "SignatureDoesNotMatch"},
		{"unknown key", awstest.Keys{AccessKeyID: "AKIASURROGATE0000001", SecretAccessKey: keys.SecretAccessKey, SessionToken: keys.SessionToken}, "InvalidAccessKeyId"},
		{"wrong token", awstest.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, SessionToken: "surrogate-token"}, "InvalidToken"},
		{"no token", awstest.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey}, "InvalidToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			srv, ts := start(t, keys, true)
			c := sdkClient(ts, tt.client, aws.RequestChecksumCalculationWhenSupported)

			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("hello")})
			if code := errorCode(err); code != tt.wantCode {
				t.Errorf("PutObject: %v; want %s", err, tt.wantCode)
			}
			if _, ok := srv.Object("b", "k"); ok {
				t.Error("the object was stored")
			}
			_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
			if code := errorCode(err); code != tt.wantCode {
				t.Errorf("GetObject: %v; want %s", err, tt.wantCode)
			}

			presigned, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
			if err != nil {
				t.Fatalf("PresignGetObject: %v", err)
			}
			resp, err := ts.Client().Get(presigned.URL)
			if err != nil {
				t.Fatalf("GET presigned URL: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("presigned GET answer: %d %s", resp.StatusCode, body)
			if code, _ := xmlError(t, body); code != tt.wantCode {
				t.Errorf("presigned GET: %d %s; want %s", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantCode == "SignatureDoesNotMatch" && !bytes.Contains(body, []byte("<StringToSign>AWS4-HMAC-SHA256")) {
				t.Errorf("SignatureDoesNotMatch without the StringToSign S3 sends:\n%s", body)
			}

			for i, r := range srv.Seen() {
				if r.Verified || !strings.HasPrefix(r.Error, tt.wantCode+":") || r.AccessKeyID != tt.client.AccessKeyID {
					t.Errorf("request %d seen as %+v", i, r)
				}
			}
		})
	}
}

// TestVirtualHosted: bucket.s3.host names the bucket.
func TestVirtualHosted(t *testing.T) {
	ctx := context.Background()
	srv, ts := start(t, keys, false)
	_, port, err := net.SplitHostPort(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Every name resolves to the test server, as in the sandbox every
	// name resolves to the proxy.
	httpClient := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ts.Listener.Addr().String())
		},
	}}
	c := s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String("http://s3.example.test:" + port),
		HTTPClient:   httpClient,
		Credentials:  credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, keys.SessionToken),
		Retryer:      aws.NopRetryer{},
	})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("my-bucket"), Key: aws.String(oddKey), Body: strings.NewReader("hi")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	r := last(t, srv)
	if r.Host != "my-bucket.s3.example.test:"+port || r.Path != "/"+oddKey || !r.Verified {
		t.Errorf("PutObject seen as host %q path %q verified %v", r.Host, r.Path, r.Verified)
	}
	if got, ok := srv.Object("my-bucket", oddKey); !ok || string(got) != "hi" {
		t.Errorf("stored %q, %v", got, ok)
	}
	presigned, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("my-bucket"), Key: aws.String(oddKey)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Get(presigned.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hi" {
		t.Errorf("presigned GET: %d %s", resp.StatusCode, body)
	}
}

// presign signs a GET for the query with the SDK's signer at a chosen time.
func presign(t *testing.T, base string, k awstest.Keys, at time.Time, expires string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/b/k?X-Amz-Expires="+expires, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).PresignHTTP(
		context.Background(), aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken},
		req, unsignedPayload, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// TestPresigned: presigned URLs hold for X-Amz-Expires and no longer, and
// nothing in them can change.
func TestPresigned(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name       string
		at         time.Time
		expires    string
		mutate     func(string) string
		wantStatus int
		wantCode   string
	}{
		{name: "valid", at: now, expires: "60", wantStatus: http.StatusOK},
		{name: "signed a day ago for a week", at: now.Add(-24 * time.Hour), expires: "604800", wantStatus: http.StatusOK},
		{name: "expired", at: now.Add(-2 * time.Hour), expires: "3600", wantStatus: http.StatusForbidden, wantCode: "AccessDenied"},
		{name: "not valid yet", at: now.Add(time.Hour), expires: "60", wantStatus: http.StatusForbidden, wantCode: "AccessDenied"},
		{name: "longer than a week", at: now, expires: "604801", wantStatus: http.StatusBadRequest, wantCode: "AuthorizationQueryParametersError"},
		{name: "expiry lengthened", at: now, expires: "60",
			mutate:     func(u string) string { return strings.Replace(u, "X-Amz-Expires=60", "X-Amz-Expires=600", 1) },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "other key", at: now, expires: "60",
			mutate:     func(u string) string { return strings.Replace(u, "/b/k?", "/b/other?", 1) },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "token dropped", at: now, expires: "60",
			mutate: func(u string) string {
				parsed, _ := url.Parse(u)
				q := parsed.Query()
				q.Del("X-Amz-Security-Token")
				parsed.RawQuery = q.Encode()
				return parsed.String()
			},
			wantStatus: http.StatusBadRequest, wantCode: "InvalidToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, keys, true)
			c := sdkClient(ts, keys, aws.RequestChecksumCalculationWhenSupported)
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("presigned")}); err != nil {
				t.Fatal(err)
			}
			u := presign(t, ts.URL, keys, tt.at, tt.expires)
			if tt.mutate != nil {
				u = tt.mutate(u)
			}
			resp, err := ts.Client().Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.wantCode == "" {
				if resp.StatusCode != http.StatusOK || string(body) != "presigned" {
					t.Fatalf("GET: %d %s", resp.StatusCode, body)
				}
				return
			}
			if code, msg := xmlError(t, body); resp.StatusCode != tt.wantStatus || code != tt.wantCode {
				t.Errorf("GET: %d %s (%s); want %d %s", resp.StatusCode, code, msg, tt.wantStatus, tt.wantCode)
			}
			if r := last(t, srv); !r.Presigned || r.Verified {
				t.Errorf("seen as %+v", r)
			}
		})
	}
}

// signChunked signs req as an aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// upload of body in chunkSize chunks, and returns the framed body. The
// chunks are signed with chunkKeys, which a test may set apart from the
// request's keys.
func signChunked(t *testing.T, req *http.Request, reqKeys, chunkKeys awstest.Keys, body []byte, chunkSize int, at time.Time) []byte {
	t.Helper()
	var chunks [][]byte
	for rest := body; len(rest) > 0; {
		n := min(len(rest), chunkSize)
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	chunks = append(chunks, nil)
	var length int
	for _, c := range chunks {
		length += len(strconv.FormatInt(int64(len(c)), 16)) + len(";chunk-signature=") + 64 + 2 + len(c) + 2
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", streamingSigned)
	req.ContentLength = int64(length)

	creds := func(k awstest.Keys) aws.Credentials {
		return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), creds(reqKeys), req, streamingSigned, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	_, sigHex, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	seed, err := hex.DecodeString(sigHex)
	if err != nil {
		t.Fatal(err)
	}
	chunkSigner := v4.NewStreamSigner(creds(chunkKeys), "s3", region, seed)
	var framed bytes.Buffer
	for _, c := range chunks {
		sig, err := chunkSigner.GetSignature(context.Background(), nil, c, at)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&framed, "%x;chunk-signature=%x\r\n%s\r\n", len(c), sig, c)
	}
	if framed.Len() != length {
		t.Fatalf("framed %d bytes, signed content-length %d", framed.Len(), length)
	}
	return framed.Bytes()
}

// TestStreamingSigned: hand-framed signed aws-chunked uploads, as the AWS
// CLI and older SDKs send them, are decoded with every chunk verified.
func TestStreamingSigned(t *testing.T) {
	body := bytes.Repeat([]byte("chunked body "), 150<<10/13)
	other := awstest.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: "surrogate-secret", SessionToken: keys.SessionToken}
	tests := []struct {
		name      string
		body      []byte
		chunkSize int
		// decodedLength overrides x-amz-decoded-content-length; "-" drops it.
		decodedLength string
		chunkKeys     awstest.Keys
		// tamper changes the framed body after signing, keeping its length.
		tamper       func([]byte)
		wantStatus   int
		wantCode     string
		wantVerified bool
	}{
		{name: "one chunk", body: []byte("hello, chunks"), chunkSize: 64 << 10, chunkKeys: keys, wantStatus: http.StatusOK, wantVerified: true},
		{name: "three chunks", body: body, chunkSize: 64 << 10, chunkKeys: keys, wantStatus: http.StatusOK, wantVerified: true},
		{name: "8KiB chunks", body: body, chunkSize: 8 << 10, chunkKeys: keys, wantStatus: http.StatusOK, wantVerified: true},
		{name: "empty", body: []byte{}, chunkSize: 64 << 10, chunkKeys: keys, wantStatus: http.StatusOK, wantVerified: true},
		{name: "data byte flipped", body: body, chunkSize: 64 << 10, chunkKeys: keys,
			tamper:     func(b []byte) { b[bytes.Index(b, []byte("\r\n"))+2+100] ^= 1 },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "last data byte flipped", body: body, chunkSize: 64 << 10, chunkKeys: keys,
			tamper:     func(b []byte) { b[bytes.LastIndex(b, []byte("\r\n0;"))-1] ^= 1 },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "final chunk signature changed", body: body, chunkSize: 64 << 10, chunkKeys: keys,
			tamper:     func(b []byte) { b[bytes.LastIndex(b, []byte("chunk-signature="))+len("chunk-signature=")] ^= 1 },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		// What a proxy that re-signs the headers but not the chunks sends.
		{name: "chunks signed with another secret", body: body, chunkSize: 64 << 10, chunkKeys: other,
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "decoded length wrong", body: body, chunkSize: 64 << 10, chunkKeys: keys, decodedLength: strconv.Itoa(len(body) + 1),
			wantStatus: http.StatusBadRequest, wantCode: "IncompleteBody", wantVerified: true},
		{name: "decoded length missing", body: body, chunkSize: 64 << 10, chunkKeys: keys, decodedLength: "-",
			wantStatus: http.StatusLengthRequired, wantCode: "MissingContentLength"},
		{name: "small chunk before the last", body: body, chunkSize: 4 << 10, chunkKeys: keys,
			wantStatus: http.StatusForbidden, wantCode: "InvalidChunkSizeError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, keys, false)
			req, err := http.NewRequest(http.MethodPut, ts.URL+"/b/"+url.PathEscape("chunked object"), nil)
			if err != nil {
				t.Fatal(err)
			}
			switch tt.decodedLength {
			case "":
				req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(tt.body)))
			case "-":
			default:
				req.Header.Set("X-Amz-Decoded-Content-Length", tt.decodedLength)
			}
			framed := signChunked(t, req, keys, tt.chunkKeys, tt.body, tt.chunkSize, time.Now())
			if tt.tamper != nil {
				tt.tamper(framed)
			}
			req.Body = io.NopCloser(bytes.NewReader(framed))
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			r := last(t, srv)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("PUT: %d %s; want %d\nseen %+v", resp.StatusCode, respBody, tt.wantStatus, r)
			}
			stored, ok := srv.Object("b", "chunked object")
			if tt.wantCode == "" {
				if !ok || !bytes.Equal(stored, tt.body) {
					t.Errorf("stored %d bytes (%v), want %d", len(stored), ok, len(tt.body))
				}
			} else {
				if code, _ := xmlError(t, respBody); code != tt.wantCode {
					t.Errorf("error code %s, want %s", code, tt.wantCode)
				}
				if ok {
					t.Error("a refused upload was stored")
				}
			}
			if !r.Chunked || r.PayloadHash != streamingSigned || r.Verified != tt.wantVerified {
				t.Errorf("seen as chunked %v, payload hash %q, verified %v; want true, %q, %v (%s)",
					r.Chunked, r.PayloadHash, r.Verified, streamingSigned, tt.wantVerified, r.Error)
			}
		})
	}
}

// frameTrailer frames body as the SDK's STREAMING-UNSIGNED-PAYLOAD-TRAILER
// encoding does, in chunkSize chunks, ending with trailer.
func frameTrailer(body []byte, chunkSize int, trailer string) []byte {
	var b bytes.Buffer
	for rest := body; len(rest) > 0; {
		n := min(len(rest), chunkSize)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	b.WriteString("0\r\n" + trailer + "\r\n")
	return b.Bytes()
}

// TestStreamingUnsignedTrailer: the trailing checksum of an unsigned
// aws-chunked upload is verified.
func TestStreamingUnsignedTrailer(t *testing.T) {
	body := bytes.Repeat([]byte("trailer body "), 100<<10/13)
	const (
		crc32OfBody  = "crc32-of-body"
		sha256OfBody = "sha256-of-body"
	)
	tests := []struct {
		name        string
		xAmzTrailer string
		trailer     string
		chunkSize   int
		wantStatus  int
		wantCode    string
	}{
		{name: "crc32 in one chunk", xAmzTrailer: "x-amz-checksum-crc32", trailer: "x-amz-checksum-crc32:" + crc32OfBody + "\r\n", chunkSize: len(body), wantStatus: http.StatusOK},
		{name: "sha256 in 64KiB chunks", xAmzTrailer: "x-amz-checksum-sha256", trailer: "x-amz-checksum-sha256:" + sha256OfBody + "\r\n", chunkSize: 64 << 10, wantStatus: http.StatusOK},
		{name: "wrong checksum", xAmzTrailer: "x-amz-checksum-crc32", trailer: "x-amz-checksum-crc32:AAAAAA==\r\n", chunkSize: 64 << 10,
			wantStatus: http.StatusBadRequest, wantCode: "BadDigest"},
		{name: "declared trailer missing", xAmzTrailer: "x-amz-checksum-crc32", trailer: "", chunkSize: 64 << 10,
			wantStatus: http.StatusBadRequest, wantCode: "MalformedTrailerError"},
		{name: "undeclared trailer", xAmzTrailer: "x-amz-checksum-crc32", trailer: "x-amz-checksum-crc32:" + crc32OfBody + "\r\nx-amz-meta-late:1\r\n", chunkSize: 64 << 10,
			wantStatus: http.StatusBadRequest, wantCode: "MalformedTrailerError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, keys, false)
			// The SDK computes the values; use it to get them right.
			sum := sha256.Sum256(body)
			trailer := strings.NewReplacer(crc32OfBody, crc32Base64(body), sha256OfBody, base64Std(sum[:])).Replace(tt.trailer)
			framed := frameTrailer(body, tt.chunkSize, trailer)
			req, err := http.NewRequest(http.MethodPut, ts.URL+"/b/k", bytes.NewReader(framed))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Content-Sha256", streamingTrailer)
			req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)))
			req.Header.Set("X-Amz-Trailer", tt.xAmzTrailer)
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			creds := aws.Credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, SessionToken: keys.SessionToken}
			if err := signer.SignHTTP(context.Background(), creds, req, streamingTrailer, "s3", region, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("PUT: %d %s; want %d", resp.StatusCode, respBody, tt.wantStatus)
			}
			stored, ok := srv.Object("b", "k")
			if tt.wantCode == "" {
				if !bytes.Equal(stored, body) {
					t.Errorf("stored %d bytes, want %d", len(stored), len(body))
				}
			} else if code, _ := xmlError(t, respBody); code != tt.wantCode || ok {
				t.Errorf("error code %s (stored %v), want %s", code, ok, tt.wantCode)
			}
			if r := last(t, srv); !r.Chunked || !r.Verified {
				t.Errorf("seen as %+v", r)
			}
		})
	}
}

func crc32Base64(b []byte) string {
	return base64Std(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)))
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestRejections: requests signed by hand, each wrong in one way S3
// refuses.
func TestRejections(t *testing.T) {
	body := []byte("rejected body")
	tests := []struct {
		name   string
		method string
		target string // path and query
		body   []byte
		header map[string]string // set before signing
		// payloadHash is x-amz-content-sha256 and what is signed; empty
		// means the body's SHA-256, "-" means no header.
		payloadHash string
		at          time.Duration // signing time, from now
		service     string        // in the credential scope; empty means s3
		unsigned    bool          // send without signing
		after       func(*http.Request)
		wantStatus  int
		wantCode    string
	}{
		{name: "well-formed", method: http.MethodPut, target: "/b/k", body: body, wantStatus: http.StatusOK},
		{name: "anonymous", method: http.MethodGet, target: "/b/k", unsigned: true,
			wantStatus: http.StatusForbidden, wantCode: "AccessDenied"},
		{name: "signature version 2", method: http.MethodGet, target: "/b/k", unsigned: true,
			after:      func(r *http.Request) { r.Header.Set("Authorization", "AWS "+keys.AccessKeyID+":c2lnbmF0dXJl") },
			wantStatus: http.StatusBadRequest, wantCode: "InvalidRequest"},
		{name: "header and query auth", method: http.MethodGet, target: "/b/k?X-Amz-Signature=00",
			wantStatus: http.StatusBadRequest, wantCode: "InvalidArgument"},
		{name: "no payload hash", method: http.MethodGet, target: "/b/k", payloadHash: "-",
			wantStatus: http.StatusBadRequest, wantCode: "InvalidRequest"},
		{name: "payload hash of another body", method: http.MethodPut, target: "/b/k", body: body, payloadHash: hexSHA256([]byte("other")),
			wantStatus: http.StatusBadRequest, wantCode: "XAmzContentSHA256Mismatch"},
		{name: "body changed after signing UNSIGNED-PAYLOAD is fine", method: http.MethodPut, target: "/b/k", body: body, payloadHash: unsignedPayload,
			wantStatus: http.StatusOK},
		{name: "x-amz header added after signing", method: http.MethodPut, target: "/b/k", body: body,
			after:      func(r *http.Request) { r.Header.Set("X-Amz-Meta-Late", "1") },
			wantStatus: http.StatusForbidden, wantCode: "AccessDenied"},
		{name: "signed header changed", method: http.MethodPut, target: "/b/k", body: body, header: map[string]string{"Content-Type": "text/plain"},
			after:      func(r *http.Request) { r.Header.Set("Content-Type", "text/html") },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "path changed", method: http.MethodGet, target: "/b/k",
			after:      func(r *http.Request) { r.URL.Path = "/b/other" },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "query added", method: http.MethodGet, target: "/b/k",
			after:      func(r *http.Request) { r.URL.RawQuery = "x-id=GetObject" },
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "user-agent signed", method: http.MethodGet, target: "/b/k",
			after: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=host;user-agent;", 1))
			},
			wantStatus: http.StatusForbidden, wantCode: "SignatureDoesNotMatch"},
		{name: "twenty minutes old", method: http.MethodGet, target: "/b/k", at: -20 * time.Minute,
			wantStatus: http.StatusForbidden, wantCode: "RequestTimeTooSkewed"},
		{name: "ten minutes old", method: http.MethodPut, target: "/b/k", body: body, at: -10 * time.Minute,
			wantStatus: http.StatusOK},
		{name: "other service", method: http.MethodGet, target: "/b/k", service: "ec2",
			wantStatus: http.StatusBadRequest, wantCode: "AuthorizationHeaderMalformed"},
		{name: "content-md5 wrong", method: http.MethodPut, target: "/b/k", body: body, header: map[string]string{"Content-Md5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
			wantStatus: http.StatusBadRequest, wantCode: "BadDigest"},
		{name: "crc32 header wrong", method: http.MethodPut, target: "/b/k", body: body, header: map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="},
			wantStatus: http.StatusBadRequest, wantCode: "BadDigest"},
		{name: "crc32 header right", method: http.MethodPut, target: "/b/k", body: body, header: map[string]string{"X-Amz-Checksum-Crc32": crc32Base64(body)},
			wantStatus: http.StatusOK},
		{name: "aws-chunked with a plain payload hash", method: http.MethodPut, target: "/b/k", body: body, header: map[string]string{"Content-Encoding": "aws-chunked"},
			wantStatus: http.StatusBadRequest, wantCode: "InvalidRequest"},
		{name: "signed trailer mode", method: http.MethodPut, target: "/b/k", body: body, payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
			header: map[string]string{"Content-Encoding": "aws-chunked"}, wantStatus: http.StatusNotImplemented, wantCode: "NotImplemented"},
		{name: "subresource", method: http.MethodGet, target: "/b/k?acl",
			wantStatus: http.StatusNotImplemented, wantCode: "NotImplemented"},
		{name: "listing", method: http.MethodGet, target: "/b",
			wantStatus: http.StatusNotImplemented, wantCode: "NotImplemented"},
		{name: "delete", method: http.MethodDelete, target: "/b/k",
			wantStatus: http.StatusMethodNotAllowed, wantCode: "MethodNotAllowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := start(t, keys, false)
			req, err := http.NewRequest(tt.method, ts.URL+tt.target, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			hash := tt.payloadHash
			switch hash {
			case "":
				hash = hexSHA256(tt.body)
				req.Header.Set("X-Amz-Content-Sha256", hash)
			case "-":
				hash = hexSHA256(tt.body)
			default:
				req.Header.Set("X-Amz-Content-Sha256", hash)
			}
			service := tt.service
			if service == "" {
				service = "s3"
			}
			if !tt.unsigned {
				creds := aws.Credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, SessionToken: keys.SessionToken}
				signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
				if err := signer.SignHTTP(context.Background(), creds, req, hash, service, region, time.Now().Add(tt.at)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.after != nil {
				tt.after(req)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := last(t, srv)
			t.Logf("seen: %d %s", r.Status, r.Error)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: %d %s; want %d\nseen %+v", tt.method, tt.target, resp.StatusCode, respBody, tt.wantStatus, r)
			}
			if tt.wantCode == "" {
				if r.Error != "" || !r.Verified {
					t.Errorf("seen as %+v", r)
				}
				return
			}
			if code, _ := xmlError(t, respBody); code != tt.wantCode || !strings.HasPrefix(r.Error, tt.wantCode+":") {
				t.Errorf("error %s, recorded %q; want %s", code, r.Error, tt.wantCode)
			}
		})
	}
}
