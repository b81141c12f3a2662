package app

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testtool"
)

// startHAProxy runs haproxy in the foreground on cfg until the test ends,
// and waits until every address in listens accepts connections.
func startHAProxy(t *testing.T, cfg string, listens ...string) {
	t.Helper()
	bin := testtool.Need(t, "haproxy")
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
	logf, _ := os.Create(filepath.Join(dir, "haproxy.log"))
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("haproxy log:\n%s", b)
		}
	})
	for _, a := range listens {
		obsWaitListening(t, a)
	}
}

const haproxyDefaults = `global
  maxconn 256
defaults
  timeout connect 2s
  timeout client 10s
  timeout server 10s
`

// TestProxyProtocolHAProxySender: HAProxy (send-proxy, send-proxy-v2) in
// front of sluice: the client sluice reports is the one that connected to
// HAProxy, not HAProxy.
func TestProxyProtocolHAProxySender(t *testing.T) {
	be := startPPBackend(t, false)
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
frontends:
  - {name: web, listen: %q, backend: app, proxy_protocol: true, trusted_proxies: [127.0.0.1/32]}
backends: [{name: app, servers: [{address: %q}]}]
`, admin, web, be.addr), Options{})
	obsWaitListening(t, web)
	h1, h2 := obsFreeAddr(t), obsFreeAddr(t)
	startHAProxy(t, haproxyDefaults+fmt.Sprintf(`  mode tcp
frontend v1
  bind %s
  default_backend v1
backend v1
  server sluice %s send-proxy
frontend v2
  bind %s
  default_backend v2
backend v2
  server sluice %s send-proxy-v2
`, h1, web, h2, web), h1, h2)
	for _, h := range []string{h1, h2} {
		c := dialFrom(t, "127.0.0.9", h)
		for i := range 2 {
			st, body, err := exchangeRaw(c, nil, "/")
			if err != nil || st != 200 || body != "src=- xff=127.0.0.9 real=127.0.0.9" {
				t.Fatalf("through haproxy %s, request %d: %d %q %v", h, i, st, body, err)
			}
		}
	}
}

// TestProxyProtocolHAProxyReceiver: HAProxy with accept-proxy behind sluice
// (http and tcp frontends, v1 and v2): HAProxy sees the client that
// connected to sluice, and sluice's health checks (which send a LOCAL
// header) keep it up.
func TestProxyProtocolHAProxyReceiver(t *testing.T) {
	r1, r2 := obsFreeAddr(t), obsFreeAddr(t)
	startHAProxy(t, haproxyDefaults+fmt.Sprintf(`  mode http
frontend v1
  bind %s accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%%[src]"
frontend v2
  bind %s accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%%[src]"
`, r1, r2), r1, r2)
	admin, web1, web2, tcp2 := obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t)
	obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
frontends:
  - {name: web1, listen: %q, backend: h1}
  - {name: web2, listen: %q, backend: h2}
  - {name: tcp2, mode: tcp, listen: %q, backend: h2}
backends:
  - name: h1
    servers: [{address: %q, send_proxy: v1}]
    health: {active: {type: http, path: /, interval: 200ms, timeout: 150ms}}
  - name: h2
    servers: [{address: %q, send_proxy: v2}]
    health: {active: {type: http, path: /, interval: 200ms, timeout: 150ms}}
`, admin, web1, web2, tcp2, r1, r2), Options{})
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "h1", "server", r1)
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "h2", "server", r2)
	// Probes keep the servers up for a while (unhealthy_threshold 3 × 200ms).
	time.Sleep(time.Second)
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "h1", "server", r1)
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "h2", "server", r2)
	for _, fe := range []string{web1, web2, tcp2} {
		c := dialFrom(t, "127.0.0.9", fe)
		for i := range 2 {
			st, body, err := exchangeRaw(c, nil, "/")
			if err != nil || st != 200 || strings.TrimSpace(body) != "src=127.0.0.9" {
				t.Fatalf("via %s, request %d: %d %q %v", fe, i, st, body, err)
			}
		}
	}
}
