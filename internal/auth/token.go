package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// SecretBytes is the length of every random secret (session tokens, CSRF
// tokens, API keys) before encoding.
const SecretBytes = 32

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return b
}

// newSecret returns 32 random bytes, URL-safe base64 without padding.
func newSecret() string { return base64.RawURLEncoding.EncodeToString(randomBytes(SecretBytes)) }

// digest is the stored form of a secret: hex SHA-256.
func digest(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
