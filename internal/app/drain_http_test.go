package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrainHTTPServer: a reload removes an http server while a request to it
// is in flight. The request finishes with the old server's answer, new
// requests go to the new server, and once the removed server has drained its
// pooled keep-alive connections are closed.
func TestDrainHTTPServer(t *testing.T) {
	var open atomic.Int64  // connections the old server has open
	var slowAt atomic.Bool // a /slow request reached it
	old := obsServe(t, func(c net.Conn) {
		open.Add(1)
		defer open.Add(-1)
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			for { // rest of the head
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == "\r\n" {
					break
				}
			}
			if strings.Contains(line, "/slow") {
				slowAt.Store(true)
				time.Sleep(600 * time.Millisecond)
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold"); err != nil {
				return
			}
		}
	})
	next := obsHTTPBackend(t, 200, "new")
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	conf := func(server string) string {
		return fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - {name: web, mode: http, listen: %q, backend: web}
backends:
  - name: web
    drain_timeout: 5s
    health: {passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}]
`, admin, web, server)
	}
	a := obsStart(t, conf(old), Options{})
	obsWaitListening(t, web)
	if code, body := obsGet(t, web, "/"); code != 200 || body != "old" {
		t.Fatalf("before reload: %d %q", code, body)
	}
	if open.Load() != 1 {
		t.Fatalf("old server has %d connections, want 1 pooled", open.Load())
	}
	slow := make(chan string, 1)
	go func() { code, body := obsGet(t, web, "/slow"); slow <- fmt.Sprint(code, " ", body) }()
	obsEventually(t, 2*time.Second, func() error {
		if !slowAt.Load() {
			return fmt.Errorf("the slow request has not reached the old server")
		}
		return nil
	})
	if _, err := a.Apply(obsConfig(t, conf(next))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if code, body := obsGet(t, web, "/"); code != 200 || body != "new" {
			t.Fatalf("after reload: %d %q", code, body)
		}
	}
	if got := <-slow; got != "200 old" {
		t.Fatalf("in-flight request: %q", got)
	}
	// The slow request's connection went back to the pool; drained (nothing
	// active) well before drain_timeout, the pool is closed.
	start := time.Now()
	obsEventually(t, 3*time.Second, func() error {
		if n := open.Load(); n != 0 {
			return fmt.Errorf("old server still has %d pooled connections", n)
		}
		return nil
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("pool closed after %v, want soon after the last request ended", d)
	}
}
