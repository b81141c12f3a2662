package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOverlayFollowsTheBinary: changes the admin API could not write to a
// read-only configuration file are kept in state_dir/config-overlay.json;
// the binary applies them at start (--state-dir), keeps them through a
// SIGHUP reload, and applies them again when restarted.
func TestOverlayFollowsTheBinary(t *testing.T) {
	a, b := httpBackend(t, "a"), httpBackend(t, "b")
	admin, web := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "sluice.yaml", fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
shutdown_timeout: 2s
frontends:
  - {name: web, listen: %q, backend: app}
backends:
  - name: app
    servers:
      - address: %q
      - address: %q
`, admin, web, a, b))
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	ov, _ := json.Marshal(map[string]any{"file": abs, "edits": []map[string]any{
		{"op": "set", "path": "backends[name=app].servers[address=" + a + "].drain", "value": true, "default": false},
	}})
	if err := os.WriteFile(filepath.Join(state, "config-overlay.json"), ov, 0o600); err != nil {
		t.Fatal(err)
	}
	onlyB := func(when string) {
		t.Helper()
		for i := 0; i < 20; i++ {
			code, body, err := get("http://" + web + "/")
			if err != nil || code != 200 || body != "b" {
				t.Fatalf("%s: GET / = %d %q %v; a is drained by the overlay", when, code, body, err)
			}
		}
	}
	ready := func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 }
	p := start(t, "run", "-c", path, "--state-dir", state)
	waitFor(t, "ready", 10*time.Second, ready)
	onlyB("after start")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", 10*time.Second, func() bool {
		return metric(t, admin, `sluice_config_reloads_total{result="success"}`) == "1"
	})
	onlyB("after SIGHUP")
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p = start(t, "run", "-c", path, "--state-dir", state)
	waitFor(t, "ready again", 10*time.Second, ready)
	onlyB("after a restart")
}
