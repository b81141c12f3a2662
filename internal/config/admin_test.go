package config

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
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// writeCert writes a self-signed certificate and its key into dir.
func writeCert(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func TestAdminKeys(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "admin")
	c := mustParse(t, `admin:
  listen: 127.0.0.1:9900
  tls: {cert: "`+cert+`", key: "`+key+`"}
  grpc_listen: 127.0.0.1:9901
  state_dir: /var/lib/sluice
  protect_metrics: true
  users:
    - {name: alice, password_hash: "`+string(h)+`", role: admin}
    - {name: bob@example.com, password_hash: '`+string(h)+`', role: viewer}
`+minimal)
	a := c.Admin
	if !a.TLS.Enabled() || a.TLS.Cert != cert || a.GRPCListen != "127.0.0.1:9901" || a.StateDir != "/var/lib/sluice" || !a.ProtectMetrics {
		t.Fatalf("admin = %+v", a)
	}
	if len(a.Users) != 2 || a.Users[0].Name != "alice" || a.Users[0].PasswordHash != string(h) || a.Users[1].Role != RoleViewer {
		t.Fatalf("users = %+v", a.Users)
	}
	d := mustParse(t, minimal).Admin
	if d.TLS.Enabled() || d.GRPCListen != "" || d.StateDir != "" || d.ProtectMetrics || len(d.Users) != 0 {
		t.Fatalf("defaults = %+v", d)
	}
}

func TestAdminKeyErrors(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	dir := t.TempDir()
	cert, _ := writeCert(t, dir, "a")
	_, otherKey := writeCert(t, dir, "b")
	checkErrs(t, `admin:
  listen: 127.0.0.1:9900
  grpc_listen: 127.0.0.1:9900
  tls: {cert: "`+cert+`"}
  users:
    - {name: alice, password_hash: "`+string(h)+`", role: admin}
    - {name: alice, password_hash: "`+string(h)+`", role: root}
    - {name: "a b", password_hash: "secret-not-a-hash"}
    - {password_hash: ""}
  state_dir: var/lib/sluice
`+minimal,
		`3:16: admin.grpc_listen: address 127.0.0.1:9900 is already used by admin.listen (line 2)`,
		`4:8: admin.tls.key: a key file is required with a certificate`,
		`7:14: admin.users[1].name: duplicate user "alice" (also users[0])`,
		`7:106: admin.users[1].role: unknown value "root": want viewer, operator, admin`,
		`8:7: admin.users[2].role: a role is required: viewer, operator or admin`,
		`8:14: admin.users[2].name: invalid user name "a b": use letters, digits, '.', '_', '-' and '@' (at most 128)`,
		`8:36: admin.users[2].password_hash: not a bcrypt hash: create one with `+"`sluice hash-password`",
		`9:7: admin.users[3].name: a user needs a name`,
		`9:7: admin.users[3].role: a role is required: viewer, operator or admin`,
		`9:23: admin.users[3].password_hash: a password hash is required: create one with `+"`sluice hash-password`",
		`10:14: admin.state_dir: must be an absolute path (or empty: nothing persisted), got "var/lib/sluice"`,
	)
	// A certificate with someone else's key, and a missing file: the error
	// names the files.
	got := errLines(t, "admin: {tls: {cert: \""+cert+"\", key: \""+otherKey+"\"}, grpc_listen: \":8080\"}\n"+strings.Replace(minimal, "127.0.0.1:8080", "0.0.0.0:8080", 1))
	want := []string{"1:21: admin.tls.cert: cannot load certificate " + cert + " with key " + otherKey + ": tls: private key does not match public key",
		"4:13: frontends[0].listen: address 0.0.0.0:8080 is already used by admin.grpc_listen"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = errLines(t, "admin: {tls: {cert: /nonexistent/c.pem, key: /nonexistent/k.pem}}\n"+minimal)
	if len(got) != 1 || !strings.Contains(got[0], "/nonexistent/c.pem") || !strings.HasPrefix(got[0], "1:21: admin.tls.cert:") {
		t.Errorf("missing file: %q", got)
	}
	// The password hash never appears in an error message.
	for _, l := range errLines(t, "admin: {users: [{name: a, role: admin, password_hash: hunter2hunter2}]}\n"+minimal) {
		if strings.Contains(l, "hunter2") {
			t.Errorf("error repeats the secret: %s", l)
		}
	}
}
