package peer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// TLSName is the server name of the benchmark certificate (clients send it
// as SNI).
const TLSName = "bench.sluice.test"

// MakeTLSCert writes one self-signed ECDSA P-256 certificate for TLSName
// into dir, the same for every peer: cert.pem, key.pem and both in
// combined.pem (HAProxy's crt).
func MakeTLSCert(dir string) (cert, key, combined string, err error) {
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: TLSName},
		DNSNames:     []string{TLSName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return
	}
	cp := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	cert, key, combined = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "combined.pem")
	for _, f := range []struct {
		name string
		data []byte
	}{{cert, cp}, {key, kp}, {combined, append(append([]byte(nil), cp...), kp...)}} {
		if err = os.WriteFile(f.name, f.data, 0o600); err != nil {
			return
		}
	}
	return
}
