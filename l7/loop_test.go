package l7

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/engine"
)

// TestBackendClosesBeforeAnnouncedBody (issue 19): a server that announces a
// body of 100 bytes, sends 15 and closes. The client gets the head and the
// 15 bytes, then the close (as HAProxy and nginx do); with nothing sent yet
// (the server closes in the middle of its head) the client gets 502.
func TestBackendClosesBeforeAnnouncedBody(t *testing.T) {
	addrB, _ := scriptBackend(t, map[string]string{
		"/short": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("a", 15) + "<close>",
		"/head":  "HTTP/1.1 200 OK\r\nContent-Len<close>",
	})
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, addrB)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})

	head, br, c := rawRoundTrip(t, addr, "GET /short HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200") || !strings.Contains(head, "Content-Length: 100") {
		t.Fatalf("head %q", head)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := io.ReadAll(br)
	if string(body) != strings.Repeat("a", 15) || err != nil && !isReset(err) {
		t.Fatalf("body %q (%v), want the 15 bytes the server sent, then the close", body, err)
	}
	if r := obs.last(t); r.Failure != FailReset || r.Status != 200 || r.BytesOut != 15 {
		t.Fatalf("record: failure %v status %d bytes out %d", r.Failure, r.Status, r.BytesOut)
	}

	res := rawExchange(t, addr, "POST /head HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false)
	if res.status != 502 {
		t.Fatalf("server closed inside its head: got %d, want 502", res.status)
	}
	checkReleased(t, bk)
}

// TestStaleKeepAliveRetried: a pooled connection that the server closes
// when the next request arrives (the keep-alive race: it timed the
// connection out just then) costs the client nothing: the request goes once
// more on a new connection to the same server. The server is not blamed.
func TestStaleKeepAliveRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { // answers one request per connection, then closes on the next
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				_, _ = http.ReadRequest(br)
			}()
		}
	}()
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, ln.Addr().String())
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	for i := 0; i < 3; i++ {
		if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 200 || res.body != "ok" {
			t.Fatalf("request %d: %d %q", i, res.status, res.body)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("server saw %d connections, want 3", n)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, f := range obs.attempts {
		if f != FailNone {
			t.Fatalf("attempts %v: the stale connection was blamed on the server", obs.attempts)
		}
	}
}

// TestSlowReaderBackOnLoop: a response too large for the socket buffers, to
// a client that reads slowly, makes the exchange leave the event loop (pipe
// mode); once it is complete the client connection and the backend
// connection come back, and the next request on the same client connection
// reuses the same backend connection.
func TestSlowReaderBackOnLoop(t *testing.T) {
	const size = 8 << 20
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
			_, _ = io.Copy(w, &patternReader{n: size})
			return
		}
		_, _ = io.WriteString(w, "small")
	})
	bk := newBackend(t, "web", BackendOptions{}, be.addr)
	p, addr := startProxy(t, Options{Default: bk})
	// A small receive buffer, set before connecting (set afterwards, the
	// window already advertised would make the kernel drop segments).
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReaderSize(c, 4096)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the proxy meets a full socket buffer
	waitFor(t, 5*time.Second, "the exchange in pipe mode", func() bool { return p.pipes.count() == 1 })
	h := crc32.New(castagnoli)
	if n, err := io.Copy(h, resp.Body); err != nil || n != size || h.Sum32() != patternSum(size) {
		t.Fatalf("body: %d bytes (%v), checksum match %v", n, err, h.Sum32() == patternSum(size))
	}
	waitFor(t, 5*time.Second, "the pipe to end", func() bool { return p.pipes.count() == 0 })
	if _, err := io.WriteString(c, "GET /small HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, br); r.StatusCode != 200 {
		t.Fatalf("second request: %d", r.StatusCode)
	} else if b, _ := io.ReadAll(r.Body); string(b) != "small" {
		t.Fatalf("second body %q", b)
	}
	if n := be.ln.accepted.Load(); n != 1 {
		t.Fatalf("backend saw %d connections, want 1 (the pooled one came back from pipe mode)", n)
	}
	checkReleased(t, bk)
}

