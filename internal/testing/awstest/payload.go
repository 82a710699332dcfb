package awstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// payload is a PUT body, decoded and checked.
type payload struct {
	data []byte
	// chunksVerified reports that a signed stream was read to its end
	// with every chunk signature right.
	chunksVerified bool
	// checksums are the verified x-amz-checksum-* values, by lower-case
	// algorithm name.
	checksums map[string]string
}

const (
	// minChunkSize is S3's smallest signed chunk but for the last.
	minChunkSize = 8 << 10
	// maxChunkLine bounds a chunk header or trailer line.
	maxChunkLine = 4 << 10
)

// readPayload reads r's body according to its payload hash and checks
// everything the request says about it.
func (s *S3) readPayload(r *http.Request, a *auth) (*payload, *s3Error) {
	awsChunked := hasAWSChunked(r.Header.Get("Content-Encoding"))
	p := &payload{checksums: map[string]string{}}
	var err *s3Error
	switch h := a.payloadHash; {
	case h == streamingSigned || h == streamingTrailer:
		if !awsChunked {
			// Every client sends it with a streaming payload; a test
			// that leaves it out has likely built the request wrong.
			return p, invalidRequest("Content-Encoding must include aws-chunked for " + h)
		}
		var decodedLen int64
		decodedLen, err = decodedContentLength(r, h == streamingSigned)
		if err != nil {
			return p, err
		}
		br := bufio.NewReader(r.Body)
		if h == streamingSigned {
			p.data, err = s.readSignedChunks(r.Context(), br, a)
			p.chunksVerified = err == nil
		} else {
			var trailers map[string]string
			p.data, trailers, err = readUnsignedChunks(br)
			if err == nil {
				err = checkTrailers(r, trailers, p)
			}
		}
		if err == nil && decodedLen >= 0 && int64(len(p.data)) != decodedLen {
			err = &s3Error{status: http.StatusBadRequest, code: "IncompleteBody",
				message: "You did not provide the number of bytes specified by the Content-Length HTTP header",
				detail:  fmt.Sprintf("x-amz-decoded-content-length is %d, the chunks hold %d bytes", decodedLen, len(p.data))}
		}
	case strings.HasPrefix(h, "STREAMING-"):
		return p, notImplemented("x-amz-content-sha256 " + h + " is not implemented")
	case awsChunked:
		return p, invalidRequest("Content-Encoding aws-chunked needs a STREAMING-* x-amz-content-sha256")
	default:
		p.data, err = readAll(r.Body)
		if err == nil && h != unsignedPayload {
			sum := sha256.Sum256(p.data)
			if !strings.EqualFold(hex.EncodeToString(sum[:]), h) {
				err = &s3Error{status: http.StatusBadRequest, code: "XAmzContentSHA256Mismatch",
					message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
					extra: [][2]string{
						{"ClientComputedContentSHA256", h},
						{"S3ComputedContentSHA256", hex.EncodeToString(sum[:])},
					}}
			}
		}
	}
	if err != nil {
		return p, err
	}
	if err := checkHeaderChecksums(r, p); err != nil {
		return p, err
	}
	return p, nil
}

func hasAWSChunked(contentEncoding string) bool {
	for enc := range strings.SplitSeq(contentEncoding, ",") {
		if strings.EqualFold(strings.TrimSpace(enc), "aws-chunked") {
			return true
		}
	}
	return false
}

// decodedContentLength reads x-amz-decoded-content-length: -1 when absent
// and not required (an unsigned stream of unknown length).
func decodedContentLength(r *http.Request, required bool) (int64, *s3Error) {
	v := r.Header.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		if required {
			return 0, &s3Error{status: http.StatusLengthRequired, code: "MissingContentLength",
				message: "You must provide the Content-Length HTTP header.",
				detail:  "x-amz-decoded-content-length is missing"}
		}
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidRequest("x-amz-decoded-content-length must be a non-negative integer")
	}
	if n > maxObjectSize {
		return 0, tooLarge()
	}
	return n, nil
}

func tooLarge() *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "EntityTooLarge",
		message: "Your proposed upload exceeds the maximum allowed size",
		extra:   [][2]string{{"MaxSizeAllowed", strconv.Itoa(maxObjectSize)}}}
}

func readAll(body io.Reader) ([]byte, *s3Error) {
	data, err := io.ReadAll(io.LimitReader(body, maxObjectSize+1))
	if err != nil {
		return nil, incompleteBody(fmt.Sprintf("read body: %v", err))
	}
	if len(data) > maxObjectSize {
		return nil, tooLarge()
	}
	return data, nil
}

