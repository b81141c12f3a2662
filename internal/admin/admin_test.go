package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/metrics"
)

var client = &http.Client{Timeout: 5 * time.Second}

func start(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Listener == nil && opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, "http://" + s.Addr().String()
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestHealthzAndReadyz(t *testing.T) {
	var ready atomic.Bool
	s, base := start(t, Options{Ready: ready.Load})
	if code, body, _ := get(t, base+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body, _ := get(t, base+"/readyz"); code != 503 || body != "not ready" {
		t.Fatalf("/readyz before ready = %d %q", code, body)
	}
	ready.Store(true)
	if code, body, _ := get(t, base+"/readyz"); code != 200 || body != "ok" {
		t.Fatalf("/readyz when ready = %d %q", code, body)
	}
	s.BeginShutdown()
	if code, body, _ := get(t, base+"/readyz"); code != 503 || body != "shutting down" {
		t.Fatalf("/readyz during shutdown = %d %q", code, body)
	}
	if code, _, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz during shutdown = %d", code)
	}
	resp, err := client.Post(base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestMetricsServesRegistry(t *testing.T) {
	r := metrics.NewRegistry()
	r.Pair("web", "api", metrics.ModeHTTP).Request(200, time.Millisecond)
	_, base := start(t, Options{Metrics: r.WritePrometheus})
	code, body, h := get(t, base+"/metrics")
	if code != 200 || h.Get("Content-Type") != MetricsContentType {
		t.Fatalf("/metrics = %d %q", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"# TYPE sluice_requests_total counter\n",
		`sluice_requests_total{frontend="web",backend="api",code="200"} 1` + "\n",
		"# TYPE sluice_request_duration_seconds histogram\n",
		"# TYPE process_open_fds gauge\n",
		"# TYPE go_goroutines gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	req, _ := http.NewRequest(http.MethodHead, base+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD /metrics = %d", resp.StatusCode)
	}
}

func TestExtendMuxAndGivenListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, base := start(t, Options{Listener: ln})
	if s.Addr().String() != ln.Addr().String() {
		t.Fatalf("Addr %v, want %v", s.Addr(), ln.Addr())
	}
	s.Handle("GET /ui/", auth.RoleNone, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `ui`)
	}))
	if code, body, _ := get(t, base+"/ui/x"); code != 200 || body != `ui` {
		t.Fatalf("added route = %d %q", code, body)
	}
	found := false
	for _, rt := range s.Routes() {
		found = found || rt.pattern() == "GET /ui/"
	}
	if !found {
		t.Fatal("Handle did not add the route to the role table")
	}
}

func TestShutdownClosesListener(t *testing.T) {
	s := New(Options{Addr: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts after Shutdown", addr)
	}
}

func TestListenErrorNamesAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	err = New(Options{Addr: addr}).Start()
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Start on a used port = %v, want an error naming %s", err, addr)
	}
}

func TestSlowHeaderIsCutOff(t *testing.T) {
	_, base := start(t, Options{ReadHeaderTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never finishes the head
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// A state_dir that cannot be used fails Start with a message naming it.
func TestStateDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, []byte("x"), 0o600)
	err := New(Options{Addr: "127.0.0.1:0", StateDir: file}).Start()
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("Start with a file as state_dir: %v", err)
	}
}
