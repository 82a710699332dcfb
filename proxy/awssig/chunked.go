package awssig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxChunk bounds one aws-chunked chunk, and so the memory a chunked
// upload costs: SDKs use 64 KiB to 8 MiB chunks.
const maxChunk = 16 << 20

const chunkSigPrefix = "chunk-signature="

// chunkReader rewrites an aws-chunked body signed with the surrogate key
// (x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD) into the same
// bytes with every chunk signature replaced by the real key's.
//
// The framing is parsed by hand because the SDK has no aws-chunked
// decoder (it only encodes, and only for unsigned trailers). Each chunk is
//
//	<hex size>;chunk-signature=<64 hex>\r\n<size bytes>\r\n
//
// ending with a zero-size chunk and then end of body. The signatures
// themselves come from the SDK's v4.StreamSigner: its event-stream
// string-to-sign, "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous
// signature>\n<sha256(headers)>\n<sha256(payload)>", is S3's chunk
// string-to-sign when the headers are empty (S3 puts sha256("") there),
// and it chains the previous signature the same way.
//
// A chunk is held whole (at most maxChunk) and only released after its
// surrogate signature verified, so no byte of a chunk that does not verify
// is ever sent with a real signature: the read fails instead and the
// transport aborts the upload. The rewritten header has exactly the input
// header's length, so Content-Length and x-amz-decoded-content-length stay
// right.
type chunkReader struct {
	src    *bufio.Reader
	body   io.Closer
	verify *v4.StreamSigner // surrogate key, seeded with the surrogate seed signature
	sign   *v4.StreamSigner // real key, seeded with the real seed signature
	t      time.Time

	buf  []byte // the chunk being rewritten: header, data, CRLF
	out  []byte // what Read still has to hand out of buf
	n    int    // chunks read, for error messages
	done bool
	err  error
}

// newChunkReader wraps body. Seeds are the raw (not hex) header
// signatures of the surrogate and the real request.
func newChunkReader(body io.ReadCloser, surrogate, real aws.Credentials, surrogateSeed, realSeed []byte,
	region, service string, t time.Time) *chunkReader {
	return &chunkReader{
		src:    bufio.NewReader(body),
		body:   body,
		verify: v4.NewStreamSigner(surrogate, service, region, surrogateSeed),
		sign:   v4.NewStreamSigner(real, service, region, realSeed),
		t:      t,
	}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = fmt.Errorf("awssig: aws-chunked body, chunk %d: %w", c.n, err)
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *chunkReader) Close() error { return c.body.Close() }

// next reads, verifies and re-signs one chunk into c.out.
func (c *chunkReader) next() error {
	c.n++
	line, err := c.src.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return errors.New("chunk header too long")
	case errors.Is(err, io.EOF) && len(line) > 0:
		return errors.New("body ended inside a chunk header")
	case errors.Is(err, io.EOF):
		return errors.New("body ended before the final chunk")
	case err != nil:
		return fmt.Errorf("reading chunk header: %w", err)
	}
	size, sigAt, err := parseChunkHeader(line)
	if err != nil {
		return err
	}
	h := len(line)
	need := h + size + 2
	c.buf = append(c.buf[:0], line...) // line aliases bufio's buffer, which the next read reuses
	if err := c.fill(need); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("body ended inside a chunk")
		}
		return fmt.Errorf("reading chunk data: %w", err)
	}
	if c.buf[need-2] != '\r' || c.buf[need-1] != '\n' {
		return errors.New("chunk data not followed by CRLF")
	}
	data := c.buf[h : h+size]
	sigHex := c.buf[sigAt : sigAt+64]
	got := make([]byte, 32)
	if _, err := hex.Decode(got, sigHex); err != nil {
		return errors.New("malformed chunk signature")
	}
	want, err := c.verify.GetSignature(context.Background(), nil, data, c.t)
	if err != nil {
		return fmt.Errorf("computing the surrogate chunk signature: %w", err)
	}
	if !hmac.Equal(want, got) {
		return errors.New("surrogate chunk signature does not verify")
	}
	if size == 0 {
		// The final chunk: the body must end here, or whatever follows
		// would go out unverified behind a real signature.
		if _, err := c.src.ReadByte(); !errors.Is(err, io.EOF) {
			if err == nil {
				return errors.New("data after the final chunk")
			}
			return fmt.Errorf("reading past the final chunk: %w", err)
		}
		c.done = true
	}
	real, err := c.sign.GetSignature(context.Background(), nil, data, c.t)
	if err != nil {
		return fmt.Errorf("computing the real chunk signature: %w", err)
	}
	hex.Encode(sigHex, real)
	c.out = c.buf
	return nil
}

// fill reads into c.buf until it holds n bytes. The buffer grows only as
// data arrives, so a header that claims a 16 MiB chunk costs memory only
// once the data is really sent.
func (c *chunkReader) fill(n int) error {
	for len(c.buf) < n {
		if len(c.buf) == cap(c.buf) {
			c.buf = slices.Grow(c.buf, min(n-len(c.buf), max(cap(c.buf), 4096)))
		}
		m, err := c.src.Read(c.buf[len(c.buf):min(cap(c.buf), n)])
		c.buf = c.buf[:len(c.buf)+m]
		if err != nil && len(c.buf) < n {
			return err
		}
	}
	return nil
}

// parseChunkHeader parses "<hex size>;chunk-signature=<64 hex>\r\n" and
// returns the size and the offset of the signature in line. The size has
// 1 to 8 hex digits (either case, as written; it is copied through
// verbatim) and is at most maxChunk; no other chunk extension is allowed.
func parseChunkHeader(line []byte) (size, sigAt int, err error) {
	body, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return 0, 0, errors.New("chunk header not ended by CRLF")
	}
	semi := bytes.IndexByte(body, ';')
	if semi < 1 || semi > 8 {
		return 0, 0, errors.New("malformed chunk size")
	}
	for _, b := range body[:semi] {
		d, ok := hexDigit(b)
		if !ok {
			return 0, 0, errors.New("malformed chunk size")
		}
		size = size<<4 | d
	}
	if size > maxChunk {
		return 0, 0, errors.New("chunk larger than 16 MiB")
	}
	ext := body[semi+1:]
	if !bytes.HasPrefix(ext, []byte(chunkSigPrefix)) || len(ext) != len(chunkSigPrefix)+64 ||
		!isLowerHex(string(ext[len(chunkSigPrefix):])) {
		return 0, 0, errors.New("malformed chunk signature")
	}
	return size, semi + 1 + len(chunkSigPrefix), nil
}

func hexDigit(b byte) (int, bool) {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0'), true
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10, true
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10, true
	}
	return 0, false
}
