package ui_test

// Browser tests: a real sluice (built from this tree) with demo backends
// and generated users, driven by Playwright (playwright-core from
// ui/node_modules) in Debian's headless Chromium. They skip, naming what
// is missing, without node, chromium or playwright-core, and fail instead
// under SLUICE_REQUIRE_TOOLS=1 (CI). SLUICE_UI_SCREENSHOTS=DIR keeps the
// screenshots (make ui-screenshots writes docs/ui/).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/bench/backend"
	"github.com/sluicelb/sluice/internal/testtool"
)

// TestBrowserUI walks the UI as an operator would: login, live charts,
// drain, add a server, the configuration editor, the log viewer, alerts,
// roles, API keys, session expiry, phone width, and screenshots.
func TestBrowserUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	preflight(t)
	bin := sluice(t)
	srv, addrs := startServers(t, 4) // three configured, one for "add a server"
	tcpb, err := backend.StartTCPLine("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcpb.Close() })
	us, userYAML := users(t, bin)
	admin, fe, tcpfe := addr(t), addr(t), addr(t)
	cfg := fmt.Sprintf(`admin:
  listen: %s
  state_dir: %s
  users:
%slogging:
  level: info
  access_log: "off"
frontends:
  - name: web
    mode: http
    listen: %s
    backend: web
  - name: echo
    mode: tcp
    listen: %s
    backend: echo
backends:
  - name: echo
    algorithm: least_connections
    servers:
      - address: %s
    health:
      active: {type: tcp, interval: 1s, timeout: 500ms}
  - name: web
    algorithm: round_robin
    health:
      active: {type: http, path: /health, interval: 500ms, timeout: 400ms, healthy_threshold: 1, unhealthy_threshold: 1}
    servers:
      - address: %s
      - address: %s
      - address: %s
        weight: 1
`, admin, filepath.Join(t.TempDir(), "state"), userYAML, fe, tcpfe, tcpb.Addr(), addrs[0], addrs[1], addrs[2])
	p := startSluice(t, bin, cfg, admin)
	load(t, 40, "http://"+fe+"/")
	runScript(t, "ui.e2e.mjs", map[string]any{
		"base":     p.admin,
		"frontend": "http://" + fe,
		"users":    us,
		"servers":  addrs[:3],
		"spare":    addrs[3],
		"control":  controlServer(t, srv),
	})
}

// TestBrowserDashboardSmooth opens the dashboard of a sluice with 10
// backends of 100 servers each under load and records a performance trace:
// no frame of the page may take over 50 ms while the stream updates the
// charts and the health map every second (issue 23).
func TestBrowserDashboardSmooth(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	preflight(t)
	bin := sluice(t)
	_, live := startServers(t, 95)
	var dead []string
	for range 5 {
		dead = append(dead, addr(t)) // nothing listens: these servers are down
	}
	us, userYAML := users(t, bin)
	admin, fe := addr(t), addr(t)
	var b strings.Builder
	fmt.Fprintf(&b, "admin:\n  listen: %s\n  state_dir: %s\n  users:\n%s", admin, filepath.Join(t.TempDir(), "state"), userYAML)
	fmt.Fprintf(&b, "logging:\n  level: warn\n  access_log: \"off\"\nfrontends:\n  - name: web\n    mode: http\n    listen: %s\n    routes:\n", fe)
	var urls []string
	for i := range 10 {
		fmt.Fprintf(&b, "      - {name: r%d, match: {path_prefix: /b%d/}, backend: be%d}\n", i, i, i)
		urls = append(urls, fmt.Sprintf("http://%s/b%d/", fe, i))
	}
	b.WriteString("    backend: be0\nbackends:\n")
	algos := []string{"round_robin", "weighted_round_robin", "least_connections", "ip_hash"}
	for i := range 10 {
		fmt.Fprintf(&b, "  - name: be%d\n    algorithm: %s\n    health:\n      active: {type: tcp, interval: 3s, timeout: 500ms, unhealthy_threshold: 1}\n    servers:\n", i, algos[i%len(algos)])
		for j, a := range append(append([]string(nil), live...), dead...) {
			fmt.Fprintf(&b, "      - {address: %s, weight: %d", a, 1+(i+j)%5)
			if j == 10+i {
				b.WriteString(", drain: true")
			}
			if j == 30+i {
				b.WriteString(", enabled: false")
			}
			b.WriteString("}\n")
		}
	}
	p := startSluice(t, bin, b.String(), admin)
	load(t, 100, urls...)
	runScript(t, "perf.e2e.mjs", map[string]any{"base": p.admin, "users": us, "servers": 1000, "chromium": niced(t, chromium(t))})
}

// TestMakeRunDemo: `make demo-config` (what make run starts) gives the
// quickstart a first admin login for the demo only: sluice starts on it,
// the printed password logs in as admin, and the UI is served. The
// committed example configs have no user at all.
func TestMakeRunDemo(t *testing.T) {
	for _, f := range []string{"quickstart.yaml", "http.yaml", "tcp.yaml", "protection.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "configs", f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("password_hash")) {
			t.Errorf("configs/%s has a password hash: only make run's generated demo config may carry a login", f)
		}
	}
	mk := testtool.Need(t, "make")
	bin := sluice(t)
	dir := t.TempDir()
	if err := os.Link(bin, filepath.Join(dir, "sluice")); err != nil {
		if b, rerr := os.ReadFile(bin); rerr != nil || os.WriteFile(filepath.Join(dir, "sluice"), b, 0o755) != nil {
			t.Fatalf("copy sluice: %v", err)
		}
	}
	demo := filepath.Join(dir, "demo")
	cmd := exec.Command(mk, "-s", "demo-config", "BIN="+dir, "DEMO_DIR="+demo)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("hash-password failed")) {
			t.Skipf("make demo-config waits for `sluice hash-password` (issue 20, api-http): %s", out)
		}
		t.Fatalf("make demo-config: %v\n%s", err, out)
	}
	pw, err := os.ReadFile(filepath.Join(demo, "password"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(demo, "sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(cfg, []byte("password_hash")); n != 1 {
		t.Fatalf("the demo config has %d logins, want 1", n)
	}
	// the quickstart's fixed ports may be in use here: move them
	admin := addr(t)
	text := strings.NewReplacer("127.0.0.1:9900", admin, "127.0.0.1:8080", addr(t), "127.0.0.1:8081", addr(t)).Replace(string(cfg))
	p := startSluice(t, bin, text, admin)
	body := fmt.Sprintf(`{"username":"admin","password":%q}`, strings.TrimSpace(string(pw)))
	r, err := http.Post(p.admin+"/api/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ User, Role string }
	json.NewDecoder(r.Body).Decode(&me)
	r.Body.Close()
	if r.StatusCode != 200 || me.User != "admin" || me.Role != "admin" {
		t.Fatalf("login with the demo password: %d %+v", r.StatusCode, me)
	}
	r, err = http.Get(p.admin + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || r.Request.URL.Path != "/ui/" || !bytes.Contains(page, []byte(`<div id="app">`)) {
		t.Fatalf("GET / → %d %s: not the UI", r.StatusCode, r.Request.URL)
	}
}
