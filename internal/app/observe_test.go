package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testtool"
)

// obsRig is an App with one http frontend ("web") routing by path to one
// backend per kind of outcome, and one tcp frontend ("db") in front of a
// greeting echo server.
type obsRig struct {
	app                   *App
	admin, web, db        string
	ok1, ok2              string // backend "ok": two servers answering 200 "hello"
	refuse, hang, cut     string // nothing listening; never answers; closes mid-head
	err500, down, echo    string // answers 500; down (active check fails); tcp echo
	yaml                  string
	accessLog             *obsBuffer
	greeting              string
	responseTimeout       time.Duration
	hangAccepted, cutSeen chan struct{}
}

// obsNewRig starts the backends and the App. accessLog is the access_log
// value of the config ("off", "stdout" → the rig's buffer, or a path).
func obsNewRig(t *testing.T, accessLog string) *obsRig {
	t.Helper()
	r := &obsRig{
		admin: obsFreeAddr(t), web: obsFreeAddr(t), db: obsFreeAddr(t),
		refuse: obsFreeAddr(t), down: obsFreeAddr(t),
		accessLog: &obsBuffer{}, greeting: "HELLO\n", responseTimeout: 400 * time.Millisecond,
		hangAccepted: make(chan struct{}, 16), cutSeen: make(chan struct{}, 16),
	}
	r.ok1 = obsHTTPBackend(t, 200, "hello")
	r.ok2 = obsHTTPBackend(t, 200, "hello")
	r.err500 = obsHTTPBackend(t, 500, "boom")
	r.hang = obsServe(t, func(c net.Conn) {
		if obsReadHead(bufio.NewReader(c)) == nil {
			r.hangAccepted <- struct{}{}
		}
		_, _ = io.Copy(io.Discard, c) // never answers
	})
	r.cut = obsServe(t, func(c net.Conn) {
		if obsReadHead(bufio.NewReader(c)) == nil {
			r.cutSeen <- struct{}{}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le") // then close
		}
	})
	r.echo = obsServe(t, func(c net.Conn) {
		if _, err := io.WriteString(c, r.greeting); err == nil {
			_, _ = io.Copy(c, c)
		}
	})
	r.yaml = fmt.Sprintf(`
admin: {listen: %q}
logging: {level: error, access_log: %q}
shutdown_timeout: 2s
frontends:
  - name: web
    mode: http
    listen: %q
    routes:
      - {name: ok, match: {path_prefix: /ok}, backend: ok}
      - {name: refuse, match: {path_prefix: /refuse}, backend: refuse}
      - {name: hang, match: {path_prefix: /hang}, backend: hang}
      - {name: cut, match: {path_prefix: /cut}, backend: cut}
      - {name: err, match: {path_prefix: /err}, backend: err}
      - {name: down, match: {path_prefix: /down}, backend: down}
  - name: db
    mode: tcp
    listen: %q
    backend: echo
backends:
  - name: ok
    servers: [{address: %q}, {address: %q}]
  - name: refuse
    health: {passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}]
  - name: hang
    timeouts: {response: %s}
    health: {passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}]
  - name: cut
    health: {passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}]
  - name: err
    health: {passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}]
  - name: down
    health:
      active: {type: tcp, interval: 100ms, timeout: 50ms, unhealthy_threshold: 1}
    servers: [{address: %q}]
  - name: echo
    servers: [{address: %q}]
`, r.admin, accessLog, r.web, r.db, r.ok1, r.ok2, r.refuse, r.responseTimeout, r.hang, r.cut, r.err500, r.down, r.echo)
	r.app = obsStart(t, r.yaml, Options{AccessLogWriter: r.accessLog})
	// Start returns with every listener bound. A probe of db would be a
	// TCP session of its own, so only the admin listener is probed.
	obsWaitListening(t, r.admin)
	return r
}

// tcpSession opens a session on the tcp frontend, reads the greeting,
// sends payload and reads its echo. The caller closes the connection.
func (r *obsRig) tcpSession(t *testing.T, payload []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", r.db)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	want := append([]byte(r.greeting), payload...)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("tcp echo: %v (got %d bytes)", err, len(got))
	}
	return c
}

