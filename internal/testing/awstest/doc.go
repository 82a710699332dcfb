// Package awstest is a tiny S3-compatible object store for tests only; it
// is never used in production code. It exists so that the sandbox proxy's
// SigV4 re-signing can be tested against an upstream that checks real
// signatures the way Amazon S3 does, without reaching AWS.
//
// [NewS3] takes the one set of [Keys] it accepts; [S3.Handler] serves:
//
//	PUT  /{bucket}/{key}   store an object
//	GET  /{bucket}/{key}   fetch it (404 NoSuchKey otherwise); header or
//	                       presigned (query) authentication
//	HEAD /{bucket}/{key}   its metadata
//
// both path-style (any host) and virtual-hosted style: a host of the form
// {bucket}.s3.{anything} or {bucket}.s3-{region}.{anything} names the
// bucket, as with bucket.s3.us-east-1.amazonaws.com. Buckets need not be
// created first. Anything else (listing, multipart uploads, ACLs, ranges)
// is answered 501 NotImplemented rather than half-done.
//
// What it reproduces of the real service:
//   - AWS4-HMAC-SHA256 authentication in the Authorization header or in the
//     query (presigned URLs, X-Amz-Expires honoured, at most seven days);
//     anything else is refused;
//   - the signature is checked by re-signing the received request with the
//     real keys using aws-sdk-go-v2's aws/signer/v4, over exactly the
//     headers listed in SignedHeaders, with the received X-Amz-Date, region
//     and payload hash, and without extra URI escaping as for S3;
//   - every x-amz-* header must be signed; X-Amz-Security-Token must equal
//     the session token; the request time may be at most 15 minutes off;
//   - x-amz-content-sha256 is required and enforced: a hex hash must equal
//     the body's SHA-256; UNSIGNED-PAYLOAD takes the body as is;
//     STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies (aws-chunked with a
//     signature per chunk, chained from the request's signature) have every
//     chunk verified; STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies (what the
//     SDKs send over HTTPS when they compute a checksum) have their trailing
//     x-amz-checksum-* verified; x-amz-decoded-content-length is checked;
//   - x-amz-checksum-* and Content-MD5 headers are verified, and a stored
//     checksum is returned on GET and HEAD when x-amz-checksum-mode is
//     ENABLED, so the SDK validates the body it reads back;
//   - errors in S3's XML shape (<Error><Code>…</Code><Message>…</Message>…),
//     with no body on HEAD, so that SDK clients report them as they would
//     S3's. Like S3, a SignatureDoesNotMatch answer carries the
//     StringToSign and the CanonicalRequest, which includes the values of
//     the signed headers as received (X-Amz-Security-Token among them).
//
// Not reproduced: SigV4a, signed trailers
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), and a signed content-length
// of 0 (the SDK's signer only signs content-length when it is positive, so
// such a request cannot be re-signed and is refused).
//
// Every request is recorded in order ([S3.Seen]) with what authentication
// concluded, for assertions. The state is guarded by a mutex.
package awstest
