package githubapp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

const (
	// jwtLifetime is how long an app JWT is valid: GitHub refuses more than
	// ten minutes, and one minute less leaves room for clock drift.
	jwtLifetime = 9 * time.Minute
	// jwtBackdate moves iat into the past, as GitHub recommends, so that a
	// clock slightly ahead of GitHub's does not make the JWT "issued in the
	// future".
	jwtBackdate = 60 * time.Second
)

// ParseKey reads a GitHub App's RSA private key from PEM: PKCS #1 ("RSA
// PRIVATE KEY", the form GitHub hands out) or PKCS #8 ("PRIVATE KEY", the
// form of keys converted by other tools).
func ParseKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not RSA", k)
	}
	return key, nil
}

// SignJWT makes the RS256 JWT that authenticates as the app itself, valid
// from a minute before now for nine minutes. issuer is what GitHub accepts
// as iss: the app's numeric ID ("123456") or its client ID ("Iv23li…",
// which GitHub recommends). It is sent as a JSON string either way, the form
// GitHub has always accepted for the app ID too.
func SignJWT(key *rsa.PrivateKey, issuer string, now time.Time) (string, error) {
	if key == nil {
		return "", errors.New("sign app jwt: no private key")
	}
	if issuer == "" {
		return "", errors.New("sign app jwt: no issuer (app ID or client ID)")
	}
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	header, err := enc(map[string]string{"alg": "RS256", "typ": "JWT"})
	if err != nil {
		return "", fmt.Errorf("sign app jwt: encode header: %w", err)
	}
	claims, err := enc(map[string]any{
		"iat": now.Add(-jwtBackdate).Unix(),
		"exp": now.Add(jwtLifetime).Unix(),
		"iss": issuer,
	})
	if err != nil {
		return "", fmt.Errorf("sign app jwt: encode claims: %w", err)
	}
	digest := sha256.Sum256([]byte(header + "." + claims))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign app jwt: %w", err)
	}
	return header + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
