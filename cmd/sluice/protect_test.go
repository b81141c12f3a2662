package main

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestProtectionThroughBinary(t *testing.T) {
	be := httpBackend(t, "a")
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	var reached atomic.Int64
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	admin, web, private, tcp, capped := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
frontends:
  - name: web
    mode: http
    listen: %q
    backend: web
    rate_limits:
      - {name: per-ip, key: client_ip, rate: 1/m, burst: 3, match: {path_prefix: /limited/}}
  - name: private
    mode: http
    listen: %q
    backend: web
    access: {allow: [10.0.0.0/8]}
  - name: db
    mode: tcp
    listen: %q
    backend: db
    access: {deny: [127.0.0.0/8]}
  - name: capped
    mode: tcp
    listen: %q
    backend: capped
backends:
  - name: web
    servers: [{address: %q}]
  - name: db
    servers: [{address: %q}]
  - name: capped
    rate_limit: {rate: 1/m, burst: 2}
    servers: [{address: %q}]
`, admin, web, private, tcp, capped, be, echo.Addr().String(), echo.Addr().String())
	start(t, "run", "-c", writeFile(t, t.TempDir(), "c.yaml", cfg))
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	client := http.Client{Timeout: 5 * time.Second}
	for i := 1; i <= 5; i++ {
		r, err := client.Get("http://" + web + "/limited/x")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		want := 200
		if i > 3 {
			want = 429
		}
		if r.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, r.StatusCode, want)
		}
		if want == 429 && r.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After")
		}
	}
	if c, _, _ := get("http://" + web + "/other"); c != 200 {
		t.Fatalf("unmatched path limited: %d", c)
	}
	if got := metric(t, admin, `sluice_ratelimited_total{frontend="web",rule="per-ip"}`); got != "2" {
		t.Fatalf("ratelimited_total %q, want 2", got)
	}
	// An http client outside the allow list gets 403.
	if c, _, _ := get("http://" + private + "/"); c != 403 {
		t.Fatalf("client outside allow list: status %d, want 403", c)
	}
	waitFor(t, "http denied counted", 3*time.Second, func() bool {
		return metric(t, admin, `sluice_denied_total{frontend="private"}`) == "1"
	})
	// A denied tcp client is closed and never reaches the server.
	c, err := net.DialTimeout("tcp", tcp, 2*time.Second)
	if err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("denied client got data")
	}
	waitFor(t, "denied counted", 3*time.Second, func() bool {
		return metric(t, admin, `sluice_denied_total{frontend="db"}`) == "1"
	})
	if reached.Load() != 0 {
		t.Fatalf("denied client reached the server %d times", reached.Load())
	}
	// The whole-backend rate limit of a tcp backend: burst 2, then refused.
	for i := 1; i <= 3; i++ {
		before := reached.Load()
		c, err := net.DialTimeout("tcp", capped, 2*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1)) // the server closes at once: EOF either way
			c.Close()
		}
		if i <= 2 {
			waitFor(t, "connection reaches the server", 3*time.Second, func() bool { return reached.Load() == before+1 })
			continue
		}
		// The read ended on sluice closing the connection, not on the
		// deadline. Had sluice admitted it, that close would follow the
		// server's close, which follows its count: reached is final here.
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection %d over the backend rate limit: neither refused nor served: %v", i, err)
		}
		if reached.Load() != before {
			t.Fatalf("connection %d over the backend rate limit reached the server", i)
		}
	}
}
