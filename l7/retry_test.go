package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestResetRetriedAtMostOnce: with only resetting servers, an idempotent
// request without a body is tried on two servers, never three.
func TestResetRetriedAtMostOnce(t *testing.T) {
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, closingBackend(t), closingBackend(t), closingBackend(t))
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)
	if res.status != 502 {
		t.Fatalf("status %d", res.status)
	}
	if r := obs.last(t); r.Failure != FailReset || r.Attempts != 2 {
		t.Fatalf("failure %v after %d attempts, want reset after 2", r.Failure, r.Attempts)
	}
	checkReleased(t, bk)
}

// partialBackend answers every request with a full head and 100 KiB of a
// 1 MiB body,
// then closes; it counts requests.
func partialBackend(t testing.TB, reqs *atomic.Int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				reqs.Add(1)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
				_, _ = c.Write(make([]byte, 100<<10))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestNoRetryAfterResponseStarted: once the response head went to the client,
// a failure is never retried (the client sees a truncated response and the
// connection closes), even for an idempotent GET with a healthy second server.
func TestNoRetryAfterResponseStarted(t *testing.T) {
	var reqs atomic.Int64
	good := startBackend(t, okHandler)
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, partialBackend(t, &reqs), good.addr)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Round robin: the first request goes to the partial backend.
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%v; record %+v attempts %v reqs %d good %d", err, obs.last(t), obs.attempts, reqs.Load(), good.count())
	}
	// The client gets every byte the server sent (100 KiB of the 1 MiB it
	// announced), then the close, as HAProxy and nginx do (issue 19: it used
	// to get less than the server had sent).
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(body) != 100<<10 || err == nil {
		t.Fatalf("got %d, %d body bytes, %v; want a 200 cut after the 100 KiB sent, and an error", resp.StatusCode, len(body), err)
	}
	if reqs.Load() != 1 || good.count() != 0 {
		t.Fatalf("partial backend got %d, good backend %d requests; want 1 and 0", reqs.Load(), good.count())
	}
	if r := obs.last(t); r.Attempts != 1 || r.Failure != FailReset {
		t.Fatalf("attempts %d failure %v; want 1 and reset", r.Attempts, r.Failure)
	}
	checkReleased(t, bk)
}

// TestPoolQueue: with MaxConnsPerServer reached, a request waits up to
// MaxConnWait for a free connection: it is served when one frees in time,
// and answered 503 (pool_full) otherwise, without reaching the server.
func TestPoolQueue(t *testing.T) {
	release := make(chan struct{}, 4)
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = w.Write([]byte("ok"))
	})
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{MaxConnsPerServer: 1, MaxConnWait: 300 * time.Millisecond}, be.addr)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})

	slowDone := make(chan int, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			slowDone <- 0
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			slowDone <- 0
			return
		}
		slowDone <- resp.StatusCode
	}()
	waitFor(t, 5*time.Second, "slow request at the backend", func() bool { return be.count() == 1 })

	// 1) The only connection stays busy: 503 after about MaxConnWait.
	start := time.Now()
	res := rawExchange(t, addr, "GET /q HTTP/1.1\r\nHost: a\r\n\r\n", false)
	if d := time.Since(start); res.status != 503 || d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("queued request: %d after %v; want 503 after ~300ms", res.status, d)
	}
	if r := obs.last(t); r.Failure != FailPoolFull {
		t.Fatalf("failure %v", r.Failure)
	}
	if be.count() != 1 {
		t.Fatalf("backend got %d requests", be.count())
	}

	// 2) The connection frees within MaxConnWait: the queued request is served.
	got := make(chan int, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET /q2 HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			got <- 0
			return
		}
		got <- resp.StatusCode
	}()
	waitFor(t, 5*time.Second, "the request waiting in the queue", func() bool { return bk.Balancer().Waiters() == 1 })
	release <- struct{}{}
	if st := <-slowDone; st != 200 {
		t.Fatalf("slow request: %d", st)
	}
	if st := <-got; st != 200 {
		t.Fatalf("queued request after the connection freed: %d", st)
	}
	checkReleased(t, bk)
}
