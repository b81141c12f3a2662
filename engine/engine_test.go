package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// rig is a minimal proxy built on the engine: a listener whose connections are
// joined to a dial of backendAddr.
type rig struct {
	t      testing.TB
	e      *Engine
	ln     *net.TCPListener
	ended  chan *Session
	opts   SessionOptions
	in     atomic.Int64
	out    atomic.Int64
	closes sync.Map // CloseReason -> *atomic.Int64
}

type ctr struct{ v *atomic.Int64 }

func (c ctr) Add(n int) { c.v.Add(int64(n)) }

// quietLog discards what the code under test logs.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startListening starts an engine with o (two loops, quietLog) and opens a
// listener on a free port.
func startListening(t testing.TB, o Options) (*Engine, *net.TCPListener) {
	t.Helper()
	o.Loops, o.Logger = 2, quietLog
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return e, ln
}

func newRig(t testing.TB, backendAddr string, idle time.Duration) *rig {
	t.Helper()
	e, ln := startListening(t, Options{SweepInterval: 20 * time.Millisecond})
	r := &rig{t: t, e: e, ln: ln, ended: make(chan *Session, 1024)}
	r.opts = SessionOptions{IdleTimeout: idle, BytesIn: ctr{&r.in}, BytesOut: ctr{&r.out},
		OnEnd: func(s *Session) {
			// Session must not be kept: copy the exported part
			r.ended <- &Session{Close: s.Close, Err: s.Err, BytesIn: s.BytesIn, BytesOut: s.BytesOut}
		}}
	go Serve(ln, func(c *net.TCPConn) {
		go func() {
			b, err := net.DialTimeout("tcp", backendAddr, time.Second)
			if err != nil {
				_ = c.Close()
				return
			}
			_ = e.Proxy(c, b.(*net.TCPConn), &r.opts, nil)
		}()
	}, slog.Default())
	t.Cleanup(func() {
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return r
}

func (r *rig) addr() string { return r.ln.Addr().String() }

func (r *rig) waitEnd(d time.Duration) *Session {
	r.t.Helper()
	select {
	case s := <-r.ended:
		return s
	case <-time.After(d):
		r.t.Fatalf("session did not end within %v", d)
		return nil
	}
}

// backend starts a TCP server running serve for every connection.
func startBackend(t testing.TB, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(c *net.TCPConn) { _, _ = io.Copy(c, c) }

func TestEchoManyRoundTrips(t *testing.T) {
	r := newRig(t, startBackend(t, echo), 10*time.Second)
	var wg sync.WaitGroup
	for k := 0; k < 8; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			c, err := net.Dial("tcp", r.addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := 0; i < 500; i++ {
				msg := "ping " + strconv.Itoa(k) + " " + strconv.Itoa(i) + "\n"
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Error(err)
					return
				}
				got, err := br.ReadString('\n')
				if err != nil || got != msg {
					t.Errorf("got %q, %v; want %q", got, err, msg)
					return
				}
			}
		}(k)
	}
	wg.Wait()
	for k := 0; k < 8; k++ {
		s := r.waitEnd(5 * time.Second)
		if s.Close != ClientClosed {
			t.Errorf("close = %v, want client", s.Close)
		}
	}
	if r.in.Load() != r.out.Load() || r.in.Load() == 0 {
		t.Fatalf("bytes in %d out %d", r.in.Load(), r.out.Load())
	}
}

// The client sends a request and shuts down its write half (nc -N); the backend
// answers only after it saw end of stream. The whole reply must come back.
func TestHalfCloseClientFirst(t *testing.T) {
	reply := strings.Repeat("reply-", 100_000) // 600 KB: more than one write
	r := newRig(t, startBackend(t, func(c *net.TCPConn) {
		req, _ := io.ReadAll(c)
		_, _ = c.Write([]byte(reply + string(req)))
	}), 10*time.Second)
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", r.addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("req"))
		_ = c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil || string(got) != reply+"req" {
			t.Fatalf("round %d: got %d bytes (%v), want %d", i, len(got), err, len(reply)+3)
		}
		s := r.waitEnd(5 * time.Second)
		if s.Close != ClientClosed || s.BytesIn != 3 || s.BytesOut != int64(len(reply)+3) {
			t.Fatalf("session %+v", s)
		}
	}
}

