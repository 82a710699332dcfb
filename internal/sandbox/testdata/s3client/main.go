// Command s3client is a small S3 client for the sandbox tests: it runs
// inside an agent container, where it holds surrogate AWS keys, so that a
// test can show the proxy re-signing its requests for the real upstream.
// It is built statically (CGO_ENABLED=0) and mounted into the container.
//
// Usage:
//
//	s3client -endpoint https://s3.example.test put BUCKET KEY < body
//	s3client -endpoint https://s3.example.test get BUCKET KEY > body
//	s3client -endpoint https://s3.example.test presign-get BUCKET KEY
//	s3client -endpoint https://s3.example.test put-chunked BUCKET KEY < body
//
// Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN only (no shared config or credentials files, no
// instance metadata), the region from AWS_REGION (default us-east-1).
// Requests are path-style. TLS trusts the system roots, so SSL_CERT_FILE
// can name the test CA.
//
// put and get use aws-sdk-go-v2 as an application would, with the
// checksum defaults config.LoadDefaultConfig gives (a PutObject over HTTPS
// then sends a STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked body with a
// trailing CRC32). presign-get prints a presigned GET URL, then fetches it
// with net/http and prints the body after it. put-chunked sends the body
// as STREAMING-AWS4-HMAC-SHA256-PAYLOAD in 64 KiB chunks each signed with
// v4.StreamSigner, as older SDKs and the AWS CLI do.
//
// On failure it prints the error (for S3 answers, the SDK's "api error
// Code: Message") on stderr and exits 1; usage errors exit 2. Nothing it
// prints contains the secret access key; the presigned URL does contain
// the access key ID and the session token, as every presigned URL does.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

const (
	// chunkSize is what the AWS CLI and the v1 SDKs use for signed
	// aws-chunked uploads.
	chunkSize       = 64 << 10
	streamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	timeout         = 60 * time.Second
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// client is what every command needs.
type client struct {
	endpoint string
	region   string
	creds    aws.Credentials
	s3       *s3.Client
	http     *http.Client
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("s3client", flag.ContinueOnError)
	flags.SetOutput(stderr)
	endpoint := flags.String("endpoint", "", "S3 endpoint URL, e.g. https://s3.example.test")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: s3client -endpoint URL put|get|presign-get|put-chunked BUCKET KEY")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" || flags.NArg() != 3 {
		flags.Usage()
		return 2
	}
	command, bucket, key := flags.Arg(0), flags.Arg(1), flags.Arg(2)

	secret := os.Getenv("AWS_SECRET_ACCESS_KEY")
	fail := func(err error) int {
		msg := fmt.Sprintf("s3client: %s %s/%s: %v", command, bucket, key, err)
		// No message should hold the secret; this makes sure of it.
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "[redacted]")
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}

	c, err := newClient(*endpoint, secret)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	switch command {
	case "put":
		err = c.put(ctx, bucket, key, stdin)
	case "get":
		err = c.get(ctx, bucket, key, stdout)
	case "presign-get":
		err = c.presignGet(ctx, bucket, key, stdout)
	case "put-chunked":
		err = c.putChunked(ctx, bucket, key, stdin)
	default:
		flags.Usage()
		return 2
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func newClient(endpoint, secret string) (*client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q is not an http(s) URL", endpoint)
	}
	id := os.Getenv("AWS_ACCESS_KEY_ID")
	if id == "" || secret == "" {
		return nil, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	provider := credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN"))
	creds, err := provider.Retrieve(context.Background())
	if err != nil {
		return nil, fmt.Errorf("read credentials from the environment: %w", err)
	}
	// One client for the SDK and for the hand-made requests: the default
	// transport, which trusts the system roots (and SSL_CERT_FILE).
	httpClient := &http.Client{Timeout: timeout}
	c := &client{
		endpoint: strings.TrimSuffix(endpoint, "/"),
		region:   region,
		creds:    creds,
		http:     httpClient,
	}
	c.s3 = s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(c.endpoint),
		UsePathStyle: true,
		Credentials:  provider,
		HTTPClient:   httpClient,
		// s3.New alone leaves these unset, which sends no checksums;
		// config.LoadDefaultConfig, what applications use, sets
		// WhenSupported, and that is the traffic the proxy must carry.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		// One request per command, so that a test can count them.
		Retryer: aws.NopRetryer{},
	})
	return c, nil
}

func (c *client) put(ctx context.Context, bucket, key string, stdin io.Reader) error {
	// Read it all: the SDK needs a seekable body to know its length.
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	return err
}

