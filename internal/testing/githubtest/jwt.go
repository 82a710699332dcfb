package githubtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// verifyJWT checks a GitHub App JWT as GitHub does: RS256, signed by a
// registered app's key, iss naming that app (by ID or client ID), iat not in the future (60 s of
// skew allowed), exp in the future and at most ten minutes after iat. It
// returns the app ID, or GitHub's message for the 401 answer.
func (s *Server) verifyJWT(token string, now time.Time) (appID int64, rejection string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return 0, "A JSON web token could not be decoded"
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return 0, "A JSON web token could not be decoded"
	}
	if header.Alg != "RS256" {
		return 0, fmt.Sprintf("'alg' must be RS256, got %q", header.Alg)
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat int64           `json:"iat"`
		Exp int64           `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return 0, "A JSON web token could not be decoded"
	}
	// iss may be the app ID, as a number or a string, or the app's client
	// ID.
	iss := strings.Trim(string(claims.Iss), `"`)
	var app *fakeApp
	if id, err := strconv.ParseInt(iss, 10, 64); err == nil {
		app = s.apps[id]
	} else if iss == "" || !strings.HasPrefix(iss, "Iv") {
		return 0, fmt.Sprintf("'Issuer' claim ('iss') must be an Integer or a Client ID, got %s", claims.Iss)
	} else {
		for _, a := range s.apps {
			if a.clientID == iss {
				app = a
			}
		}
	}
	if app == nil {
		return 0, "Integration not found"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return 0, "A JSON web token could not be decoded"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(app.key, crypto.SHA256, digest[:], sig); err != nil {
		return 0, "A JSON web token could not be decoded"
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	switch {
	case claims.Iat == 0 || iat.After(now.Add(60*time.Second)):
		return 0, "'Issued at' claim ('iat') must be an Integer representing a time in the past"
	case claims.Exp == 0 || !exp.After(now):
		return 0, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case exp.Sub(iat) > 10*time.Minute:
		return 0, "'Expiration time' claim ('exp') is too far in the future"
	}
	return app.id, ""
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