// The backend sends a lot and closes at once; a client that reads nothing
// until the proxy holds bytes it could not write (the session moved to
// splice, with the rest of the loop's read in pend) must still get every byte.
func TestNoBytesLostOnBackendClose(t *testing.T) {
	const size = 64 << 20
	r := newRig(t, startBackend(t, func(c *net.TCPConn) {
		_, _ = io.CopyN(c, &pattern{}, size)
		// returns and closes right away: unsent bytes are in the proxy or the kernel
	}), 30*time.Second)
	c, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, 5*time.Second, "the session moves to splice", func() bool { return r.pipes() == 1 })
	h := xxhash.New()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(h, c)
	want := xxhash.New()
	_, _ = io.CopyN(want, &pattern{}, size)
	if err != nil || n != size || h.Sum64() != want.Sum64() {
		t.Fatalf("got %d bytes (%v), want %d (checksum match %v)", n, err, size, h.Sum64() == want.Sum64())
	}
	_ = c.Close() // the other direction ends too
	if s := r.waitEnd(5 * time.Second); s.Close != BackendClosed || s.BytesOut != size {
		t.Fatalf("session %+v", s)
	}
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestIdleTimeoutClosesSession(t *testing.T) {
	r := newRig(t, startBackend(t, echo), 150*time.Millisecond)
	c, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("x"))
	one := make([]byte, 1)
	if _, err := io.ReadFull(c, one); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(one); err != io.EOF {
		t.Fatalf("want EOF after idle timeout, got %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("closed after %v, want ~150ms", d)
	}
	if s := r.waitEnd(time.Second); s.Close != IdleTimeout {
		t.Fatalf("close = %v, want idle_timeout", s.Close)
	}
}

// TestBackendRefusesMidSessionResetReachesClient: a backend that resets the
// connection mid-session makes the client's connection reset too (not a clean
// end of stream, which a client would take for a complete answer), both on
// the event loop and after the hand-off to splice.
func TestBackendRefusesMidSessionResetReachesClient(t *testing.T) {
	for _, mode := range []string{"loop", "pipe"} {
		t.Run(mode, func(t *testing.T) {
			reset := make(chan struct{})
			r := newRig(t, startBackend(t, func(c *net.TCPConn) {
				defer close(reset)
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if mode == "pipe" {
					// More than the client reads: the proxy cannot write it
					// all and hands the session to splice; the write stops
					// when every buffer on the way is full.
					_ = c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
					_, _ = io.CopyN(c, &pattern{}, 64<<20)
				}
				_ = c.SetLinger(0) // the deferred Close sends RST
			}), 10*time.Second)
			c, err := net.Dial("tcp", r.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			<-reset
			if mode == "pipe" && r.pipes() != 1 {
				t.Fatalf("%d sessions in splice mode, want 1", r.pipes())
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, c)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("client read ended with %v, want connection reset by peer", err)
			}
			if s := r.waitEnd(5 * time.Second); s.Close != BackendError {
				t.Fatalf("close = %v (%v), want backend_error", s.Close, s.Err)
			}
		})
	}
}

// pipes returns the number of sessions in splice mode.
func (r *rig) pipes() int {
	r.e.pipeMu.Lock()
	defer r.e.pipeMu.Unlock()
	return len(r.e.pipes)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// pattern is an endless deterministic byte stream with a period that does not
// line up with any buffer size.
type pattern struct{ off int }

var patternTable = func() []byte {
	b := make([]byte, 2*patternPeriod)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}()

const patternPeriod = 1<<20 + 7

func (p *pattern) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], patternTable[p.off:p.off+patternPeriod])
		n += k
		p.off = (p.off + k) % patternPeriod
	}
	return n, nil
}