// TestObsMetricsFollowTraffic drives every kind of outcome through a
// running App and checks each contract metric (contract §4) by exact value.
func TestObsMetricsFollowTraffic(t *testing.T) {
	r := obsNewRig(t, "off")
	adm := r.admin
	const web, db = "web", "db"

	// Series that exist before any traffic.
	m := obsMetrics(t, adm)
	for _, s := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"sluice_config_reloads_total", []string{"result", "success"}, 0},
		{"sluice_config_reloads_total", []string{"result", "failure"}, 0},
		{"sluice_config_last_reload_success", nil, 1},
		{"sluice_access_log_dropped_total", nil, 0},
		{"sluice_active_connections", []string{"frontend", web}, 0},
		{"sluice_active_connections", []string{"frontend", db}, 0},
		{"sluice_tcp_sessions_total", []string{"frontend", db, "backend", "echo"}, 0},
		{"sluice_bytes_total", []string{"frontend", db, "direction", "in"}, 0},
		{"sluice_bytes_total", []string{"frontend", db, "direction", "out"}, 0},
		{"sluice_backend_health", []string{"backend", "ok", "server", r.ok1}, 1},
		{"sluice_backend_requests_total", []string{"backend", "ok", "server", r.ok1}, 0},
		{"sluice_backend_active_connections", []string{"backend", "ok", "server", r.ok1}, 0},
		{"sluice_request_duration_seconds_count", []string{"frontend", web, "backend", "ok"}, 0},
	} {
		got, ok := obsFind(m, s.name, obsLabels(s.kv...))
		if !ok || got != s.want {
			t.Errorf("at start %s%v = %v (present %v), want %v", s.name, s.kv, got, ok, s.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if v, ok := obsFind(m, name, nil); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, v, ok)
		}
	}

	// 200: ten requests, round robin over two servers.
	for i := 0; i < 10; i++ {
		if st, body := obsGet(t, r.web, "/ok"); st != 200 || body != "hello" {
			t.Fatalf("GET /ok = %d %q", st, body)
		}
	}
	obsWant(t, adm, 10, "sluice_requests_total", "frontend", web, "backend", "ok", "code", "200")
	obsWant(t, adm, 5, "sluice_backend_requests_total", "backend", "ok", "server", r.ok1)
	obsWant(t, adm, 5, "sluice_backend_requests_total", "backend", "ok", "server", r.ok2)
	obsWant(t, adm, 10, "sluice_request_duration_seconds_count", "frontend", web, "backend", "ok")
	obsWant(t, adm, 10, "sluice_request_duration_seconds_bucket", "frontend", web, "backend", "ok", "le", "+Inf")
	obsCheckBuckets(t, obsMetrics(t, adm), web, "ok", 10)

	// 404: no route and no default backend; backend label is empty.
	if st, _ := obsGet(t, r.web, "/nowhere"); st != 404 {
		t.Fatalf("GET /nowhere = %d, want 404", st)
	}
	obsWant(t, adm, 1, "sluice_requests_total", "frontend", web, "backend", "", "code", "404")

	// 502 + reason connect: nothing listens at the server's address.
	if st, _ := obsGet(t, r.web, "/refuse"); st != 502 {
		t.Fatalf("GET /refuse = %d, want 502", st)
	}
	obsWant(t, adm, 1, "sluice_requests_total", "frontend", web, "backend", "refuse", "code", "502")
	obsWant(t, adm, 1, "sluice_backend_requests_total", "backend", "refuse", "server", r.refuse)
	obsWant(t, adm, 1, "sluice_backend_failures_total", "backend", "refuse", "server", r.refuse, "reason", "connect")

	// 504 + reason timeout; while the request hangs the server has one
	// active connection.
	done := make(chan int, 1)
	go func() {
		c, err := net.Dial("tcp", r.web)
		if err != nil {
			done <- -1
			return
		}
		defer c.Close()
		st, _, _ := obsRawGet(c, bufio.NewReader(c), "GET /hang HTTP/1.1\r\nHost: obs.test\r\n\r\n")
		done <- st
	}()
	<-r.hangAccepted
	obsWant(t, adm, 1, "sluice_backend_active_connections", "backend", "hang", "server", r.hang)
	if st := <-done; st != 504 {
		t.Fatalf("GET /hang = %d, want 504", st)
	}
	obsWant(t, adm, 0, "sluice_backend_active_connections", "backend", "hang", "server", r.hang)
	obsWant(t, adm, 1, "sluice_backend_failures_total", "backend", "hang", "server", r.hang, "reason", "timeout")
	obsWant(t, adm, 1, "sluice_requests_total", "frontend", web, "backend", "hang", "code", "504")
	// The 504 took at least the response timeout (400ms): not in le=0.25.
	m = obsMetrics(t, adm)
	for le, want := range map[string]float64{"0.25": 0, "10": 1, "+Inf": 1} {
		got, _ := obsFind(m, "sluice_request_duration_seconds_bucket", obsLabels("frontend", web, "backend", "hang", "le", le))
		if got != want {
			t.Errorf("hang bucket le=%s = %v, want %v", le, got, want)
		}
	}
	if sum, _ := obsFind(m, "sluice_request_duration_seconds_sum", obsLabels("frontend", web, "backend", "hang")); sum < r.responseTimeout.Seconds() {
		t.Errorf("hang duration sum = %v, want >= %v", sum, r.responseTimeout.Seconds())
	}

	// 502 + reason reset: the server closes in the middle of the head.
	if st, _ := obsGet(t, r.web, "/cut"); st != 502 {
		t.Fatalf("GET /cut = %d, want 502", st)
	}
	obsWant(t, adm, 1, "sluice_backend_failures_total", "backend", "cut", "server", r.cut, "reason", "reset")
	obsWant(t, adm, 1, "sluice_requests_total", "frontend", web, "backend", "cut", "code", "502")

	// 500 passed through + reason status_5xx.
	if st, body := obsGet(t, r.web, "/err"); st != 500 || body != "boom" {
		t.Fatalf("GET /err = %d %q, want 500 boom", st, body)
	}
	obsWant(t, adm, 1, "sluice_backend_failures_total", "backend", "err", "server", r.err500, "reason", "status_5xx")
	obsWant(t, adm, 1, "sluice_requests_total", "frontend", web, "backend", "err", "code", "500")

	// 503: the active check takes the only server out; health turns 0.
	obsWant(t, adm, 0, "sluice_backend_health", "backend", "down", "server", r.down)
	if st, _ := obsGet(t, r.web, "/down"); st != 503 {
		t.Fatalf("GET /down = %d, want 503", st)
	}
	obsWant(t, adm, 1, "sluice_requests_total", "frontend", web, "backend", "down", "code", "503")
	obsWant(t, adm, 1, "sluice_backend_health", "backend", "ok", "server", r.ok2)

	// Every failure counter that was not provoked stays 0: one reason each.
	m = obsMetrics(t, adm)
	provoked := map[string]string{"refuse": "connect", "hang": "timeout", "cut": "reset", "err": "status_5xx"}
	servers := map[string]string{"refuse": r.refuse, "hang": r.hang, "cut": r.cut, "err": r.err500, "ok": r.ok1}
	for be, srv := range servers {
		for _, reason := range []string{"connect", "timeout", "reset", "status_5xx"} {
			want := 0.0
			if provoked[be] == reason {
				want = 1
			}
			if got, ok := obsFind(m, "sluice_backend_failures_total", obsLabels("backend", be, "server", srv, "reason", reason)); !ok || got != want {
				t.Errorf("failures{%s,%s} = %v (present %v), want %v", be, reason, got, ok, want)
			}
		}
	}

	// Active connections and bytes of one keep-alive http connection.
	obsWant(t, adm, 0, "sluice_active_connections", "frontend", web)
	m = obsMetrics(t, adm)
	in0, _ := obsFind(m, "sluice_bytes_total", obsLabels("frontend", web, "direction", "in"))
	out0, _ := obsFind(m, "sluice_bytes_total", obsLabels("frontend", web, "direction", "out"))
	c, err := net.Dial("tcp", r.web)
	if err != nil {
		t.Fatal(err)
	}
	req := "GET /ok/keep HTTP/1.1\r\nHost: obs.test\r\n\r\n"
	if st, body, err := obsRawGet(c, bufio.NewReader(c), req); err != nil || st != 200 || body != "hello" {
		t.Fatalf("keep-alive GET = %d %q %v", st, body, err)
	}
	obsWant(t, adm, 1, "sluice_active_connections", "frontend", web)
	obsWant(t, adm, in0+float64(len(req)), "sluice_bytes_total", "frontend", web, "direction", "in")
	obsWant(t, adm, out0+float64(len("hello")), "sluice_bytes_total", "frontend", web, "direction", "out")
	c.Close()
	obsWant(t, adm, 0, "sluice_active_connections", "frontend", web)

	// TCP: one session with exact byte counts both ways.
	payload := bytes.Repeat([]byte("0123456789"), 100)
	c = r.tcpSession(t, payload)
	obsWant(t, adm, 1, "sluice_active_connections", "frontend", db)
	obsWant(t, adm, 1, "sluice_backend_active_connections", "backend", "echo", "server", r.echo)
	obsWant(t, adm, 1, "sluice_backend_requests_total", "backend", "echo", "server", r.echo)
	c.Close()
	obsWant(t, adm, 1, "sluice_tcp_sessions_total", "frontend", db, "backend", "echo")
	obsWant(t, adm, 0, "sluice_active_connections", "frontend", db)
	obsWant(t, adm, 0, "sluice_backend_active_connections", "backend", "echo", "server", r.echo)
	obsWant(t, adm, float64(len(payload)), "sluice_bytes_total", "frontend", db, "direction", "in")
	obsWant(t, adm, float64(len(payload)+len(r.greeting)), "sluice_bytes_total", "frontend", db, "direction", "out")
	// TCP sessions are not requests: no sluice_requests_total for db.
	for _, s := range obsMetrics(t, adm) {
		if s.name == "sluice_requests_total" && s.labels["frontend"] == db {
			t.Errorf("tcp session counted as a request: %v", s.labels)
		}
	}

	// Reloads: success, failure (the running config stays), success.
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	obsWrite(t, path, r.yaml)
	if err := r.app.Reload(path); err != nil {
		t.Fatalf("reload: %v", err)
	}
	obsWant(t, adm, 1, "sluice_config_reloads_total", "result", "success")
	obsWant(t, adm, 1, "sluice_config_last_reload_success")
	obsWrite(t, path, "frontends: [\n")
	if err := r.app.Reload(path); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	obsWant(t, adm, 1, "sluice_config_reloads_total", "result", "failure")
	obsWant(t, adm, 0, "sluice_config_last_reload_success")
	if st, _ := obsGet(t, r.web, "/ok"); st != 200 {
		t.Fatalf("after a failed reload GET /ok = %d", st)
	}
	obsWrite(t, path, r.yaml)
	if err := r.app.Reload(path); err != nil {
		t.Fatalf("reload: %v", err)
	}
	obsWant(t, adm, 2, "sluice_config_reloads_total", "result", "success")
	obsWant(t, adm, 1, "sluice_config_last_reload_success")
	// Counters survive reloads that keep their frontend/server.
	obsWant(t, adm, 12, "sluice_requests_total", "frontend", web, "backend", "ok", "code", "200")
	obsWant(t, adm, 0, "sluice_access_log_dropped_total")
}

