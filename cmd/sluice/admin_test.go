package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func hashPassword(t *testing.T, stdin string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(sluiceBin, "hash-password")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return strings.TrimSpace(out.String()), errb.String(), cmd.ProcessState.ExitCode()
}

func TestHashPasswordCommand(t *testing.T) {
	h, _, code := hashPassword(t, "correct horse battery\n")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if c, err := bcrypt.Cost([]byte(h)); err != nil || c != 12 {
		t.Fatalf("hash %q: cost %d %v, want 12", h, c, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse battery")) != nil {
		t.Fatal("the hash does not verify the password without its newline")
	}
	for stdin, want := range map[string]string{"": "empty", "\n": "empty", strings.Repeat("x", 73): "72"} {
		out, errs, code := hashPassword(t, stdin)
		if code != 1 || out != "" || !strings.Contains(errs, want) {
			t.Errorf("stdin %.10q: exit %d out %q err %q", stdin, code, out, errs)
		}
	}
	if out, err := exec.Command(sluiceBin, "hash-password", "pw").CombinedOutput(); err == nil || !strings.Contains(string(out), "stdin") {
		t.Fatalf("argument: %v %s", err, out)
	}
}

// client is an HTTP client keeping the session cookie by hand.
type apiClient struct {
	base   string
	c      *http.Client
	cookie string
	csrf   string
	key    string
}

func (a *apiClient) do(t *testing.T, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.base+path, rb)
	if a.cookie != "" {
		req.Header.Set("Cookie", "sluice_session="+a.cookie)
	}
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	res, err := a.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return res.StatusCode, m, res.Header
}

func (a *apiClient) login(t *testing.T, user, pw string) {
	t.Helper()
	code, m, h := a.do(t, "POST", "/api/v1/login", `{"username":"`+user+`","password":"`+pw+`"}`)
	if code != 200 {
		t.Fatalf("login: %d %v", code, m)
	}
	a.csrf, _ = m["csrf_token"].(string)
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "sluice_session" {
			a.cookie = c.Value
		}
	}
}