func incompleteBody(detail string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "IncompleteBody",
		message: "The request body terminated unexpectedly", detail: detail}
}

func malformedChunks(detail string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "InvalidRequest",
		message: "The request contains an invalid aws-chunked encoding.", detail: detail}
}

// readLine reads one CRLF-terminated line of the aws-chunked framing.
func readLine(br *bufio.Reader) (string, *s3Error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > maxChunkLine {
			return "", malformedChunks("chunk header or trailer line too long")
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", incompleteBody(fmt.Sprintf("read chunk framing: %v", err))
		}
		break
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return "", malformedChunks(fmt.Sprintf("line %q does not end in CRLF", line))
	}
	return s, nil
}

func expectCRLF(br *bufio.Reader) *s3Error {
	var crlf [2]byte
	if _, err := io.ReadFull(br, crlf[:]); err != nil {
		return incompleteBody(fmt.Sprintf("read chunk end: %v", err))
	}
	if string(crlf[:]) != "\r\n" {
		return malformedChunks("chunk data is not followed by CRLF")
	}
	return nil
}

func expectEOF(br *bufio.Reader) *s3Error {
	if _, err := br.ReadByte(); err != io.EOF {
		if err != nil {
			return incompleteBody(fmt.Sprintf("read past the final chunk: %v", err))
		}
		return malformedChunks("data after the end of the aws-chunked body")
	}
	return nil
}

// readChunk reads the data of a chunk whose header gave sizeHex, bounded
// so that the object stays within maxObjectSize.
func readChunk(br *bufio.Reader, sizeHex string, have int) ([]byte, *s3Error) {
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil || size < 0 {
		return nil, malformedChunks(fmt.Sprintf("chunk size %q is not hexadecimal", sizeHex))
	}
	if size > int64(maxObjectSize-have) {
		return nil, tooLarge()
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, incompleteBody(fmt.Sprintf("read chunk of %d bytes: %v", size, err))
	}
	return data, nil
}

// readSignedChunks decodes a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body:
//
//	<hex size>;chunk-signature=<sig>\r\n<data>\r\n … 0;chunk-signature=<sig>\r\n\r\n
//
// Each chunk's string to sign is
//
//	AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous signature \n
//	sha256("") \n sha256(data)
//
// with the request's signature as the first previous signature. That is
// the SDK's v4.StreamSigner (written for event streams) given empty
// headers, so the chunks are checked with it and the real keys.
func (s *S3) readSignedChunks(ctx context.Context, br *bufio.Reader, a *auth) ([]byte, *s3Error) {
	seed, err := hex.DecodeString(a.signature)
	if err != nil {
		return nil, signatureMismatch("the request signature is not hexadecimal")
	}
	creds := aws.Credentials{AccessKeyID: s.keys.AccessKeyID, SecretAccessKey: s.keys.SecretAccessKey, SessionToken: s.keys.SessionToken}
	signer := v4.NewStreamSigner(creds, "s3", a.region, seed)
	var out bytes.Buffer
	previousSmall := false
	for n := 0; ; n++ {
		line, e := readLine(br)
		if e != nil {
			return nil, e
		}
		sizeHex, ext, _ := strings.Cut(line, ";")
		sigHex, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok {
			return nil, malformedChunks(fmt.Sprintf("chunk %d header %q has no chunk-signature", n, line))
		}
		data, e := readChunk(br, sizeHex, out.Len())
		if e != nil {
			return nil, e
		}
		if e := expectCRLF(br); e != nil {
			return nil, e
		}
		want, err := signer.GetSignature(ctx, nil, data, a.date)
		if err != nil {
			return nil, signatureMismatch(fmt.Sprintf("sign chunk %d: %v", n, err))
		}
		got, err := hex.DecodeString(sigHex)
		if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
			return nil, signatureMismatch(fmt.Sprintf("chunk %d (%d bytes) signature differs", n, len(data)))
		}
		if len(data) == 0 {
			break
		}
		if previousSmall {
			return nil, &s3Error{status: http.StatusForbidden, code: "InvalidChunkSizeError",
				message: "Only the last chunk is allowed to have a size less than 8192 bytes",
				extra:   [][2]string{{"Chunk", strconv.Itoa(n)}, {"BadChunkSize", strconv.Itoa(out.Len())}}}
		}
		previousSmall = len(data) < minChunkSize
		out.Write(data)
	}
	if e := expectEOF(br); e != nil {
		return nil, e
	}
	return out.Bytes(), nil
}

