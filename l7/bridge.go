package l7

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/engine"
	"golang.org/x/sys/unix"
)

// A bridge carries a TLS connection's decrypted stream to the event loop:
// the loop holds one end of a socket pair as it would hold a TCP
// connection, and two goroutines copy between the other end and the
// tls.Conn, one per direction. Flow control holds: a side that does not
// read fills the socket pair, and the loop sees EAGAIN as with a slow TCP
// peer (pipe mode). An end of stream passes on as one (CloseWrite), and the
// loop closing its end closes the TLS connection (close_notify, then the
// socket). The same bridge carries TLS to a backend's servers.

// bridgeBuf is the copy buffer of each direction (one TLS record).
const bridgeBuf = 16 << 10

// startBridge bridges tc (over the socket raw) to a new socket pair and
// returns the end for the event loop. writeTO bounds each write to raw.
func startBridge(tc *tls.Conn, raw net.Conn, writeTO time.Duration) (engine.Stream, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	loopEnd, err := engine.FileConn(fds[0])
	if err != nil {
		_ = unix.Close(fds[1])
		return nil, err
	}
	end, err := engine.FileConn(fds[1])
	if err != nil {
		_ = loopEnd.Close()
		return nil, err
	}
	b := &bridge{tc: tc, raw: raw, end: end, writeTO: writeTO}
	b.refs.Store(2)
	go b.up()
	go b.down()
	return loopEnd, nil
}

// bridgeBufs holds the copy buffers of ended bridges, so that a connection
// per request over TLS does not allocate two new ones each time.
var bridgeBufs = sync.Pool{New: func() any { return new([bridgeBuf]byte) }}

type bridge struct {
	tc      *tls.Conn
	raw     net.Conn
	end     engine.Stream // our end of the socket pair
	writeTO time.Duration
	refs    atomic.Int32
	once    sync.Once
}

// up copies decrypted bytes from the TLS side to the loop.
func (b *bridge) up() {
	defer b.unref()
	bp := bridgeBufs.Get().(*[bridgeBuf]byte)
	defer bridgeBufs.Put(bp)
	buf := bp[:]
	loopGone := false
	for {
		n, err := b.tc.Read(buf)
		if n > 0 && !loopGone {
			// The loop closed its end (it answered and closed): what the
			// client still sends is read and dropped until down has
			// written the last answer and closed the TLS connection, so
			// that unread bytes do not turn the close into a reset first.
			_, werr := b.end.Write(buf[:n])
			loopGone = werr != nil
		}
		if err != nil {
			_ = b.end.CloseWrite() // the loop sees the end of stream
			return
		}
	}
}

// down copies what the loop writes to the TLS side; the loop's close (or
// end of stream) closes the TLS connection.
func (b *bridge) down() {
	defer b.unref()
	bp := bridgeBufs.Get().(*[bridgeBuf]byte)
	defer bridgeBufs.Put(bp)
	buf := bp[:]
	for {
		n, err := b.end.Read(buf)
		if n > 0 {
			_ = b.raw.SetWriteDeadline(time.Now().Add(b.writeTO))
			if _, werr := b.tc.Write(buf[:n]); werr != nil {
				b.closeTLS()
				_ = b.end.Close() // the loop sees a broken connection
				return
			}
		}
		if err != nil {
			b.closeTLS()
			return
		}
	}
}

// closeTLS sends close_notify (bounded) and closes the socket, once.
func (b *bridge) closeTLS() {
	b.once.Do(func() {
		_ = b.raw.SetWriteDeadline(time.Now().Add(time.Second))
		_ = b.tc.Close()
	})
}

func (b *bridge) unref() {
	if b.refs.Add(-1) == 0 {
		b.closeTLS()
		_ = b.end.Close()
	}
}

// connSet tracks connections to close at a forced shutdown (TLS handshakes
// in progress).
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[net.Conn]struct{})
	}
	s.m[c] = struct{}{}
	s.mu.Unlock()
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		_ = c.Close()
	}
}