// obsCheckBuckets checks the le buckets of one pair: the contract's range
// (100µs .. 10s plus +Inf), non-decreasing, ending at count.
func obsCheckBuckets(t *testing.T, m []obsSample, frontend, backend string, count float64) {
	t.Helper()
	type bucket struct {
		le string
		v  float64
	}
	var bs []bucket
	for _, s := range m {
		if s.name == "sluice_request_duration_seconds_bucket" && s.labels["frontend"] == frontend && s.labels["backend"] == backend {
			bs = append(bs, bucket{s.labels["le"], s.value})
		}
	}
	var les []string
	for _, b := range bs {
		les = append(les, b.le)
	}
	want := []string{"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}
	if !slices.Equal(les, want) {
		t.Fatalf("buckets of %s/%s: le = %v, want %v", frontend, backend, les, want)
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].v < bs[i-1].v {
			t.Errorf("bucket le=%s (%v) < le=%s (%v)", bs[i].le, bs[i].v, bs[i-1].le, bs[i-1].v)
		}
	}
	if last := bs[len(bs)-1].v; last != count {
		t.Errorf("le=+Inf = %v, want %v", last, count)
	}
}

func obsWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// obsJSONLines parses each line as one JSON object.
func obsJSONLines(t *testing.T, lines []string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("access-log line is not JSON: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

func obsKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// obsNum returns the JSON number m[k] as a float64, failing otherwise.
func obsNum(t *testing.T, m map[string]any, k string) float64 {
	t.Helper()
	n, ok := m[k].(json.Number)
	if !ok {
		t.Fatalf("%s = %#v, want a number", k, m[k])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestObsAccessLogLines checks one JSON line per HTTP request and per TCP
// session with exactly the fields of contract §5.
func TestObsAccessLogLines(t *testing.T) {
	r := obsNewRig(t, "stdout") // stdout → Options.AccessLogWriter
	before := time.Now()
	c, err := net.Dial("tcp", r.web)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	// The host is logged as routed: lower case.
	reqs := []string{
		"GET /ok/a?q=1 HTTP/1.1\r\nHost: Shop.Example\r\n\r\n",
		"GET /err HTTP/1.1\r\nHost: obs.test\r\n\r\n",
	}
	for _, req := range reqs {
		if _, _, err := obsRawGet(c, br, req); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	payload := []byte("ping\n")
	c = r.tcpSession(t, payload)
	c.Close()
	obsEventually(t, 5*time.Second, func() error {
		if n := len(r.accessLog.Lines()); n != 3 {
			return fmt.Errorf("%d access-log lines, want 3", n)
		}
		return nil
	})
	after := time.Now()
	lines := make([]map[string]any, 3) // web /ok/a, web /err, db
	for _, l := range obsJSONLines(t, r.accessLog.Lines()) {
		switch {
		case l["mode"] == "tcp":
			lines[2] = l
		case l["path"] == "/err":
			lines[1] = l
		default:
			lines[0] = l
		}
	}
	for i, l := range lines {
		if l == nil {
			t.Fatalf("access-log line %d missing:\n%s", i, strings.Join(r.accessLog.Lines(), "\n"))
		}
	}

	httpKeys := []string{"backend", "bytes_in", "bytes_out", "client_ip", "duration_ms", "frontend", "host", "method", "path", "server", "status", "ts"}
	tcpKeys := []string{"backend", "bytes_in", "bytes_out", "client_ip", "close", "duration_ms", "frontend", "mode", "server", "ts"}
	wantStr := []map[string]string{
		{"frontend": "web", "client_ip": "127.0.0.1", "method": "GET", "host": "shop.example", "path": "/ok/a", "backend": "ok"},
		{"frontend": "web", "client_ip": "127.0.0.1", "method": "GET", "host": "obs.test", "path": "/err", "backend": "err", "server": r.err500},
		{"frontend": "db", "mode": "tcp", "client_ip": "127.0.0.1", "backend": "echo", "server": r.echo, "close": "client"},
	}
	wantNum := []map[string]float64{
		{"status": 200, "bytes_in": float64(len(reqs[0])), "bytes_out": 5},
		{"status": 500, "bytes_in": float64(len(reqs[1])), "bytes_out": 4},
		{"bytes_in": float64(len(payload)), "bytes_out": float64(len(payload) + len(r.greeting))},
	}
	for i, l := range lines {
		keys := httpKeys
		if i == 2 {
			keys = tcpKeys
		}
		if got := obsKeys(l); !slices.Equal(got, keys) {
			t.Errorf("line %d keys = %v, want %v", i, got, keys)
		}
		for k, v := range wantStr[i] {
			if l[k] != v {
				t.Errorf("line %d %s = %#v, want %q", i, k, l[k], v)
			}
		}
		for k, v := range wantNum[i] {
			if got := obsNum(t, l, k); got != v {
				t.Errorf("line %d %s = %v, want %v", i, k, got, v)
			}
		}
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["ts"]))
		if err != nil || ts.Before(before.Add(-time.Millisecond)) || ts.After(after) {
			t.Errorf("line %d ts = %v (%v), want RFC 3339 between %v and %v", i, l["ts"], err, before, after)
		}
		if !strings.Contains(fmt.Sprint(l["ts"]), ".") {
			t.Errorf("line %d ts %v has no fractional seconds", i, l["ts"])
		}
		if d := obsNum(t, l, "duration_ms"); d < 0 || d > float64(after.Sub(before).Milliseconds()+1) {
			t.Errorf("line %d duration_ms = %v, outside the test's %v", i, d, after.Sub(before))
		}
	}
	if s := lines[0]["server"]; s != r.ok1 && s != r.ok2 {
		t.Errorf("server = %v, want %s or %s", s, r.ok1, r.ok2)
	}
}

// TestObsAccessLogReopen: after the file is renamed (logrotate), ReopenLogs
// makes new lines go to a new file at the configured path.
func TestObsAccessLogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	r := obsNewRig(t, path)
	lines := func(p string) int {
		b, err := os.ReadFile(p)
		if err != nil {
			return -1
		}
		return bytes.Count(b, []byte("\n"))
	}
	waitLines := func(p string, n int) {
		t.Helper()
		obsEventually(t, 5*time.Second, func() error {
			if got := lines(p); got != n {
				return fmt.Errorf("%s: %d lines, want %d", p, got, n)
			}
			return nil
		})
	}
	if st, _ := obsGet(t, r.web, "/ok/before"); st != 200 {
		t.Fatal(st)
	}
	waitLines(path, 1)
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	r.app.ReopenLogs()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no new file after ReopenLogs: %v", err)
	}
	for i := 0; i < 2; i++ {
		if st, _ := obsGet(t, r.web, "/ok/after"); st != 200 {
			t.Fatal(st)
		}
	}
	waitLines(path, 2)
	waitLines(rotated, 1)
	b, _ := os.ReadFile(path)
	for _, l := range obsJSONLines(t, strings.Split(strings.TrimSpace(string(b)), "\n")) {
		if l["path"] != "/ok/after" {
			t.Errorf("new file has %v", l["path"])
		}
	}
	b, _ = os.ReadFile(rotated)
	if !strings.Contains(string(b), `"path":"/ok/before"`) {
		t.Errorf("rotated file: %s", b)
	}
}

// TestObsPromtool runs `promtool check metrics` on /metrics after traffic.
func TestObsPromtool(t *testing.T) {
	promtool := testtool.Need(t, "promtool")
	r := obsNewRig(t, "off")
	obsGet(t, r.web, "/ok")
	obsGet(t, r.web, "/err")
	obsGet(t, r.web, "/nowhere")
	r.tcpSession(t, []byte("x")).Close()
	obsWant(t, r.admin, 1, "sluice_tcp_sessions_total", "frontend", "db", "backend", "echo")
	text := obsScrape(t, r.admin)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	t.Logf("promtool check metrics: ok (%d lines checked)", strings.Count(text, "\n"))
}

// TestObsPrometheusScrape runs Debian's prometheus against the admin
// listener (scrape_interval 1s) while traffic flows, and polls its HTTP API
// until histogram_quantile(0.99, …) over sluice_request_duration_seconds
// returns a number.
func TestObsPrometheusScrape(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real prometheus: skipped with -short")
	}
	prom := testtool.Need(t, "prometheus")
	r := obsNewRig(t, "off")
	dir := t.TempDir()
	promAddr := obsFreeAddr(t)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	obsWrite(t, cfgPath, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: sluice
    static_configs: [{targets: [%q]}]
`, r.admin))
	var log obsBuffer
	cmd := exec.Command(prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", strings.Join(log.Lines(), "\n"))
		}
	})

	stop := make(chan struct{})
	trafficDone := make(chan struct{})
	go func() { // keep-alive traffic until the query answers
		defer close(trafficDone)
		c, err := net.Dial("tcp", r.web)
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, _, err := obsRawGet(c, br, "GET /ok HTTP/1.1\r\nHost: obs.test\r\n\r\n"); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-trafficDone }()

	query := "histogram_quantile(0.99, sum by (le) (rate(sluice_request_duration_seconds_bucket[30s])))"
	u := "http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(query)
	var p99 float64
	start := time.Now()
	obsEventually(t, 35*time.Second, func() error {
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var qr struct {
			Status string
			Data   struct {
				Result []struct {
					Value [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&qr); err != nil {
			return fmt.Errorf("query answer: %v", err)
		}
		if qr.Status != "success" || len(qr.Data.Result) != 1 {
			return fmt.Errorf("query: status %q, %d results", qr.Status, len(qr.Data.Result))
		}
		s, _ := qr.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("p99 = %q, want a number", s)
		}
		p99 = v
		return nil
	})
	if p99 <= 0 || p99 > 10 {
		t.Fatalf("p99 = %v s, want within the buckets (0, 10]", p99)
	}
	t.Logf("prometheus: p99 of sluice_request_duration_seconds = %.6f s (answered %v after start)", p99, time.Since(start).Round(time.Millisecond))
}

// BenchmarkObsProxiedRequest measures one sequential keep-alive request
// client → App (http frontend, metrics, access log) → backend. The client
// and backend are fasthttp and allocation-free in steady state, so
// allocs/op is what Sluice allocates per proxied request (an upper bound:
// runtime background allocations count too). "direct" is the same client
// against the backend without Sluice.
//
//	go test -run '^$' -bench ObsProxiedRequest -benchtime 3s ./internal/app/
func BenchmarkObsProxiedRequest(b *testing.B) {
	for _, mode := range []string{"direct", "off", "discard", "file"} {
		b.Run("access_log="+mode, func(b *testing.B) {
			var addr string
			if mode == "direct" {
				addr = obsFastBackend(b)
			} else {
				addr, _ = obsLoadApp(b, mode)
			}
			c := obsNewClient(addr)
			for i := 0; i < 2000; i++ { // warm pools and buffers
				if err := c.do(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := c.do(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// TestObsThroughput measures requests/s through the App with the access
// log off, encoded to io.Discard, and written to a file: a Go load loop of
// obsLoadClients keep-alive fasthttp clients for obsLoadTime each, and wrk
// (when installed) with the same connection count. It only runs when
// SLUICE_OBS_LOAD=1 (numbers belong in docs/observability.md):
//
//	SLUICE_OBS_LOAD=1 go test -run TestObsThroughput -v -count=1 ./internal/app/
func TestObsThroughput(t *testing.T) {
	if os.Getenv("SLUICE_OBS_LOAD") == "" {
		t.Skip("set SLUICE_OBS_LOAD=1 to measure requests/s with the access log on and off")
	}
	const obsLoadClients, obsLoadTime = 32, 3 * time.Second
	for _, mode := range []string{"off", "discard", "file"} {
		t.Run("access_log="+mode, func(t *testing.T) {
			web, admin := obsLoadApp(t, mode)
			var total atomic.Int64
			var wg sync.WaitGroup
			cpu0 := obsCPU(t)
			deadline := time.Now().Add(obsLoadTime)
			for i := 0; i < obsLoadClients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := obsNewClient(web)
					for n := 0; time.Now().Before(deadline); n++ {
						if err := c.do(); err != nil {
							t.Error(err)
							return
						}
						total.Add(1)
					}
				}()
			}
			wg.Wait()
			goRPS := float64(total.Load()) / obsLoadTime.Seconds()
			goCPU := float64((obsCPU(t) - cpu0).Microseconds()) / float64(total.Load())
			wrkRPS, wrkCPU := "n/a (wrk not installed)", 0.0
			if path, ok := testtool.Find(t, "wrk"); ok {
				cpu0 = obsCPU(t)
				out, err := exec.Command(path, "-t2", fmt.Sprintf("-c%d", obsLoadClients),
					fmt.Sprintf("-d%ds", int(obsLoadTime.Seconds())), "http://"+web+"/bench/path?x=1").CombinedOutput()
				cpu := obsCPU(t) - cpu0
				if err != nil {
					t.Fatalf("wrk: %v\n%s", err, out)
				}
				for _, l := range strings.Split(string(out), "\n") {
					if f := strings.Fields(l); len(f) == 2 && f[0] == "Requests/sec:" {
						wrkRPS = f[1]
						if rps, err := strconv.ParseFloat(f[1], 64); err == nil && rps > 0 {
							wrkCPU = float64(cpu.Microseconds()) / (rps * obsLoadTime.Seconds())
						}
					}
					if strings.Contains(l, "Non-2xx") || strings.Contains(l, "Socket errors") {
						t.Errorf("wrk: %s", l)
					}
				}
			}
			dropped, _ := obsFind(obsMetrics(t, admin), "sluice_access_log_dropped_total", nil)
			t.Logf("access_log=%-7s go loop (%d clients, %v): %.0f req/s, %.1f µs CPU/req (client+proxy+backend); "+
				"wrk -t2 -c%d: %s req/s, %.1f µs CPU/req (proxy+backend); access-log lines dropped: %.0f",
				mode, obsLoadClients, obsLoadTime, goRPS, goCPU, obsLoadClients, wrkRPS, wrkCPU, dropped)
		})
	}
}

// obsCPU is the user+system CPU time this process has used.
func obsCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
