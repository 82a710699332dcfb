package githubapp_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/airut-go/airut/internal/githubapp"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	tests := []struct {
		name    string
		pem     string
		wantErr string
	}{
		{"pkcs1", pkcs1, ""},
		{"pkcs8", pkcs8(rsaKey), ""},
		{"pkcs8 ecdsa", pkcs8(ecKey), "not RSA"},
		{"empty", "", "no PEM block"},
		{"garbage block", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "parse RSA PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, err := githubapp.ParseKey([]byte(tt.pem))
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.True(t, key.Equal(rsaKey))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestSignJWT(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		key     *rsa.PrivateKey
		issuer  string
		wantErr string
	}{
		{name: "app ID", key: key, issuer: "123456"},
		{name: "client ID", key: key, issuer: "Iv23liABCDEF0123456789"},
		{name: "no issuer", key: key, issuer: "", wantErr: "no issuer"},
		{name: "no key", key: nil, issuer: "1", wantErr: "no private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jwt, err := githubapp.SignJWT(tt.key, tt.issuer, now)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			parts := strings.Split(jwt, ".")
			require.Len(t, parts, 3)
			var header map[string]string
			decodeSegment(t, parts[0], &header)
			assert.Equal(t, map[string]string{"alg": "RS256", "typ": "JWT"}, header)
			var claims map[string]any
			decodeSegment(t, parts[1], &claims)
			assert.Equal(t, map[string]any{
				"iat": float64(now.Add(-time.Minute).Unix()),
				"exp": float64(now.Add(9 * time.Minute).Unix()),
				"iss": tt.issuer, // a JSON string, for app IDs too
			}, claims)
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			require.NoError(t, err)
			digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			assert.NoError(t, rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig))
		})
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}
