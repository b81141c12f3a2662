package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// closedWithin reads from c until EOF or reset and returns how long that took
// (and the bytes read); it fails the test if c stays open for limit.
func closedWithin(t testing.TB, c net.Conn, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open after %v (read %q)", limit, sb.String())
			}
			return time.Since(start), sb.String()
		}
	}
}

// TestClientHeaderSlowloris: a client dribbling its head one byte at a time
// is closed at the client_header deadline, while other clients keep being
// served meanwhile; the backend never hears of the slow one.
//
// The fast clients are five at once, each timed against the slow one's
// close: all are answered before it, however slowly a loaded machine runs
// them (a count of requests in a fixed window would measure the machine).
func TestClientHeaderSlowloris(t *testing.T) {
	const fast = 5
	be := startBackend(t, okHandler)
	_, addr := startProxy(t, Options{
		Default:  newBackend(t, "web", BackendOptions{}, be.addr),
		Timeouts: Timeouts{ClientHeader: 500 * time.Millisecond},
	})
	start := time.Now() // the deadline cannot start before the dial
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	var stop atomic.Bool
	go func() { // dribble a never-ending head
		head := "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("a", 1000)
		for i := 0; i < len(head) && !stop.Load(); i++ {
			if _, err := slow.Write([]byte{head[i]}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer stop.Store(true)
	// Other clients are served while the slow one dribbles.
	type answer struct {
		status int
		at     time.Time
		err    error
	}
	answers := make(chan answer, fast)
	for range fast {
		go func() {
			res, err := exchangeErr(addr, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
			answers <- answer{res.status, time.Now(), err}
		}()
	}
	_, got := closedWithin(t, slow, 3*time.Second)
	closed := time.Now()
	d := closed.Sub(start)
	if d < 450*time.Millisecond || d > 2*time.Second {
		t.Fatalf("slow client closed after %v, want about 500ms", d)
	}
	if got != "" && !strings.HasPrefix(got, "HTTP/1.1 408") {
		t.Fatalf("slow client got %q", got)
	}
	for range fast {
		a := <-answers
		if a.err != nil || a.status != 200 {
			t.Fatalf("fast client: status %d, %v", a.status, a.err)
		}
		if a.at.After(closed) {
			t.Errorf("fast client answered %v after the slow one was closed: not served meanwhile", a.at.Sub(closed))
		}
	}
	if n := be.count(); n != fast {
		t.Fatalf("served %d fast requests, backend saw %d", fast, n)
	}
}

// exchangeErr is rawExchange for other goroutines than the test's: it returns
// the error instead of failing the test.
func exchangeErr(addr, raw string) (rawResult, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return rawResult{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return rawResult{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return rawResult{}, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return rawResult{status: resp.StatusCode, resp: resp, body: string(body)}, err
}

// TestClientIdle: a keep-alive connection with no next request is closed
// after client_idle.
func TestClientIdle(t *testing.T) {
	be := startBackend(t, okHandler)
	_, addr := startProxy(t, Options{
		Default:  newBackend(t, "web", BackendOptions{}, be.addr),
		Timeouts: Timeouts{ClientIdle: 300 * time.Millisecond},
	})
	head, br, c := rawRoundTrip(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200") {
		t.Fatal(head)
	}
	readN(t, br, len("hello from /"))
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(3 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("unexpected byte")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle connection not closed")
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
}

// TestClientRead: a client that stops sending its body gets 408 after
// client_read and is closed; the backend sees an aborted request, not a
// complete one.
func TestClientRead(t *testing.T) {
	var complete, finished atomic.Int64
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		defer finished.Add(1)
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			complete.Add(1)
		}
	})
	obs := &recObserver{}
	_, addr := startProxy(t, Options{
		Default:  newBackend(t, "web", BackendOptions{}, be.addr),
		Timeouts: Timeouts{ClientRead: 300 * time.Millisecond},
		Observer: obs,
	})
	// A small body stalls in fasthttp's pre-read (before the handler); a
	// large one stalls while it streams to the backend.
	for _, sz := range []struct{ cl, sent int }{{100, 10}, {100000, 20000}} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "+strconv.Itoa(sz.cl)+"\r\n\r\n"+strings.Repeat("x", sz.sent))
		_, got := closedWithin(t, c, 3*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Fatalf("body %d: got %q", sz.cl, got)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
			t.Fatalf("body %d: answered after %v, want about 300ms", sz.cl, d)
		}
		if r := obs.last(t); r.Failure != FailClientTimeout || r.Status != 408 {
			t.Fatalf("body %d: record %v %d", sz.cl, r.Failure, r.Status)
		}
		obs.mu.Lock()
		obs.records = nil
		obs.mu.Unlock()
	}
	// The large request reached the backend (the small one never does):
	// once its handler has read to the end of what it got, nothing more can come.
	waitFor(t, 5*time.Second, "the backend handler done", func() bool { return finished.Load() == 1 })
	if complete.Load() != 0 || be.count() != 1 {
		t.Fatalf("the backend got %d requests, %d with a complete body; want 1 and 0", be.count(), complete.Load())
	}
}

// TestClientWrite: a client that stops reading a large response is dropped
// after client_write without progress, and the backend stream is released.
func TestClientWrite(t *testing.T) {
	var backendErr atomic.Int64
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for i := 0; i < 4096; i++ { // 256 MiB, far more than socket buffers hold
			if _, err := w.Write(buf); err != nil {
				backendErr.Add(1)
				return
			}
		}
	})
	bk := newBackend(t, "web", BackendOptions{}, be.addr)
	p, addr := startProxy(t, Options{Default: bk, Timeouts: Timeouts{ClientWrite: 300 * time.Millisecond}})
	c, err := net.DialTCP("tcp", nil, mustResolve(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(16 << 10)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read the head and a little, then stop reading.
	br := bufio.NewReaderSize(c, 4096)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "HTTP/1.1 200") {
		t.Fatalf("%q %v", l, err)
	}
	waitFor(t, 10*time.Second, "the stalled client to be dropped", func() bool { return p.Stats().ActiveConns == 0 })
	waitFor(t, 10*time.Second, "the backend write to fail", func() bool { return backendErr.Load() == 1 })
	checkReleased(t, bk)
}

func mustResolve(t testing.TB, addr string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestMaxConnections: connections over max_connections are answered 503 and
// closed; once one closes, a new one is served.
func TestMaxConnections(t *testing.T) {
	be := startBackend(t, okHandler)
	p, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr), MaxConns: 2})
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, 5*time.Second, "two conns accepted", func() bool { return p.Stats().ActiveConns == 2 })
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true)
	if res.status != 503 || !res.closed {
		t.Fatalf("third conn: %d closed %v", res.status, res.closed)
	}
	if p.Stats().Refused != 1 || be.count() != 0 {
		t.Fatalf("refused %d, backend requests %d", p.Stats().Refused, be.count())
	}
	held[0].Close()
	waitFor(t, 5*time.Second, "a conn released", func() bool { return p.Stats().ActiveConns == 1 })
	if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 200 {
		t.Fatalf("after release: %d", res.status)
	}
}