// readUnsignedChunks decodes a STREAMING-UNSIGNED-PAYLOAD-TRAILER body:
//
//	<hex size>\r\n<data>\r\n … 0\r\n<name>:<value>\r\n … \r\n
func readUnsignedChunks(br *bufio.Reader) ([]byte, map[string]string, *s3Error) {
	var out bytes.Buffer
	for {
		line, e := readLine(br)
		if e != nil {
			return nil, nil, e
		}
		// Chunk extensions mean nothing without signatures.
		sizeHex, _, _ := strings.Cut(line, ";")
		data, e := readChunk(br, sizeHex, out.Len())
		if e != nil {
			return nil, nil, e
		}
		if len(data) == 0 {
			break
		}
		if e := expectCRLF(br); e != nil {
			return nil, nil, e
		}
		out.Write(data)
	}
	trailers := map[string]string{}
	for {
		line, e := readLine(br)
		if e != nil {
			return nil, nil, e
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, &s3Error{status: http.StatusBadRequest, code: "MalformedTrailerError",
				message: "The request contained trailing data that was not well-formed or did not conform to our published schema.",
				detail:  fmt.Sprintf("trailer line %q", line)}
		}
		trailers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	if e := expectEOF(br); e != nil {
		return nil, nil, e
	}
	return out.Bytes(), trailers, nil
}

// checkTrailers holds the trailers to x-amz-trailer: each declared one
// present, each checksum right.
func checkTrailers(r *http.Request, trailers map[string]string, p *payload) *s3Error {
	declared := map[string]bool{}
	for _, v := range r.Header.Values("X-Amz-Trailer") {
		for name := range strings.SplitSeq(v, ",") {
			declared[strings.ToLower(strings.TrimSpace(name))] = true
		}
	}
	for name := range declared {
		value, ok := trailers[name]
		if !ok {
			return &s3Error{status: http.StatusBadRequest, code: "MalformedTrailerError",
				message: "The request contained trailing data that was not well-formed or did not conform to our published schema.",
				detail:  fmt.Sprintf("declared trailer %q is missing", name)}
		}
		alg, ok := strings.CutPrefix(name, "x-amz-checksum-")
		if !ok {
			return invalidRequest(fmt.Sprintf("The trailer %q is not supported.", name))
		}
		if err := checkChecksum(alg, value, p); err != nil {
			return err
		}
	}
	for name := range trailers {
		if !declared[name] {
			return &s3Error{status: http.StatusBadRequest, code: "MalformedTrailerError",
				message: "The request contained trailing data that was not well-formed or did not conform to our published schema.",
				detail:  fmt.Sprintf("trailer %q was not declared in x-amz-trailer", name)}
		}
	}
	return nil
}

// checkHeaderChecksums verifies x-amz-checksum-* and Content-MD5 headers.
func checkHeaderChecksums(r *http.Request, p *payload) *s3Error {
	for name, values := range r.Header {
		alg, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-")
		if !ok || alg == "mode" || alg == "type" || alg == "algorithm" {
			continue
		}
		if err := checkChecksum(alg, values[0], p); err != nil {
			return err
		}
	}
	if v := r.Header.Get("Content-Md5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			return &s3Error{status: http.StatusBadRequest, code: "InvalidDigest",
				message: "The Content-MD5 you specified is not valid."}
		}
		if got := md5.Sum(p.data); subtle.ConstantTimeCompare(got[:], want) != 1 {
			return &s3Error{status: http.StatusBadRequest, code: "BadDigest",
				message: "The Content-MD5 you specified did not match what we received."}
		}
	}
	return nil
}

// checkChecksum verifies one base64 x-amz-checksum-<alg> value against
// the body and keeps it for GET.
func checkChecksum(alg, value string, p *payload) *s3Error {
	h := checksumHash(alg)
	if h == nil {
		return invalidRequest(fmt.Sprintf("Value for x-amz-checksum-%s header is invalid.", alg))
	}
	h.Write(p.data)
	got := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != value {
		return &s3Error{status: http.StatusBadRequest, code: "BadDigest",
			message: fmt.Sprintf("The %s you specified did not match the calculated checksum.", strings.ToUpper(alg)),
			detail:  fmt.Sprintf("x-amz-checksum-%s is %q, the body's is %q", alg, value, got)}
	}
	p.checksums[alg] = value
	return nil
}

// crc64NVME is the CRC-64/NVME polynomial (reversed), as the SDK uses.
const crc64NVME = 0x9a6c_9329_ac4b_c9b5

func checksumHash(alg string) hash.Hash {
	switch alg {
	case "crc32":
		return crc32.NewIEEE()
	case "crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "crc64nvme":
		return crc64.New(crc64.MakeTable(crc64NVME))
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	}
	return nil
}
