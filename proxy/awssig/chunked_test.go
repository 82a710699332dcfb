package awssig

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// streamingUpload is a surrogate-signed STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// PUT, framed by the test with the SDK's StreamSigner. mangle may change
// the framed body after it was signed. It returns the request as it
// reaches the proxy and a builder for the same request unsigned.
//
// A mangle that changes the body's length needs an upload whose length
// was not signed: unsized says to sign without one and send the body with
// HTTP chunked transfer encoding.
func streamingUpload(t *testing.T, c Credential, payload []byte, chunk int, mangle func([]byte) []byte, unsized bool) (*http.Request, func() *http.Request) {
	t.Helper()
	n := framedLen(len(payload), chunk)
	build := func() *http.Request {
		req := newReq(t, http.MethodPut, "https://bucket.s3.us-east-1.amazonaws.com/big%20file.bin", nil,
			"X-Amz-Content-Sha256", streamingSigned, "Content-Encoding", "aws-chunked",
			"X-Amz-Decoded-Content-Length", strconv.Itoa(len(payload)), "Content-Type", "application/octet-stream")
		req.ContentLength = int64(n)
		if unsized {
			req.ContentLength = 0
		}
		return req
	}
	req := build()
	sdkSign(t, req, surrogateOf(c), streamingSigned, "s3", "us-east-1", signTime)
	body := frameChunks(t, payload, chunk, surrogateOf(c), authSig(t, req.Header.Get("Authorization")), "us-east-1", signTime)
	if len(body) != n {
		t.Fatalf("framed %d bytes, expected %d", len(body), n)
	}
	if mangle != nil {
		body = mangle(body)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if unsized {
		req.ContentLength = -1
	}
	return wire(t, req), build
}

func testPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

func TestStreamingUpload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		session bool
		size    int
		chunk   int
	}{
		{"several chunks", false, 150000, 65536},
		{"session token, exact multiple", true, 3 * 8192, 8192},
		{"one byte", false, 1, 65536},
		{"empty", true, 0, 65536},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCred(tc.session)
			payload := testPayload(tc.size)
			in, build := streamingUpload(t, c, payload, tc.chunk, nil, false)
			res := Resign(in, hostOf(in), []Credential{c}, signTime)
			if want := (Result{Name: c.Name, Region: "us-east-1", Service: "s3", Resigned: true}); res != want {
				t.Fatalf("Resign = %+v, want %+v", res, want)
			}
			expect := build()
			sdkSign(t, expect, realOf(c), streamingSigned, "s3", "us-east-1", signTime)
			if got, w := in.Header.Get("Authorization"), expect.Header.Get("Authorization"); got != w {
				t.Fatalf("Authorization\n got %s\nwant %s", got, w)
			}
			got := readBody(t, in)
			want := frameChunks(t, payload, tc.chunk, realOf(c), authSig(t, expect.Header.Get("Authorization")), "us-east-1", signTime)
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from one framed with the real key (%d bytes, want %d)", len(got), len(want))
			}
			if int64(len(got)) != in.ContentLength {
				t.Errorf("body is %d bytes, Content-Length %d", len(got), in.ContentLength)
			}
			noSurrogate(t, in, c)
		})
	}
}

