package awstest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Keys are AWS credentials: the only ones an [S3] accepts.
type Keys struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken, when set, must be sent as X-Amz-Security-Token; when
	// empty, a request carrying a token is refused.
	SessionToken string
}

// Request is one request as the server saw it.
type Request struct {
	Method string
	// Host is the Host header as received, port included.
	Host string
	// Path is the decoded URL path.
	Path string
	// AccessKeyID is the one named by the request's credential, known or
	// not; empty for an anonymous or unparseable request.
	AccessKeyID string
	// Verified reports that the signature checked out, and for a signed
	// aws-chunked body every chunk signature too.
	Verified bool
	// Presigned reports query-string authentication.
	Presigned bool
	// Chunked reports a STREAMING-* payload hash: an aws-chunked body.
	Chunked bool
	// PayloadHash is x-amz-content-sha256, or for a presigned request the
	// payload hash it was verified with (UNSIGNED-PAYLOAD).
	PayloadHash string
	// Header is a copy of the request's headers.
	Header http.Header
	// Status is the HTTP status of the answer.
	Status int
	// Error is "Code: Message" of an error answer, with what the server
	// found wrong when S3's message does not say; empty on success.
	Error string
}

// maxObjectSize bounds what one PUT may store, so that a runaway test
// fails instead of exhausting memory.
const maxObjectSize = 64 << 20

type objectKey struct{ bucket, key string }

type object struct {
	data        []byte
	contentType string
	etag        string
	modified    time.Time
	// checksums are the x-amz-checksum-* values the upload carried (in a
	// header or a trailer), by lower-case algorithm name, base64.
	checksums map[string]string
}

// S3 is the fake object store. The zero value is not usable; call [NewS3].
type S3 struct {
	keys Keys

	mu      sync.Mutex
	objects map[objectKey]object
	seen    []Request
	lastID  int
}

// NewS3 returns an empty store that accepts only keys.
func NewS3(keys Keys) *S3 {
	return &S3{keys: keys, objects: map[objectKey]object{}}
}

// Handler serves the S3 API; mount it on an httptest server.
func (s *S3) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Seen returns every request served so far, in order.
func (s *S3) Seen() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// Object returns a copy of a stored object's body.
func (s *S3) Object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[objectKey{bucket, key}]
	if !ok {
		return nil, false
	}
	return slices.Clone(o.data), true
}

func (s *S3) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID++
	return fmt.Sprintf("%016X", s.lastID)
}

func (s *S3) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone()}
	id := s.requestID()
	h := w.Header()
	h.Set("x-amz-request-id", id)
	h.Set("x-amz-id-2", "awstest/"+id)
	h.Set("Server", "AmazonS3")

	status, body, err := s.answer(h, r, &rec)
	if err != nil {
		status = err.status
		rec.Error = err.code + ": " + err.message
		if err.detail != "" {
			rec.Error += " (" + err.detail + ")"
		}
		body = errorDocument(h, r, err, id)
		// Read what is left of a refused upload, so that the client gets
		// the answer rather than a reset connection while still sending.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxObjectSize))
	}
	rec.Status = status

	// Recorded before answering, so that a client that has its answer
	// finds its request in Seen.
	s.mu.Lock()
	s.seen = append(s.seen, rec)
	s.mu.Unlock()

	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		// A client that goes away mid-answer is its own test's failure.
		_, _ = w.Write(body)
	}
}

