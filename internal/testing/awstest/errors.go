package awstest

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
)

// s3Error is an error answer in S3's terms.
type s3Error struct {
	status  int
	code    string
	message string
	// extra are further elements of the XML body, in order, as S3 adds
	// them for some codes (AWSAccessKeyId, StringToSign, …).
	extra [][2]string
	// detail says what exactly was wrong when S3's fixed message does
	// not; it goes to [Request.Error] only, never to the client.
	detail string
}

func notImplemented(detail string) *s3Error {
	return &s3Error{status: http.StatusNotImplemented, code: "NotImplemented",
		message: "A header you provided implies functionality that is not implemented.", detail: detail}
}

func accessDenied(message string) *s3Error {
	return &s3Error{status: http.StatusForbidden, code: "AccessDenied", message: message}
}

func invalidRequest(message string) *s3Error {
	return &s3Error{status: http.StatusBadRequest, code: "InvalidRequest", message: message}
}

func signatureMismatch(detail string) *s3Error {
	return &s3Error{status: http.StatusForbidden, code: "SignatureDoesNotMatch",
		message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		detail:  detail}
}

// errorDocument is S3's XML error document, with its headers set in h.
// HEAD answers carry none, as S3's do, and the SDK then names the error
// after the status.
func errorDocument(h http.Header, r *http.Request, e *s3Error, requestID string) []byte {
	if r.Method == http.MethodHead {
		return nil
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	element(&b, "Code", e.code)
	element(&b, "Message", e.message)
	for _, kv := range e.extra {
		element(&b, kv[0], kv[1])
	}
	element(&b, "Resource", r.URL.Path)
	element(&b, "RequestId", requestID)
	element(&b, "HostId", "awstest/"+requestID)
	b.WriteString("</Error>")
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	return []byte(b.String())
}

func element(b *strings.Builder, name, value string) {
	b.WriteString("<" + name + ">")
	// EscapeText only fails when the writer does; a Builder never does.
	_ = xml.EscapeText(b, []byte(value))
	b.WriteString("</" + name + ">")
}