func TestStreamingUploadRejects(t *testing.T) {
	const chunk = 4096
	payload := testPayload(3*chunk + 100)
	// offset of chunk i's data in the framed body
	dataAt := func(i int) int { return i*(4+17+64+2+chunk+2) + 4 + 17 + 64 + 2 }
	for _, tc := range []struct {
		name   string
		mangle func([]byte) []byte
		err    string
		// sent is how many whole chunks may have gone out before the error
		sent    int
		unsized bool
	}{
		{"bad data in chunk 2", func(b []byte) []byte { b[dataAt(1)+5] ^= 1; return b },
			"chunk 2: surrogate chunk signature does not verify", 1, false},
		{"bad signature in chunk 1", func(b []byte) []byte { b[dataAt(0)-3] = otherHex(b[dataAt(0)-3]); return b },
			"chunk 1: surrogate chunk signature does not verify", 0, false},
		{"chunks swapped", func(b []byte) []byte {
			c1 := slicesClone(b[:dataAt(1)-(4+17+64+2)])
			c2 := b[dataAt(1)-(4+17+64+2) : dataAt(2)-(4+17+64+2)]
			return append(append(append([]byte{}, c2...), c1...), b[dataAt(2)-(4+17+64+2):]...)
		}, "chunk 1: surrogate chunk signature does not verify", 0, false},
		{"truncated", func(b []byte) []byte { return b[:len(b)-30] }, "chunk 5: body ended inside a chunk header", 4, true},
		{"data after the final chunk", func(b []byte) []byte { return append(b, "extra"...) }, "data after the final chunk", 4, true},
		{"final chunk missing", func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("0;chunk-signature="))] },
			"chunk 5: body ended before the final chunk", 4, true},
		{"chunk extension", func(b []byte) []byte {
			return bytes.Replace(b, []byte(";chunk-signature="), []byte(";chunk-signatur="), 1)
		},
			"chunk 1: malformed chunk signature", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCred(false)
			in, _ := streamingUpload(t, c, payload, chunk, tc.mangle, tc.unsized)
			if res := Resign(in, hostOf(in), []Credential{c}, signTime); !res.Resigned {
				t.Fatalf("Resign = %+v (the header signature is good)", res)
			}
			got, err := io.ReadAll(in.Body)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("read error = %v, want %q", err, tc.err)
			}
			if len(got) > dataAt(tc.sent) {
				t.Errorf("%d bytes went out, more than the %d verified chunks", len(got), tc.sent)
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// otherHex returns a different lower-case hex digit.
func otherHex(b byte) byte {
	if b == '0' {
		return '1'
	}
	return '0'
}

func TestParseChunkHeader(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		line string
		size int
		ok   bool
	}{
		{"10000;chunk-signature=" + sig + "\r\n", 65536, true},
		{"0;chunk-signature=" + sig + "\r\n", 0, true},
		{"00FfAa;chunk-signature=" + sig + "\r\n", 0xffaa, true},
		{"1000000;chunk-signature=" + sig + "\r\n", 1 << 24, true},
		{"1000001;chunk-signature=" + sig + "\r\n", 0, false}, // over 16 MiB
		{"123456789;chunk-signature=" + sig + "\r\n", 0, false},
		{";chunk-signature=" + sig + "\r\n", 0, false},
		{"-1;chunk-signature=" + sig + "\r\n", 0, false},
		{"+1;chunk-signature=" + sig + "\r\n", 0, false},
		{"0x1;chunk-signature=" + sig + "\r\n", 0, false},
		{"1;chunk-signature=" + sig + "\n", 0, false},
		{"1;chunk-signature=" + sig[:62] + "\r\n", 0, false},
		{"1;chunk-signature=" + strings.ToUpper(sig) + "\r\n", 0, false},
		{"1;chunk-signature=" + sig + ";x=y\r\n", 0, false},
		{"1 ;chunk-signature=" + sig + "\r\n", 0, false},
		{"1\r\n", 0, false},
	} {
		size, at, err := parseChunkHeader([]byte(tc.line))
		if (err == nil) != tc.ok || tc.ok && (size != tc.size || tc.line[at:at+64] != sig) {
			t.Errorf("parseChunkHeader(%q) = %d, %d, %v", tc.line, size, at, err)
		}
	}
}

// chunkHarness runs bodies through the chunk reader with fixed keys.
type chunkHarness struct {
	surrogate, real aws.Credentials
	seed, realSeed  []byte
	at              time.Time
}

