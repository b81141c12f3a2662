package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/freeport"
	"github.com/valyala/fasthttp"
)

// Helpers of observe_test.go. Every name starts with obs: other test files
// of this package are written at the same time.

// obsFreeAddr returns a 127.0.0.1 address that was free a moment ago.
func obsFreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(obsFreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// obsConfig parses and resolves yaml.
func obsConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("obs.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config:\n%s\n%v", yaml, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cfg.Resolve(ctx); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// obsStart starts an App running yaml and shuts it down when the test ends.
func obsStart(t testing.TB, yaml string, o Options) *App {
	t.Helper()
	return obsStartConfig(t, obsConfig(t, yaml), o)
}

// obsStartFile is obsStart from a configuration file (LoadConfig), for
// tests that later reload it.
func obsStartFile(t testing.TB, file string, o Options) *App {
	t.Helper()
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	return obsStartConfig(t, cfg, o)
}

// obsStartConfig starts an App (obsStart's defaults) on cfg and shuts it
// down at the end of the test.
func obsStartConfig(t testing.TB, cfg *config.Config, o Options) *App {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Loops == 0 {
		o.Loops = 2
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return a
}

// obsWaitListening polls until addr accepts TCP connections.
func obsWaitListening(t testing.TB, addr string) {
	t.Helper()
	obsEventually(t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	})
}

// obsEventually calls f until it returns nil or d passes, then fails with
// f's last error.
func obsEventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// obsScrape returns the /metrics text of the admin listener at admin.
func obsScrape(t testing.TB, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// obsSample is one parsed exposition sample.
type obsSample struct {
	name   string
	labels map[string]string
	value  float64
}

// obsParse parses Prometheus text exposition samples (comments skipped).
func obsParse(text string) ([]obsSample, error) {
	var out []obsSample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := obsSample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i < 0 {
			return nil, fmt.Errorf("bad line %q", line)
		} else {
			s.name, rest = line[:i], line[i:]
		}
		if rest[0] == '{' {
			rest = rest[1:]
			for rest[0] != '}' {
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("bad labels in %q", line)
				}
				key := rest[:eq]
				rest = rest[eq+2:]
				var val strings.Builder
				for rest[0] != '"' {
					if rest[0] == '\\' {
						switch rest[1] {
						case 'n':
							val.WriteByte('\n')
						default:
							val.WriteByte(rest[1])
						}
						rest = rest[2:]
						continue
					}
					val.WriteByte(rest[0])
					rest = rest[1:]
				}
				s.labels[key] = val.String()
				rest = strings.TrimPrefix(rest[1:], ",")
			}
			rest = rest[1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %v", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}

// obsLabels builds a label set from pairs: "frontend", "web", "code", "200".
func obsLabels(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// obsFind returns the value of the sample name with exactly labels.
func obsFind(samples []obsSample, name string, labels map[string]string) (float64, bool) {
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// obsMetrics scrapes and parses admin's /metrics.
func obsMetrics(t testing.TB, admin string) []obsSample {
	t.Helper()
	s, err := obsParse(obsScrape(t, admin))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// obsWant polls /metrics until the series name{kv} has value want.
func obsWant(t testing.TB, admin string, want float64, name string, kv ...string) {
	t.Helper()
	labels := obsLabels(kv...)
	obsEventually(t, 5*time.Second, func() error {
		got, ok := obsFind(obsMetrics(t, admin), name, labels)
		if !ok {
			return fmt.Errorf("%s%v: no such series", name, labels)
		}
		if got != want {
			return fmt.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
		return nil
	})
}

// obsBuffer is a goroutine-safe bytes.Buffer (the access-log writer and
// the test run concurrently).
type obsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *obsBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Lines returns the complete lines written so far.
func (b *obsBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSuffix(b.b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// obsServe runs handle for every connection accepted on a new loopback
// listener and returns its address; the listener closes with the test.
func obsServe(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); handle(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// obsHTTPBackend answers every request head with status and body
// (Content-Length, keep-alive). It reads heads only (GET requests).
func obsHTTPBackend(t testing.TB, status int, body string) string {
	resp := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), len(body), body)
	return obsServe(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for obsReadHead(br) == nil {
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
}

// obsReadHead reads one request or response head (up to the empty line).
func obsReadHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" || line == "\n" {
			return nil
		}
	}
}

// obsRawGet sends req on c and reads one response: its status and body
// (Content-Length responses only).
func obsRawGet(c net.Conn, br *bufio.Reader, req string) (int, string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), err
}

// obsGet does one GET on a new connection and returns status and body.
func obsGet(t testing.TB, addr, path string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, body, err := obsRawGet(c, bufio.NewReader(c), "GET "+path+" HTTP/1.1\r\nHost: obs.test\r\nConnection: close\r\n\r\n")
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return st, body
}

// obsFastBackend is a fasthttp server answering every request with a
// 12-byte body; it allocates nothing per request, so allocations measured
// around a proxied request are Sluice's (and the fasthttp client's, also
// allocation-free in steady state).
func obsFastBackend(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("hello, world")
	srv := &fasthttp.Server{
		Handler:               func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(body) },
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		NoDefaultContentType:  true,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// obsClient is one keep-alive fasthttp client with a reusable request.
type obsClient struct {
	hc   *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func obsNewClient(addr string) *obsClient {
	c := &obsClient{
		hc:   &fasthttp.HostClient{Addr: addr, MaxConns: 1, NoDefaultUserAgentHeader: true},
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
	}
	c.req.SetRequestURI("http://" + addr + "/bench/path?x=1")
	return c
}

func (c *obsClient) do() error {
	if err := c.hc.Do(c.req, c.resp); err != nil {
		return err
	}
	if c.resp.StatusCode() != 200 || len(c.resp.Body()) != 12 {
		return fmt.Errorf("got %d %q", c.resp.StatusCode(), c.resp.Body())
	}
	return nil
}

// obsLoadApp starts an App with one http frontend in front of one
// obsFastBackend; accessLog is "off", "discard" (encoded and written to
// io.Discard) or "file" (a file in a temp dir). It returns the frontend
// and admin addresses.
func obsLoadApp(t testing.TB, accessLog string) (web, admin string) {
	t.Helper()
	be := obsFastBackend(t)
	web, admin = obsFreeAddr(t), obsFreeAddr(t)
	var o Options
	dest := accessLog
	switch accessLog {
	case "discard":
		dest, o.AccessLogWriter = "stdout", io.Discard
	case "file":
		dest = filepath.Join(t.TempDir(), "access.log")
	}
	obsStart(t, fmt.Sprintf(`
admin: {listen: %q}
logging: {level: error, access_log: %q}
shutdown_timeout: 2s
frontends:
  - {name: web, mode: http, listen: %q, backend: app}
backends:
  - name: app
    servers: [{address: %q}]
`, admin, dest, web, be), o)
	obsWaitListening(t, admin)
	return web, admin
}