// slowReader reads in small pieces with pauses, well below what the proxy can push.
func slowDrain(c net.Conn, want int64) (int64, uint64, error) {
	h := xxhash.New()
	buf := make([]byte, 64<<10)
	var n int64
	for n < want {
		k, err := c.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err != nil {
			return n, h.Sum64(), err
		}
		if (n/(64<<10))%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return n, h.Sum64(), nil
}

// rssKiB returns the resident set size of this process.
func rssKiB() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("VmRSS:")) {
			f := strings.Fields(string(l))
			if len(f) < 2 {
				break
			}
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS line in /proc/self/status")
}

// A fast sender and a slow reader, both directions, 1 GiB each: every byte
// arrives (checksum) and the proxy's memory stays bounded.
func TestBackpressureOneGiBEachWay(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB; skipped with -short")
	}
	const size = 1 << 30
	want := xxhash.New()
	_, _ = io.CopyN(want, &pattern{}, size)
	upload := make(chan [2]uint64, 1)
	be := startBackend(t, func(c *net.TCPConn) {
		var mode [1]byte
		if _, err := io.ReadFull(c, mode[:]); err != nil {
			return
		}
		if mode[0] == 'U' { // client uploads; backend reads slowly
			n, sum, _ := slowDrain(c, size)
			upload <- [2]uint64{uint64(n), sum}
			return
		}
		_, _ = io.CopyN(c, &pattern{}, size) // download: backend sends fast
	})
	r := newRig(t, be, 30*time.Second)
	runtime.GC()
	base, err := rssKiB()
	if err != nil {
		t.Skipf("cannot measure RSS: %v", err)
	}
	var peak, samples atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan error, 1)
	go func() { // samples RSS; reports its first error (never calls t.Skip or t.Fatal)
		for {
			select {
			case <-stop:
				sampled <- nil
				return
			case <-time.After(20 * time.Millisecond):
				v, err := rssKiB()
				if err != nil {
					sampled <- err
					return
				}
				samples.Add(1)
				if v -= base; v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-sampled; err != nil {
			t.Errorf("RSS sampling failed: %v", err)
		}
	}()

	// upload
	c, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte{'U'})
	if _, err := io.CopyN(c, &pattern{}, size); err != nil {
		t.Fatal(err)
	}
	got := <-upload
	_ = c.Close()
	if got[0] != size || got[1] != want.Sum64() {
		t.Fatalf("upload: backend got %d bytes, checksum ok %v", got[0], got[1] == want.Sum64())
	}
	// download
	c, err = net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte{'D'})
	n, sum, err := slowDrain(c, size)
	_ = c.Close()
	if n != size || sum != want.Sum64() {
		t.Fatalf("download: got %d bytes (%v), checksum ok %v", n, err, sum == want.Sum64())
	}
	t.Logf("RSS growth peak %d KiB while moving 2 GiB (%d samples)", peak.Load(), samples.Load())
	if samples.Load() == 0 {
		t.Fatal("RSS was never sampled")
	}
	if p := peak.Load(); p > 64<<10 {
		t.Fatalf("RSS grew by %d KiB: proxy buffered without bound", p)
	}
}

// TestLoopsFollowGOMAXPROCS: by default the engine runs one event loop per
// GOMAXPROCS, which Go derives from a container's CPU limit, not one per
// host CPU (runtime.NumCPU).
func TestLoopsFollowGOMAXPROCS(t *testing.T) {
	want := runtime.NumCPU() + 1 // differs from NumCPU on any machine
	prev := runtime.GOMAXPROCS(want)
	defer runtime.GOMAXPROCS(prev)
	e, err := New(Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	}()
	if e.opts.Loops != want {
		t.Fatalf("%d event loops with GOMAXPROCS %d (NumCPU %d), want %d", e.opts.Loops, want, runtime.NumCPU(), want)
	}
}
