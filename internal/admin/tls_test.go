package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/auth"
)

// writeCert writes a certificate for 127.0.0.1 signed by a fresh CA and
// returns the files and the CA pool.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return certFile, keyFile, pool
}

// TestAdminTLS serves the API over TLS: the session cookie is Secure, the
// certificate is re-read by Configure (a reload) for new connections, and
// plain HTTP is not answered.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := writeCert(t, dir, "one")
	e := newEnv(t, func(o *Options) { o.Settings.TLSCert, o.Settings.TLSKey = cert, key })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	e.httpc = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	if !strings.HasPrefix(e.base, "https://") {
		t.Fatal(e.base)
	}
	r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"alice","password":"` + pwAdmin + `"}`})
	if r.status != 200 || !strings.Contains(r.header.Get("Set-Cookie"), "; Secure") {
		t.Fatalf("login over TLS: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
	if r := e.do(req{method: "GET", path: "/api/v1/status", key: e.keys[auth.RoleViewer]}); r.status != 200 {
		t.Fatalf("status over TLS: %d", r.status)
	}
	// Plain HTTP on the TLS port gets no answer.
	if res, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + e.s.Addr().String() + "/healthz"); err == nil && res.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS listener")
	}
	// A reload with a new certificate: new connections see it.
	cert2, key2, pool2 := writeCert(t, dir, "two")
	commit, err := e.s.Configure(Settings{Users: testUsers(), TLSCert: cert2, TLSKey: key2})
	if err != nil {
		t.Fatal(err)
	}
	commit()
	c2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2}}, Timeout: 5 * time.Second}
	res, err := c2.Get(e.base + "/healthz")
	if err != nil {
		t.Fatalf("after the certificate reload: %v", err)
	}
	res.Body.Close()
	if res.TLS.PeerCertificates[0].Subject.CommonName != "two" {
		t.Fatalf("served %s", res.TLS.PeerCertificates[0].Subject.CommonName)
	}
	// A bad certificate at reload is refused and the old one stays.
	if _, err := e.s.Configure(Settings{TLSCert: cert, TLSKey: key2}); err == nil || !strings.Contains(err.Error(), cert) {
		t.Fatalf("mismatched pair: %v", err)
	}
	// A missing file at start fails Start, naming it.
	s := New(Options{Addr: "127.0.0.1:0", Settings: Settings{TLSCert: filepath.Join(dir, "nope.pem"), TLSKey: key}})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Fatalf("Start with a missing certificate: %v", err)
	}
}