func (c *client) get(ctx context.Context, bucket, key string, stdout io.Writer) error {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	// Reading to the end is what runs the SDK's checksum validation.
	if _, err := io.Copy(stdout, out.Body); err != nil {
		return fmt.Errorf("read object body: %w", err)
	}
	return nil
}

func (c *client) presignGet(ctx context.Context, bucket, key string, stdout io.Writer) error {
	presigned, err := s3.NewPresignClient(c.s3).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: &bucket, Key: &key}, s3.WithPresignExpires(15*time.Minute))
	if err != nil {
		return fmt.Errorf("presign: %w", err)
	}
	fmt.Fprintln(stdout, presigned.URL)
	req, err := http.NewRequestWithContext(ctx, presigned.Method, presigned.URL, nil)
	if err != nil {
		return fmt.Errorf("build presigned request: %w", err)
	}
	for name, values := range presigned.SignedHeader {
		// net/http takes the host from the URL.
		if !strings.EqualFold(name, "Host") {
			req.Header[name] = values
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetch presigned URL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("read presigned GET body: %w", err)
	}
	return nil
}

// putChunked uploads the body the way the AWS CLI and the v1 SDKs do:
//
//	Content-Encoding: aws-chunked
//	x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD
//	x-amz-decoded-content-length: <body length>
//
//	<hex size>;chunk-signature=<sig>\r\n<data>\r\n … 0;chunk-signature=<sig>\r\n\r\n
//
// The request is signed first (its signature seeds the chain), then each
// chunk with v4.StreamSigner, whose string to sign with empty headers is
// S3's chunk string to sign.
func (c *client) putChunked(ctx context.Context, bucket, key string, stdin io.Reader) error {
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	chunks := splitChunks(body)

	// Escaped as the SDK escapes S3 keys; S3 signs this path as is.
	target := c.endpoint + "/" + httpbinding.EscapePath(bucket, true) + "/" + httpbinding.EscapePath(key, false)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Amz-Content-Sha256", streamingSigned)
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)))
	// The signature covers content-length, so the framed length is
	// worked out before the chunk signatures exist; every signature is
	// 64 hex digits.
	req.ContentLength = framedLength(chunks)

	now := time.Now().UTC()
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(ctx, c.creds, req, streamingSigned, "s3", c.region, now); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	seed, err := hex.DecodeString(authorizationSignature(req.Header.Get("Authorization")))
	if err != nil {
		return fmt.Errorf("read request signature: %w", err)
	}
	chunkSigner := v4.NewStreamSigner(c.creds, "s3", c.region, seed)
	var framed bytes.Buffer
	for _, chunk := range chunks {
		sig, err := chunkSigner.GetSignature(ctx, nil, chunk, now)
		if err != nil {
			return fmt.Errorf("sign chunk: %w", err)
		}
		fmt.Fprintf(&framed, "%x;chunk-signature=%x\r\n", len(chunk), sig)
		framed.Write(chunk)
		framed.WriteString("\r\n")
	}
	if int64(framed.Len()) != req.ContentLength {
		return fmt.Errorf("framed body is %d bytes, %d were signed", framed.Len(), req.ContentLength)
	}
	req.Body = io.NopCloser(bytes.NewReader(framed.Bytes()))

	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("send chunked upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	return nil
}

// splitChunks cuts body into chunkSize pieces and appends the empty final
// chunk.
func splitChunks(body []byte) [][]byte {
	var chunks [][]byte
	for len(body) > 0 {
		n := min(len(body), chunkSize)
		chunks = append(chunks, body[:n])
		body = body[n:]
	}
	return append(chunks, nil)
}

func framedLength(chunks [][]byte) int64 {
	const perChunk = len(";chunk-signature=") + 64 + len("\r\n") + len("\r\n")
	var n int64
	for _, chunk := range chunks {
		n += int64(len(strconv.FormatInt(int64(len(chunk)), 16)) + perChunk + len(chunk))
	}
	return n
}

func authorizationSignature(header string) string {
	_, sig, _ := strings.Cut(header, "Signature=")
	return sig
}

// responseError reads S3's XML error document into the shape the SDK's
// errors print as.
func responseError(resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("https response error StatusCode: %d, read error body: %w", resp.StatusCode, err)
	}
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &doc) != nil || doc.Code == "" {
		return fmt.Errorf("https response error StatusCode: %d, %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	// Only code and message: S3 also returns the canonical request,
	// which holds the session token.
	return fmt.Errorf("https response error StatusCode: %d, api error %s: %s", resp.StatusCode, doc.Code, doc.Message)
}
