package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// apiSluice starts sluice with one admin user and a state_dir, logs in,
// makes an admin API key and returns a client using it.
func apiSluice(t *testing.T, servers ...string) (p *proc, a *apiClient, web, cfgFile, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	admin := freeAddr(t)
	web = freeAddr(t)
	stateDir = filepath.Join(dir, "state")
	hash, _, _ := hashPassword(t, "pw\n")
	cfg := strings.Replace(httpConfig(admin, web, servers...), fmt.Sprintf("admin: {listen: %q}", admin),
		fmt.Sprintf("# the admin API\nadmin:\n  listen: %q\n  state_dir: %q\n  users:\n    - {name: alice, password_hash: %q, role: admin}  # first admin", admin, stateDir, hash), 1)
	cfgFile = writeFile(t, dir, "sluice.yaml", cfg)
	p = start(t, "run", "-c", cfgFile)
	waitFor(t, "sluice ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	a = &apiClient{base: "http://" + admin, c: &http.Client{Timeout: 10 * time.Second}}
	a.login(t, "alice", "pw")
	code, m, _ := a.do(t, "POST", "/api/v1/keys", `{"name":"e2e","role":"admin"}`)
	if code != 201 {
		t.Fatalf("key: %d %v", code, m)
	}
	return p, &apiClient{base: a.base, c: a.c, key: m["key"].(string)}, web, cfgFile, stateDir
}

// TestAPIThroughBinary drives the API of a running sluice: live state,
// logs, a change written back to the file and audited, dry runs,
// validation errors with positions, reload, events and explain.
func TestAPIThroughBinary(t *testing.T) {
	b1, b2 := httpBackend(t, "one"), httpBackend(t, "two")
	p, a, web, cfgFile, stateDir := apiSluice(t, b1, b2)
	for i := 0; i < 10; i++ {
		if code, _, err := get("http://" + web + "/"); err != nil || code != 200 {
			t.Fatalf("proxy: %d %v", code, err)
		}
	}
	code, st, _ := a.do(t, "GET", "/api/v1/status", "")
	if code != 200 || st["config_file"] != cfgFile || st["counts"].(map[string]any)["servers"] != 2.0 {
		t.Fatalf("status: %d %v", code, st)
	}
	waitFor(t, "servers up in the stats", 5*time.Second, func() bool {
		_, b, _ := a.do(t, "GET", "/api/v1/backends/web", "")
		s, _ := b["servers"].([]any)
		return len(s) == 2 && s[0].(map[string]any)["health"] == "up" && s[1].(map[string]any)["health"] == "up"
	})
	_, logs, _ := a.do(t, "GET", "/api/v1/logs?frontend=web&status=2xx&limit=5", "")
	if e, _ := logs["entries"].([]any); len(e) != 5 || e[0].(map[string]any)["backend"] != "web" {
		t.Fatalf("logs: %v", logs)
	}
	// A drain: applied, written back with its comment kept, audited.
	before, _ := os.ReadFile(cfgFile)
	code, res, _ := a.do(t, "PATCH", "/api/v1/backends/web/servers/"+b1, `{"drain":true,"weight":3}`)
	if code != 200 || res["applied"] != true || res["persisted"] != "file" || len(res["changes"].([]any)) == 0 {
		t.Fatalf("patch: %d %v", code, res)
	}
	after, _ := os.ReadFile(cfgFile)
	if !strings.Contains(string(after), "# first admin") || !strings.Contains(string(after), "drain: true") || string(after) == string(before) {
		t.Fatalf("file after the change:\n%s", after)
	}
	if out, err := execSluice("validate", "-c", cfgFile); err != nil {
		t.Fatalf("sluice validate on the written file: %v %s", err, out)
	}
	_, ex, _ := a.do(t, "GET", "/api/v1/explain?frontend=web&path=/x&client_ip=10.0.0.1", "")
	if ex["pick"] != b2 {
		t.Fatalf("explain after the drain: %v", ex)
	}
	audit, _ := os.ReadFile(filepath.Join(stateDir, "audit.log"))
	if !strings.Contains(string(audit), `"action":"patch_server"`) || !strings.Contains(string(audit), `"name":"e2e"`) {
		t.Fatalf("audit.log:\n%s", audit)
	}
	_, evs, _ := a.do(t, "GET", "/api/v1/events", "")
	if !strings.Contains(fmt.Sprint(evs), "e2e") {
		t.Fatalf("events without the change's actor: %v", evs)
	}
	// Dry run, invalid text, reload, removal of a server.
	if code, res, _ := a.do(t, "DELETE", "/api/v1/backends/web/servers/"+b2+"?dry_run=true", ""); code != 200 || res["applied"] != false {
		t.Fatalf("dry run: %d %v", code, res)
	}
	code, inv, _ := a.do(t, "POST", "/api/v1/config/validate", "frontends:\n  - {name: x}\n")
	errs, _ := inv["error"].(map[string]any)["errors"].([]any)
	if code != 422 || len(errs) == 0 || errs[0].(map[string]any)["line"] != 2.0 {
		t.Fatalf("validate: %d %v", code, inv)
	}
	if code, res, _ := a.do(t, "POST", "/api/v1/reload", ""); code != 200 {
		t.Fatalf("reload: %d %v", code, res)
	}
	if code, res, _ := a.do(t, "DELETE", "/api/v1/backends/web/servers/"+b1, ""); code != 200 {
		t.Fatalf("remove: %d %v", code, res)
	}
	if code, res, _ := a.do(t, "PATCH", "/api/v1/backends/web/servers/"+b1, `{"weight":1}`); code != 404 {
		t.Fatalf("patch of a removed server: %d %v", code, res)
	}
	if strings.Contains(p.log(), a.key) {
		t.Fatal("the API key is in the process log")
	}
}

func execSluice(args ...string) (string, error) {
	out, err := exec.Command(sluiceBin, args...).CombinedOutput()
	return string(out), err
}

// TestStreamThroughBinary: ten stream clients each receive one stats frame
// a second while an eleventh that asked for log lines and never reads is
// dropped under a flood of requests, and sluice's RSS stays flat.
func TestStreamThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	p, a, web, _, _ := apiSluice(t, httpBackend(t, "one"))
	ws := "ws" + strings.TrimPrefix(a.base, "http") + "/api/v1/stream"
	h := http.Header{"Authorization": {"Bearer " + a.key}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dial := func() *websocket.Conn {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(dctx, ws, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(4 << 20)
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	const good = 10
	var mu sync.Mutex
	stats := make([][]time.Time, good) // when each client got a stats frame
	var wg sync.WaitGroup
	for i := 0; i < good; i++ {
		c := dial()
		c.Write(ctx, websocket.MessageText, []byte(`{"subscribe":["stats"]}`))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				if strings.HasPrefix(string(b), `{"type":"stats"`) {
					mu.Lock()
					stats[i] = append(stats[i], time.Now())
					mu.Unlock()
				}
			}
		}(i)
	}
	stalled := dial()
	stalled.Write(ctx, websocket.MessageText, []byte(`{"subscribe":["logs"]}`)) // and never reads
	waitFor(t, "11 streams", 5*time.Second, func() bool {
		_, st, _ := a.do(t, "GET", "/api/v1/status", "")
		return st["streams"] == 11.0
	})
	// A flood of requests makes log lines for the stalled client.
	var reqs atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				if res, err := c.Get("http://" + web + "/" + strings.Repeat("p", 200)); err == nil {
					res.Body.Close()
					reqs.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	rss0 := procRSS(t, p.cmd.Process.Pid)
	start := time.Now()
	waitFor(t, "the stalled client dropped", 60*time.Second, func() bool {
		_, st, _ := a.do(t, "GET", "/api/v1/status", "")
		return st["streams"] == 10.0
	})
	dropped := time.Since(start)
	mu.Lock()
	for i := range stats {
		stats[i] = stats[i][:0]
	}
	mu.Unlock()
	window := 5 * time.Second
	time.Sleep(window)
	rss1 := procRSS(t, p.cmd.Process.Pid)
	_, st, _ := a.do(t, "GET", "/api/v1/status", "")
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i, ts := range stats {
		if len(ts) < 4 || len(ts) > 6 {
			t.Errorf("client %d got %d stats frames in %v, want one a second", i, len(ts), window)
		}
	}
	t.Logf("stalled client dropped %v after the flood began (%d requests); 10 clients got %v stats frames in %v; sluice RSS %d MiB → %d MiB (%+d KiB); streams now %v",
		dropped.Round(time.Millisecond), reqs.Load(), counts(stats), window, rss0>>20, rss1>>20, (rss1-rss0)>>10, st["streams"])
	if rss1-rss0 > 32<<20 {
		t.Fatalf("sluice RSS grew by %d MiB", (rss1-rss0)>>20)
	}
}

func counts(s [][]time.Time) []int {
	out := make([]int, len(s))
	for i := range s {
		out[i] = len(s[i])
	}
	return out
}

func procRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