// TestAdminAuthThroughBinary: with nobody configured the API answers 401
// and the log says how to create the first admin; a user added by a reload
// logs in, makes an API key, and both the session and the key keep working
// across a binary upgrade; protect_metrics puts /metrics behind a key.
func TestAdminAuthThroughBinary(t *testing.T) {
	dir := t.TempDir()
	admin, web := freeAddr(t), freeAddr(t)
	be := httpBackend(t, "a")
	stateDir := filepath.Join(dir, "state")
	base := httpConfig(admin, web, be) + fmt.Sprintf("  # admin follows\n")
	cfg := writeFile(t, dir, "sluice.yaml", base)
	p := start(t, "run", "-c", cfg)
	waitFor(t, "sluice ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	if !strings.Contains(p.log(), "sluice hash-password") || !strings.Contains(p.log(), "admin.users") {
		t.Fatalf("no first-admin hint in the log:\n%s", p.log())
	}
	a := &apiClient{base: "http://" + admin, c: &http.Client{Timeout: 10 * time.Second}}
	if code, _, _ := a.do(t, "GET", "/api/v1/status", ""); code != 401 {
		t.Fatalf("status without users: %d", code)
	}
	if code, _, _ := get("http://" + admin + "/metrics"); code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	// The first admin: hash with the binary, add to the file, SIGHUP.
	hash, _, _ := hashPassword(t, "s3cret-pw\n")
	withUsers := strings.Replace(httpConfig(admin, web, be), fmt.Sprintf("admin: {listen: %q}", admin),
		fmt.Sprintf("admin:\n  listen: %q\n  state_dir: %q\n  users:\n    - {name: alice, password_hash: %q, role: admin}", admin, stateDir, hash), 1)
	os.WriteFile(cfg, []byte(withUsers), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", 10*time.Second, func() bool { return strings.Contains(p.log(), "configuration reloaded") })
	a.login(t, "alice", "s3cret-pw")
	if code, m, _ := a.do(t, "GET", "/api/v1/me", ""); code != 200 || m["user"] != "alice" || m["role"] != "admin" {
		t.Fatalf("me: %d %v", code, m)
	}
	// state_dir changes at restart only: keys need it, so restart... the
	// running process kept state_dir "" and refuses to make keys.
	if code, m, _ := a.do(t, "POST", "/api/v1/keys", `{"name":"ci","role":"viewer"}`); code != 409 {
		t.Fatalf("key without state_dir: %d %v", code, m)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)

	p = start(t, "run", "-c", cfg)
	waitFor(t, "sluice ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	a = &apiClient{base: "http://" + admin, c: &http.Client{Timeout: 10 * time.Second}}
	a.login(t, "alice", "s3cret-pw")
	code, m, _ := a.do(t, "POST", "/api/v1/keys", `{"name":"ci","role":"viewer","expires":"24h"}`)
	if code != 201 {
		t.Fatalf("create key: %d %v", code, m)
	}
	key := m["key"].(string)
	k := &apiClient{base: a.base, c: a.c, key: key}
	if code, m, _ := k.do(t, "GET", "/api/v1/me", ""); code != 200 || m["user"] != "ci" || m["role"] != "viewer" {
		t.Fatalf("me with key: %d %v", code, m)
	}
	keysFile, _ := os.ReadFile(filepath.Join(stateDir, "keys.json"))
	if strings.Contains(string(keysFile), key[len(key)-43:]) || !strings.Contains(string(keysFile), `"ci"`) {
		t.Fatalf("keys.json: %s", keysFile)
	}

	// Binary upgrade: the new process knows the session and the key.
	p.cmd.Process.Signal(syscall.SIGUSR2)
	waitFor(t, "new process ready", 20*time.Second, func() bool {
		return strings.Contains(p.log(), "binary upgrade: new process ready")
	})
	mm := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`).FindStringSubmatch(p.log())
	if mm == nil {
		t.Fatalf("no pid of the new process in the log")
	}
	pid, _ := strconv.Atoi(mm[1])
	np, _ := os.FindProcess(pid)
	t.Cleanup(func() { np.Kill() })
	p.wait(t, 15*time.Second) // the old process is gone: every answer now comes from the new one
	if code, m, _ := a.do(t, "GET", "/api/v1/me", ""); code != 200 || m["user"] != "alice" || m["csrf_token"] != a.csrf {
		t.Fatalf("session after the upgrade: %d %v", code, m)
	}
	if code, _, _ := k.do(t, "GET", "/api/v1/me", ""); code != 200 {
		t.Fatalf("key after the upgrade: %d", code)
	}
	// Logout there, and the cookie is dead.
	if code, _, _ := a.do(t, "POST", "/api/v1/logout", ""); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := a.do(t, "GET", "/api/v1/me", ""); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
	// protect_metrics by reload.
	os.WriteFile(cfg, []byte(strings.Replace(withUsers, "  users:", "  protect_metrics: true\n  users:", 1)), 0o644)
	np.Signal(syscall.SIGHUP)
	waitFor(t, "/metrics protected", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/metrics"); return c == 401 })
	req, _ := http.NewRequest("GET", "http://"+admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := a.c.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/metrics with a viewer key: %v %v", err, res)
	}
	res.Body.Close()
	audit, _ := os.ReadFile(filepath.Join(stateDir, "audit.log"))
	for _, want := range []string{`"action":"login"`, `"action":"key_created"`, `"action":"logout"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit.log lacks %s:\n%s", want, audit)
		}
	}
	if strings.Contains(string(audit)+p.log(), "s3cret-pw") || strings.Contains(string(audit)+p.log(), key) {
		t.Fatal("a secret is in the audit or process log")
	}
	np.Signal(syscall.SIGTERM)
}

// TestAdminTLSThroughBinary serves the admin listener over TLS with a
// generated certificate.
func TestAdminTLSThroughBinary(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sluice admin"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, &caKey.PublicKey, caKey)
	kb, _ := x509.MarshalECPrivateKey(caKey)
	certFile := writeFile(t, dir, "admin.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile := writeFile(t, dir, "admin-key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	admin, web := freeAddr(t), freeAddr(t)
	hash, _, _ := hashPassword(t, "pw\n")
	cfg := strings.Replace(httpConfig(admin, web, httpBackend(t, "a")), fmt.Sprintf("admin: {listen: %q}", admin),
		fmt.Sprintf("admin:\n  listen: %q\n  tls: {cert: %q, key: %q}\n  users: [{name: alice, password_hash: %q, role: viewer}]", admin, certFile, keyFile, hash), 1)
	start(t, "run", "-c", writeFile(t, dir, "sluice.yaml", cfg))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitFor(t, "TLS admin ready", 10*time.Second, func() bool {
		res, err := c.Get("https://" + admin + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	a := &apiClient{base: "https://" + admin, c: c}
	code, _, h := a.do(t, "POST", "/api/v1/login", `{"username":"alice","password":"pw"}`)
	if code != 200 || !strings.Contains(h.Get("Set-Cookie"), "Secure") {
		t.Fatalf("login over TLS: %d %q", code, h.Get("Set-Cookie"))
	}
	// Plain HTTP gets Go's "client sent an HTTP request to an HTTPS server" 400.
	if code, body, err := get("http://" + admin + "/healthz"); err == nil && (code != 400 || body == "ok") {
		t.Fatalf("plain HTTP on the TLS admin listener: %d %q", code, body)
	}
}
