package awstest_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airut-go/airut/internal/testing/awstest"
)

// buildS3Client builds the container's S3 client as the sandbox tests do:
// static, with go from PATH (go test puts its own first).
func buildS3Client(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "s3client")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "..", "sandbox", "testdata", "s3client")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build s3client: %v\n%s", err, out)
	}
	return bin
}

// TestS3Client runs the container's client against the server over TLS,
// trusting the server's certificate through SSL_CERT_FILE only. The steps
// share one server and run in order.
func TestS3Client(t *testing.T) {
	bin := buildS3Client(t)
	srv, ts := start(t, keys, true)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyDir := t.TempDir()

	big := bytes.Repeat([]byte("container upload "), 150<<10/17)
	wrongSecret := awstest.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: "surrogate/secret/0123456789abcdefghijklm", SessionToken: keys.SessionToken}
	unknownKey := awstest.Keys{AccessKeyID: "AKIASURROGATE0000001", SecretAccessKey: keys.SecretAccessKey, SessionToken: keys.SessionToken}

	tests := []struct {
		name  string
		keys  awstest.Keys
		args  []string
		stdin []byte
		// wantStdout is the exact output; for presign-get the body after
		// the URL line.
		wantStdout []byte
		wantExit   int
		wantStderr string
		// wantSeen checks the last request the server saw.
		wantSeen func(awstest.Request) bool
	}{
		{name: "put", keys: keys, args: []string{"put", "bkt", oddKey}, stdin: []byte("hello from the container"),
			wantSeen: func(r awstest.Request) bool {
				return r.Verified && r.Chunked && r.PayloadHash == streamingTrailer && r.Header.Get("X-Amz-Trailer") == "x-amz-checksum-crc32"
			}},
		{name: "get", keys: keys, args: []string{"get", "bkt", oddKey}, wantStdout: []byte("hello from the container"),
			wantSeen: func(r awstest.Request) bool { return r.Verified && r.Method == "GET" && !r.Presigned }},
		{name: "presign-get", keys: keys, args: []string{"presign-get", "bkt", oddKey}, wantStdout: []byte("hello from the container"),
			wantSeen: func(r awstest.Request) bool { return r.Verified && r.Presigned }},
		{name: "put-chunked", keys: keys, args: []string{"put-chunked", "bkt", "big"}, stdin: big,
			wantSeen: func(r awstest.Request) bool { return r.Verified && r.Chunked && r.PayloadHash == streamingSigned }},
		{name: "get chunked upload", keys: keys, args: []string{"get", "bkt", "big"}, wantStdout: big,
			wantSeen: func(r awstest.Request) bool { return r.Verified }},
		{name: "put-chunked empty", keys: keys, args: []string{"put-chunked", "bkt", "empty"}, stdin: []byte{},
			wantSeen: func(r awstest.Request) bool { return r.Verified && r.Chunked }},
		{name: "get missing", keys: keys, args: []string{"get", "bkt", "missing"}, wantExit: 1, wantStderr: "NoSuchKey",
			wantSeen: func(r awstest.Request) bool { return r.Verified && r.Status == 404 }},
		{name: "put wrong secret", keys: wrongSecret, args: []string{"put", "bkt", "x"}, stdin: []byte("x"), wantExit: 1, wantStderr: "api error SignatureDoesNotMatch",
			wantSeen: func(r awstest.Request) bool { return !r.Verified && r.Status == 403 }},
		{name: "get wrong secret", keys: wrongSecret, args: []string{"get", "bkt", oddKey}, wantExit: 1, wantStderr: "api error SignatureDoesNotMatch",
			wantSeen: func(r awstest.Request) bool { return !r.Verified }},
		{name: "presign-get wrong secret", keys: wrongSecret, args: []string{"presign-get", "bkt", oddKey}, wantExit: 1, wantStderr: "api error SignatureDoesNotMatch",
			wantSeen: func(r awstest.Request) bool { return !r.Verified && r.Presigned }},
		{name: "put-chunked wrong secret", keys: wrongSecret, args: []string{"put-chunked", "bkt", "x"}, stdin: big, wantExit: 1, wantStderr: "api error SignatureDoesNotMatch",
			wantSeen: func(r awstest.Request) bool { return !r.Verified && r.Chunked && r.PayloadHash == streamingSigned }},
		{name: "get unknown key", keys: unknownKey, args: []string{"get", "bkt", oddKey}, wantExit: 1, wantStderr: "api error InvalidAccessKeyId",
			wantSeen: func(r awstest.Request) bool { return !r.Verified && r.AccessKeyID == unknownKey.AccessKeyID }},
		{name: "usage", keys: keys, args: []string{"list", "bkt", "x"}, wantExit: 2, wantStderr: "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Seen())
			cmd := exec.Command(bin, append([]string{"-endpoint", ts.URL}, tt.args...)...)
			cmd.Env = []string{
				"AWS_ACCESS_KEY_ID=" + tt.keys.AccessKeyID,
				"AWS_SECRET_ACCESS_KEY=" + tt.keys.SecretAccessKey,
				"AWS_SESSION_TOKEN=" + tt.keys.SessionToken,
				"AWS_REGION=" + region,
				"HOME=" + emptyDir,
				"SSL_CERT_FILE=" + certFile,
				"SSL_CERT_DIR=" + emptyDir,
			}
			cmd.Stdin = bytes.NewReader(tt.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			exit := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				exit = exitErr.ExitCode()
			} else if err != nil {
				t.Fatalf("run s3client: %v", err)
			}
			if stderr.Len() > 0 {
				t.Logf("stderr: %s", stderr.String())
			}
			if exit != tt.wantExit || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", exit, stderr.String(), tt.wantExit, tt.wantStderr)
			}
			for _, out := range []string{stdout.String(), stderr.String()} {
				if strings.Contains(out, tt.keys.SecretAccessKey) || strings.Contains(out, keys.SecretAccessKey) {
					t.Errorf("output holds a secret access key:\n%s", out)
				}
			}

			got := stdout.Bytes()
			if tt.args[0] == "presign-get" && len(got) > 0 {
				line, rest, _ := bytes.Cut(got, []byte("\n"))
				if !bytes.HasPrefix(line, []byte(ts.URL+"/bkt/")) || !bytes.Contains(line, []byte("X-Amz-Signature=")) {
					t.Errorf("first line is not a presigned URL: %q", line)
				}
				got = rest
			}
			if tt.wantExit == 0 && !bytes.Equal(got, tt.wantStdout) {
				t.Errorf("stdout is %d bytes %.60q, want %d bytes %.60q", len(got), got, len(tt.wantStdout), tt.wantStdout)
			}
			if tt.args[0] == "put" || tt.args[0] == "put-chunked" {
				stored, ok := srv.Object(tt.args[1], tt.args[2])
				if tt.wantExit == 0 && (!ok || !bytes.Equal(stored, tt.stdin)) {
					t.Errorf("stored %d bytes (%v), want %d", len(stored), ok, len(tt.stdin))
				}
				if tt.wantExit != 0 && ok {
					t.Error("a refused upload was stored")
				}
			}

			seen := srv.Seen()[before:]
			if tt.wantSeen == nil {
				if len(seen) != 0 {
					t.Errorf("sent %d requests, want none", len(seen))
				}
				return
			}
			// One request per command: no retries, no stray calls.
			if len(seen) != 1 {
				t.Fatalf("sent %d requests, want 1: %+v", len(seen), seen)
			}
			if !tt.wantSeen(seen[0]) {
				t.Errorf("server saw %+v", seen[0])
			}
		})
	}
}