// answer authenticates r and performs the operation, setting the answer's
// headers in h and returning its status and body, or the error to send.
func (s *S3) answer(h http.Header, r *http.Request, rec *Request) (int, []byte, *s3Error) {
	a, err := s.authenticate(r)
	if a != nil {
		rec.AccessKeyID = a.accessKeyID
		rec.Presigned = a.presigned
		rec.PayloadHash = a.payloadHash
		rec.Chunked = strings.HasPrefix(a.payloadHash, "STREAMING-")
	}
	if err != nil {
		return 0, nil, err
	}
	rec.Verified = true

	bucket, key := route(r)
	if err := checkQuery(r, a.presigned); err != nil {
		return 0, nil, err
	}
	if bucket == "" || key == "" {
		// Listing buckets or objects, creating buckets, bucket
		// configuration: nothing the tests need.
		return 0, nil, notImplemented("bucket-level operations are not implemented")
	}
	switch r.Method {
	case http.MethodPut:
		if a.presigned {
			return 0, nil, notImplemented("presigned PUT is not implemented")
		}
		return s.putObject(h, r, a, rec, objectKey{bucket, key})
	case http.MethodGet, http.MethodHead:
		if r.Header.Get("Range") != "" {
			return 0, nil, notImplemented("range requests are not implemented")
		}
		return s.getObject(h, r, objectKey{bucket, key})
	default:
		return 0, nil, &s3Error{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed",
			message: "The specified method is not allowed against this resource."}
	}
}

// route finds the bucket and key: from the host for virtual-hosted style
// ({bucket}.s3.… or {bucket}.s3-{region}.…), else from the path.
func route(r *http.Request) (bucket, key string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if net.ParseIP(host) == nil {
		labels := strings.Split(host, ".")
		// The last s3 label marks the service, so that a bucket name
		// with dots (even an "s3" label) stays whole.
		for i := len(labels) - 1; i >= 1; i-- {
			if labels[i] == "s3" || strings.HasPrefix(labels[i], "s3-") {
				return strings.Join(labels[:i], "."), path
			}
		}
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// checkQuery refuses subresources (?acl, ?uploads, ?partNumber, …) so that
// an operation this server does not implement is not mistaken for a plain
// object operation. x-id is what the Go SDK adds to name the operation.
func checkQuery(r *http.Request, presigned bool) *s3Error {
	for name := range r.URL.Query() {
		if name == "x-id" || presigned && strings.HasPrefix(name, "X-Amz-") {
			continue
		}
		return notImplemented(fmt.Sprintf("query parameter %q is not implemented", name))
	}
	return nil
}

func (s *S3) putObject(h http.Header, r *http.Request, a *auth, rec *Request, k objectKey) (int, []byte, *s3Error) {
	p, err := s.readPayload(r, a)
	if err != nil {
		// A signed stream that did not arrive whole was not verified
		// whole, whatever the chunks before the fault said.
		if a.payloadHash == streamingSigned && !p.chunksVerified {
			rec.Verified = false
		}
		return 0, nil, err
	}
	sum := md5.Sum(p.data)
	o := object{
		data:        p.data,
		contentType: r.Header.Get("Content-Type"),
		etag:        `"` + hex.EncodeToString(sum[:]) + `"`,
		modified:    time.Now().UTC().Truncate(time.Second),
		checksums:   p.checksums,
	}
	s.mu.Lock()
	s.objects[k] = o
	s.mu.Unlock()

	h.Set("ETag", o.etag)
	for alg, v := range o.checksums {
		h.Set("x-amz-checksum-"+alg, v)
	}
	if len(o.checksums) > 0 {
		h.Set("x-amz-checksum-type", "FULL_OBJECT")
	}
	return http.StatusOK, nil, nil
}

func (s *S3) getObject(h http.Header, r *http.Request, k objectKey) (int, []byte, *s3Error) {
	s.mu.Lock()
	o, ok := s.objects[k]
	s.mu.Unlock()
	if !ok {
		return 0, nil, &s3Error{status: http.StatusNotFound, code: "NoSuchKey",
			message: "The specified key does not exist.", extra: [][2]string{{"Key", k.key}}}
	}
	contentType := o.contentType
	if contentType == "" {
		contentType = "binary/octet-stream"
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(o.data)))
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.modified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	// S3 returns the stored checksum only when asked, and the SDK then
	// checks the body against it.
	if strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED") && len(o.checksums) > 0 {
		for alg, v := range o.checksums {
			h.Set("x-amz-checksum-"+alg, v)
		}
		h.Set("x-amz-checksum-type", "FULL_OBJECT")
	}
	return http.StatusOK, o.data, nil
}
