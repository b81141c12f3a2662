package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dropSecondBackend answers the first request of each connection (keep-
// alive) and closes the connection after reading the second one in full,
// without answering: a server that closed an idle connection just as the
// proxy reused it. It records every request it read, by method.
type dropSecondBackend struct {
	addr  string
	mu    sync.Mutex
	reqs  []string // "GET", "POST" ... in arrival order
	conns atomic.Int64
}

func startDropSecond(t *testing.T) *dropSecondBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &dropSecondBackend{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; i < 2; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					b.mu.Lock()
					b.reqs = append(b.reqs, req.Method)
					b.mu.Unlock()
					if i == 0 {
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}
				}
			}()
		}
	}()
	return b
}

func (b *dropSecondBackend) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...)
}

// TestStaleRetryRule: a request whose reused pooled connection breaks
// after the request was written and before any response byte is sent once
// more on a new connection to the same server when it is idempotent and has
// no body (a GET); a POST, with or without a body, is not (the server may
// have acted on it): 502. Neither counts against the server.
func TestStaleRetryRule(t *testing.T) {
	be := startDropSecond(t)
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, be.addr)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	c, br, err := dialKeepAlive(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(req string) *http.Response {
		t.Helper()
		obs.mu.Lock()
		obs.records, obs.attempts = nil, nil
		obs.mu.Unlock()
		resp := rawGetOn(t, c, br, req)
		if resp.Close {
			t.Fatalf("%q: the client connection was closed", strings.Fields(req)[0])
		}
		return resp
	}
	if resp := send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("first GET: %d", resp.StatusCode)
	}
	// The pooled connection is reused and dropped: GET goes again on a new one.
	if resp := send("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("GET on a stale connection: %d, want 200 (retried on a new connection)", resp.StatusCode)
	}
	if r := obs.last(t); r.Failure != FailNone || r.Attempts != 1 {
		t.Fatalf("GET record: failure %v attempts %d", r.Failure, r.Attempts)
	}
	if got := strings.Join(be.requests(), " "); got != "GET GET GET" || be.conns.Load() != 2 {
		t.Fatalf("backend saw %q on %d connections, want GET GET GET on 2", got, be.conns.Load())
	}
	// The retry's connection was not pooled (it is closed after use).
	for _, tc := range []struct{ name, req string }{
		{"POST with a body", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"},
		{"POST without a body", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"},
	} {
		// A GET opens a pooled connection (its first request); the POST
		// reuses it and is dropped.
		if resp := send("GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode != 200 {
			t.Fatalf("GET before %s: %d", tc.name, resp.StatusCode)
		}
		before := len(be.requests())
		resp := send(tc.req)
		if resp.StatusCode != 502 {
			t.Fatalf("%s on a stale connection: %d, want 502 (not retried)", tc.name, resp.StatusCode)
		}
		if got := be.requests()[before:]; len(got) != 1 || got[0] != "POST" {
			t.Fatalf("%s: the backend saw %v, want exactly one POST", tc.name, got)
		}
		r := obs.last(t)
		if r.Failure != FailStale || FailStale.CountsAgainstServer() {
			t.Fatalf("%s: failure %v (counts %v), want stale, not counted", tc.name, r.Failure, r.Failure.CountsAgainstServer())
		}
	}
	checkReleased(t, bk)
}

// TestStalePooledConnectionNotReused: a pooled connection the server closed
// while it sat idle — with a FIN, or with a reset — is noticed before reuse:
// the request goes on a new connection, and not one byte is written to the
// closed one.
func TestStalePooledConnectionNotReused(t *testing.T) {
	old := staleCheckAfter
	staleCheckAfter = 0 // look at every reused connection, however short its idle time
	t.Cleanup(func() { staleCheckAfter = old })
	for _, mode := range []string{"fin", "rst"} {
		t.Run(mode, func(t *testing.T) {
			var conns, late, ended atomic.Int64 // connections; bytes read after the server closed its side; connections over
			closed := make(chan struct{}, 8)
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
					conns.Add(1)
					go func() {
						defer ended.Add(1)
						defer c.Close()
						br := bufio.NewReader(c)
						if _, err := http.ReadRequest(br); err != nil {
							return
						}
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						if mode == "rst" {
							_ = c.(*net.TCPConn).SetLinger(0)
							c.Close()
							closed <- struct{}{}
							return
						}
						_ = c.(*net.TCPConn).CloseWrite() // FIN, but keep reading
						closed <- struct{}{}
						_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
						n, _ := io.Copy(io.Discard, br)
						late.Add(n)
					}()
				}
			}()
			obs := &recObserver{}
			bk := newBackend(t, "web", BackendOptions{}, ln.Addr().String())
			_, addr := startProxy(t, Options{Default: bk, Observer: obs})
			for i := 0; i < 3; i++ {
				if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 200 {
					t.Fatalf("request %d: %d", i, res.status)
				}
				<-closed // the server closed the connection the proxy now pools
				if r := obs.last(t); r.Failure != FailNone {
					t.Fatalf("request %d: failure %v", i, r.Failure)
				}
				obs.mu.Lock()
				for _, f := range obs.attempts {
					if f != FailNone {
						t.Fatalf("request %d: an attempt failed with %v", i, f)
					}
				}
				obs.records, obs.attempts = nil, nil
				obs.mu.Unlock()
			}
			// Every connection but the pooled last one was closed by the
			// proxy (fin: that ends the server's read), so late is final.
			waitFor(t, 5*time.Second, "the server's connections over", func() bool { return ended.Load() >= 2 })
			if conns.Load() != 3 || late.Load() != 0 {
				t.Fatalf("%d connections, %d bytes written after the server closed; want 3 and 0", conns.Load(), late.Load())
			}
			checkReleased(t, bk)
		})
	}
}