func newChunkHarness() chunkHarness {
	return chunkHarness{
		surrogate: aws.Credentials{AccessKeyID: "AKIASURROGATE0000002", SecretAccessKey: surrogateSecret},
		real:      aws.Credentials{AccessKeyID: "AKIAREALKEY000000001", SecretAccessKey: realSecret},
		seed:      bytes.Repeat([]byte{7}, 32),
		realSeed:  bytes.Repeat([]byte{9}, 32),
		at:        time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

// frame encodes payload signed with the surrogate key.
func (h chunkHarness) frame(payload []byte, chunk int) []byte {
	ss := v4.NewStreamSigner(h.surrogate, "s3", "us-east-1", h.seed)
	var out bytes.Buffer
	for off := 0; ; off += chunk {
		data := payload[min(off, len(payload)):min(off+chunk, len(payload))]
		sig, _ := ss.GetSignature(context.Background(), nil, data, h.at)
		fmt.Fprintf(&out, "%x;chunk-signature=%s\r\n%s\r\n", len(data), hex.EncodeToString(sig), data)
		if len(data) == 0 {
			return out.Bytes()
		}
	}
}

func (h chunkHarness) read(body []byte, verifier, signer aws.Credentials, vseed, sseed []byte) ([]byte, error) {
	cr := newChunkReader(io.NopCloser(bytes.NewReader(body)), verifier, signer, vseed, sseed, "us-east-1", "s3", h.at)
	return io.ReadAll(io.LimitReader(cr, int64(len(body))+1))
}

// check runs body through the reader. Whatever it accepts must come out
// the same length, verify with the real key chained from the real seed,
// and carry the same data.
func (h chunkHarness) check(t *testing.T, body []byte) (ok bool) {
	t.Helper()
	out, err := h.read(body, h.surrogate, h.real, h.seed, h.realSeed)
	if err != nil {
		return false
	}
	if len(out) != len(body) {
		t.Fatalf("accepted %d bytes, put out %d", len(body), len(out))
	}
	if _, err := h.read(out, h.real, h.real, h.realSeed, h.realSeed); err != nil {
		t.Fatalf("re-signed body does not verify with the real key: %v", err)
	}
	if !bytes.Equal(unframe(out), unframe(body)) {
		t.Fatal("data changed")
	}
	return true
}

// unframe strips the framing of a body the reader accepted.
func unframe(body []byte) []byte {
	var data []byte
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte("\r\n"))
		size, _ := strconv.ParseUint(string(line[:bytes.IndexByte(line, ';')]), 16, 32)
		data = append(data, rest[:size]...)
		body = rest[size+2:]
	}
	return data
}

// TestChunksRoundTrip: every valid framing, over many lengths and chunk
// sizes, is accepted and re-signed.
func TestChunksRoundTrip(t *testing.T) {
	h := newChunkHarness()
	for n := 0; n <= 300; n += 1 + n/20 {
		for _, chunk := range []int{1, 2, 3, 7, 16, 64, 255, 256, 4096} {
			if !h.check(t, h.frame(testPayload(n), chunk)) {
				t.Fatalf("a validly framed body (%d bytes in chunks of %d) was refused", n, chunk)
			}
		}
	}
}

// FuzzChunks feeds the chunk parser arbitrary bodies (seeded with valid
// framings and near misses). It must never panic or hang, and whatever it
// accepts must be re-signed correctly (see chunkHarness.check).
func FuzzChunks(f *testing.F) {
	h := newChunkHarness()
	hello := h.frame([]byte("hello world"), 4)
	f.Add(hello)
	f.Add(h.frame(nil, 1))
	f.Add(h.frame(testPayload(300), 100))
	f.Add(bytes.ToUpper(hello[:1]))
	f.Add(hello[:len(hello)-3])
	f.Add(append(slicesClone(hello), "extra"...))
	f.Add([]byte("5;chunk-signature=" + strings.Repeat("0", 64) + "\r\nhello\r\n"))
	f.Add([]byte("1000000;chunk-signature=" + strings.Repeat("0", 64) + "\r\n"))
	f.Add([]byte("fffffff;chunk-signature="))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		h.check(t, raw)
	})
}