// TestUploadParkedWhileQueued: a client streams a large body while its
// request waits for a server slot (max_connections_per_server). The proxy
// does not buffer it (gnet cannot stop reading, so the connection is
// parked: the kernel's flow control holds the client back); when the slot
// frees the body goes through whole.
func TestUploadParkedWhileQueued(t *testing.T) {
	const size = 32 << 20
	release := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
			_, _ = io.WriteString(w, "slow")
			return
		}
		h := crc32.New(castagnoli)
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %08x", n, h.Sum32())
	})
	bk := newBackend(t, "web", BackendOptions{MaxConnsPerServer: 1, MaxConnWait: 10 * time.Second}, be.addr)
	_, addr := startProxy(t, Options{Default: bk})
	slow := make(chan int, 1)
	go func() {
		res := rawExchange(t, addr, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", false)
		slow <- res.status
	}()
	waitFor(t, 5*time.Second, "the slow request at the backend", func() bool { return be.count() == 1 })

	m := startMemSampler()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var sent atomic.Int64
	go func() {
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
		buf := make([]byte, 64<<10)
		for r := (&patternReader{n: size}); ; {
			n, err := r.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
				sent.Add(int64(n))
			}
			if err != nil {
				return
			}
		}
	}()
	// The client gets stuck well short of the whole body while queued.
	time.Sleep(500 * time.Millisecond)
	if s := sent.Load(); s >= size {
		t.Fatalf("the client sent all %d bytes while its request was queued: they are buffered somewhere", s)
	}
	close(release)
	if st := <-slow; st != 200 {
		t.Fatalf("slow request: %d", st)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	rss, heap := m.end()
	if want := fmt.Sprintf("%d %08x", size, patternSum(size)); resp.StatusCode != 200 || string(got) != want {
		t.Fatalf("upload: %d %q, want %q", resp.StatusCode, got, want)
	}
	if rss > size/2 || heap > size/2 {
		t.Fatalf("memory grew by RSS %d, heap %d while a %d-byte body waited", rss, heap, size)
	}
}

// TestManyLoops runs concurrent clients through a Proxy on an engine with
// several event loops (connections, pools, timers and queues are per loop;
// the Backend, its servers and the Observer are shared): every request gets
// its own answer, and every server slot is released.
func TestManyLoops(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.URL.Path+" "+strconv.Itoa(len(b)))
	})
	eng, err := engine.New(engine.Options{Loops: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{MaxConnsPerServer: 6, MaxConnWait: 10 * time.Second}, be.addr)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs, Engine: eng})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for j := 0; j < 50; j++ {
				body := strings.Repeat("b", (i*j)%3000)
				path := fmt.Sprintf("/c%d/r%d", i, j)
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				got, _ := io.ReadAll(resp.Body)
				if want := path + " " + strconv.Itoa(len(body)); resp.StatusCode != 200 || string(got) != want {
					errs <- fmt.Errorf("%s: %d %q", path, resp.StatusCode, got)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		obs.mu.Lock()
		for _, r := range obs.records {
			if r.Failure != FailNone {
				t.Logf("record %s: failure %v status %d attempts %d", r.Path, r.Failure, r.Status, r.Attempts)
			}
		}
		obs.mu.Unlock()
	}
	checkReleased(t, bk)
	obs.mu.Lock()
	n := len(obs.records)
	obs.mu.Unlock()
	if n != 16*50 {
		t.Fatalf("%d records, want %d", n, 16*50)
	}
}

// TestTimeoutsNeverEarly: timeouts are armed with the monotonic clock, so
// one never fires before its duration (the loops' tick only makes it up to
// a tick late): a server silent for longer than ResponseTimeout gets the
// client a 504 no sooner than ResponseTimeout after the server got the
// request. (Armed with the engine's coarse clock, which lags by up to a
// tick, it fired up to 25 ms early.)
func TestTimeoutsNeverEarly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan time.Time, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // notes when the request arrived, never answers
				defer c.Close()
				b := make([]byte, 4096)
				if _, err := c.Read(b); err == nil {
					got <- time.Now()
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	const rt = 120 * time.Millisecond
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{ResponseTimeout: rt}, ln.Addr().String())})
	for i := 0; i < 10; i++ {
		res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)
		end := time.Now()
		at := <-got
		if d := end.Sub(at); res.status != 504 || d < rt-2*time.Millisecond {
			t.Fatalf("request %d: %d %v after the server got it, want 504 after at least %v", i, res.status, d, rt)
		}
	}
}