// TestStaleCheckLearnsServerTimeout: a pooled connection idle for less than
// staleCheckAfter is reused without a look (no system call), until its
// server has been seen closing a connection idle that long: from then on the
// pool looks at connections idle for half the server's time, so a close
// that is still on its way to the loop is caught. Fails when learn is a no-op.
func TestStaleCheckLearnsServerTimeout(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	unix.Close(fds[1]) // the "server" has closed: fds[0] reads end of stream
	l := &rloop{pools: make(map[*upstream]*bpool)}
	u := &upstream{}
	p := l.pool(u)
	pooled := func(idle time.Duration) *bconn {
		bc := &bconn{u: u, l: l, fd: fds[0]}
		p.put(bc)
		bc.idleSince = monoNow() - int64(idle)
		return bc
	}
	dead := pooled(40 * time.Millisecond)
	if got := p.get(); got != dead {
		t.Fatalf("idle 40 ms, nothing learned: got %p, want the connection reused unlooked (%p)", got, dead)
	}
	if p.learned != 0 {
		t.Fatalf("learned %v before any close was seen", time.Duration(p.learned))
	}
	p.learn(int64(60 * time.Millisecond)) // the server closed one idle for 60 ms
	if p.learned != int64(30*time.Millisecond) {
		t.Fatalf("learned %v, want 30ms", time.Duration(p.learned))
	}
	pooled(40 * time.Millisecond)
	if got := p.get(); got != nil {
		t.Fatalf("idle 40 ms after learning 30 ms: got %p, want the closed connection looked at and dropped", got)
	}
	if d := time.Duration(p.learned); d < 20*time.Millisecond || d > 25*time.Millisecond {
		t.Fatalf("after dropping one idle 40 ms: learned %v, want half of that idle time", d)
	}
	p.learn(int64(time.Microsecond))
	if p.learned != minStaleCheck {
		t.Fatalf("learned %v, want the floor %v", time.Duration(p.learned), time.Duration(minStaleCheck))
	}
}
