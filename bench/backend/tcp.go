package backend

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TCP is a demo/benchmark TCP server: an echo server (StartTCPEcho) that writes back every
// byte it reads, or a line server (StartTCPLine) that answers each line "ADDR LINE\n" so a
// user with nc sees which backend served them. A session ends when the client closes or
// after IdleTimeout without data. All methods are safe for concurrent use.
type TCP struct {
	ln   net.Listener
	addr string
	line bool

	conns  atomic.Int64 // accepted so far
	active atomic.Int64
	bytes  atomic.Int64 // bytes read from clients

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
}

// IdleTimeout ends a TCP session without traffic for this long (10 minutes).
const IdleTimeout = 10 * time.Minute

// StartTCPEcho listens on addr (port 0 picks a free one) and echoes until Close.
func StartTCPEcho(addr string) (*TCP, error) { return startTCP(addr, false) }

// StartTCPLine listens on addr and answers each line (up to 64 KiB) with "ADDR LINE\n".
func StartTCPLine(addr string) (*TCP, error) { return startTCP(addr, true) }

func startTCP(addr string, line bool) (*TCP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	t := &TCP{ln: ln, addr: ln.Addr().String(), line: line, open: make(map[net.Conn]struct{})}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the listening address ("127.0.0.1:port").
func (t *TCP) Addr() string { return t.addr }

// Conns is the number of connections accepted so far.
func (t *TCP) Conns() int64 { return t.conns.Load() }

// Active is the number of sessions open now.
func (t *TCP) Active() int64 { return t.active.Load() }

// Bytes is the number of bytes read from clients so far.
func (t *TCP) Bytes() int64 { return t.bytes.Load() }

// Reset sets the Conns and Bytes counters to zero.
func (t *TCP) Reset() { t.conns.Store(0); t.bytes.Store(0) }

// Close stops listening, closes every open session and waits (at most 5 s) for their
// goroutines. Calling it again is a no-op.
func (t *TCP) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	err := t.ln.Close()
	t.mu.Lock()
	for c := range t.open {
		_ = c.Close()
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return err
}

func (t *TCP) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.closed.Load() {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: back off, keep serving
			continue
		}
		t.mu.Lock()
		if t.closed.Load() {
			t.mu.Unlock()
			_ = c.Close()
			return
		}
		t.open[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		t.conns.Add(1)
		t.active.Add(1)
		go t.serve(c)
	}
}

func (t *TCP) serve(c net.Conn) {
	defer func() {
		_ = c.Close()
		t.mu.Lock()
		delete(t.open, c)
		t.mu.Unlock()
		t.active.Add(-1)
		t.wg.Done()
	}()
	if t.line {
		t.serveLine(c)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		n, err := c.Read(buf)
		if n > 0 {
			t.bytes.Add(int64(n))
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (t *TCP) serveLine(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	prefix := []byte(t.addr + " ")
	for {
		_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		l, err := r.ReadSlice('\n')
		if len(l) > 0 {
			t.bytes.Add(int64(len(l)))
			_, _ = w.Write(prefix)
			_, _ = w.Write(l)
			if l[len(l)-1] != '\n' {
				_ = w.WriteByte('\n')
			}
			if r.Buffered() == 0 {
				if w.Flush() != nil {
					return
				}
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			_ = w.Flush()
			return
		}
	}
}
