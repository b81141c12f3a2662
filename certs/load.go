package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// MaxFileSize bounds a certificate, key or CA file (1 MiB).
const MaxFileSize = 1 << 20

// ExpiryWarning is how close to expiry a certificate makes start-up and
// every reload log a warning (14 days).
const ExpiryWarning = 14 * 24 * time.Hour

// Pair is a certificate chain and its private key, loaded and checked.
// It is immutable once returned.
type Pair struct {
	// Cert is the chain (leaf first) with its key; Cert.Leaf is set.
	Cert *tls.Certificate
	// Names are the leaf's DNS names (lower case, "*.example.com" kept as
	// written) and IP addresses; the subject's common name only when the
	// leaf has neither.
	Names []string
	// NotAfter is the leaf's expiry.
	NotAfter time.Time
	// CertFile and KeyFile are the paths it was loaded from ("" when built
	// in memory, e.g. by ACME).
	CertFile, KeyFile string
	// Sum is the SHA-256 of both files' contents: equal sums, equal pairs.
	Sum [32]byte
}

// Name is the pair's primary name (its first name), used as the "name"
// label of sluice_tls_certificate_expiry_seconds.
func (p *Pair) Name() string {
	if len(p.Names) == 0 {
		return ""
	}
	return p.Names[0]
}

// FileError is a problem with one file: File names it, Key says whether it
// is the key file (false: the certificate or CA file).
type FileError struct {
	File string
	Key  bool
	Err  error
}

func (e *FileError) Error() string { return e.File + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// LoadPair reads certFile (PEM: the leaf first, then intermediates) and
// keyFile (PEM: PKCS#1, PKCS#8 or SEC 1 private key) and checks that both
// are readable, that every certificate parses, that the key is the leaf's,
// and that the leaf has not expired at now. An error is a *FileError that
// names the file at fault.
func LoadPair(certFile, keyFile string, now time.Time) (*Pair, error) {
	certPEM, err := readFile(certFile)
	if err != nil {
		return nil, &FileError{File: certFile, Err: err}
	}
	keyPEM, err := readFile(keyFile)
	if err != nil {
		return nil, &FileError{File: keyFile, Key: true, Err: err}
	}
	p, err := ParsePair(certPEM, keyPEM, now)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			fe.File = certFile
			if fe.Key {
				fe.File = keyFile
				fe.Err = fmt.Errorf("%w (certificate %s)", fe.Err, certFile)
			}
		}
		return nil, err
	}
	p.CertFile, p.KeyFile = certFile, keyFile
	return p, nil
}

// ParsePair is LoadPair for PEM bytes already read. Its *FileError leaves
// File empty.
func ParsePair(certPEM, keyPEM []byte, now time.Time) (*Pair, error) {
	var chain [][]byte
	rest := certPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			if strings.Contains(b.Type, "PRIVATE KEY") {
				return nil, &FileError{Err: errors.New("holds a private key; the certificate file must hold certificates only (key: goes to the key file)")}
			}
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, &FileError{Err: fmt.Errorf("certificate #%d does not parse: %v", len(chain)+1, err)}
		}
		chain = append(chain, b.Bytes)
	}
	if len(chain) == 0 {
		return nil, &FileError{Err: errors.New("no PEM certificate found (want -----BEGIN CERTIFICATE-----)")}
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, &FileError{Key: true, Err: err}
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if !samePublicKey(leaf.PublicKey, key.Public()) {
		return nil, &FileError{Key: true, Err: errors.New("private key does not match the certificate's public key")}
	}
	if now.After(leaf.NotAfter) {
		return nil, &FileError{Err: fmt.Errorf("certificate %s expired at %s", describe(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	p := &Pair{
		Cert:     &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf},
		Names:    leafNames(leaf),
		NotAfter: leaf.NotAfter,
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	h.Sum(p.Sum[:0])
	return p, nil
}

// PairOf wraps a certificate obtained elsewhere (ACME) as a Pair; the
// leaf is parsed when Cert.Leaf is nil. Nothing is checked.
func PairOf(c *tls.Certificate) (*Pair, error) {
	leaf := c.Leaf
	if leaf == nil {
		if len(c.Certificate) == 0 {
			return nil, errors.New("empty certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &Pair{Cert: c, Names: leafNames(leaf), NotAfter: leaf.NotAfter}, nil
}

func describe(c *x509.Certificate) string {
	if n := leafNames(c); len(n) > 0 {
		return fmt.Sprintf("for %s", strings.Join(n, ", "))
	}
	return fmt.Sprintf("serial %x", c.SerialNumber)
}

func leafNames(c *x509.Certificate) []string {
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, strings.ToLower(c.Subject.CommonName))
	}
	return names
}

func parseKey(keyPEM []byte) (crypto.Signer, error) {
	rest := keyPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found (want -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		if b.Type == "CERTIFICATE" {
			continue
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if strings.Contains(b.Type, "ENCRYPTED") || b.Headers["Proc-Type"] != "" {
			return nil, errors.New("the private key is encrypted; sluice needs it unencrypted (openssl pkey -in KEY -out KEY.plain)")
		}
		if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			if s, ok := k.(crypto.Signer); ok {
				return s, nil
			}
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
			return k, nil
		}
		return nil, fmt.Errorf("the %s block does not parse as a PKCS#8, PKCS#1 or SEC 1 private key", b.Type)
	}
}

func samePublicKey(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *rsa.PublicKey:
		return k.Equal(b)
	case *ecdsa.PublicKey:
		return k.Equal(b)
	case ed25519.PublicKey:
		return k.Equal(b)
	}
	return false
}

// LoadCA reads a PEM file of CA certificates into a pool. The error is a
// *FileError naming the file.
func LoadCA(file string) (*x509.CertPool, [32]byte, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, [32]byte{}, &FileError{File: file, Err: err}
	}
	pool := x509.NewCertPool()
	n := 0
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, [32]byte{}, &FileError{File: file, Err: fmt.Errorf("certificate #%d does not parse: %v", n+1, err)}
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, [32]byte{}, &FileError{File: file, Err: errors.New("no PEM certificate found (want -----BEGIN CERTIFICATE-----)")}
	}
	return pool, sha256.Sum256(data), nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, cause(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, cause(err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty")
	}
	return data, nil
}

// cause strips the path from an *fs.PathError (the caller names the file).
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read: %w", pe.Err)
	}
	return err
}
