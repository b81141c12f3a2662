package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listen opens a plain TCP (not Multipath TCP) listener on addr with
// SO_REUSEADDR (a restart binds while old connections sit in TIME_WAIT) and
// SO_REUSEPORT (several listeners, and a new process during a binary upgrade,
// share the port). The error names the address and the cause.
//
// TCP keep-alive (Go's defaults: idle 15s, interval 15s, 9 probes) is set on
// the listening socket, which every accepted connection inherits on Linux,
// instead of by Go on each accepted connection (four setsockopt calls per
// connection).
func Listen(addr string) (*net.TCPListener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range listenOpts {
				if serr = unix.SetsockoptInt(int(fd), o.level, o.name, o.value); serr != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	// Go listens with Multipath TCP by default; clients of a proxy speak plain
	// TCP, and the MPTCP listener only adds kernel work to every handshake and
	// accept (mptcp_stream_accept) before falling back to a TCP socket.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

var listenOpts = []struct{ level, name, value int }{
	{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
	{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
	{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
	{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
	{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
}

// reserve is a descriptor held back for the moment the process runs out: it is
// closed to accept (and at once close) one pending connection, so that clients
// are refused rather than left hanging, and the listener keeps going.
var reserve struct {
	sync.Mutex
	f *os.File
}

func init() { reserve.f, _ = os.Open(os.DevNull) }

// Serve accepts connections on ln and passes each to handle until ln is closed,
// when it returns nil. handle runs on the accept goroutine: it must not block.
//
// Running out of file descriptors (EMFILE, ENFILE) or kernel buffers never
// stops the listener: the pending connection is refused and accepting pauses
// for a moment (5 ms, doubling up to 500 ms), as nginx and net/http do.
func Serve(ln *net.TCPListener, handle func(*net.TCPConn), log *slog.Logger) error {
	var delay time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err == nil {
			delay = 0
			handle(c)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if !temporary(err) {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		delay = nextPause(delay)
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			refuseOne(ln)
		}
		log.Warn("accept failed; pausing", "listen", ln.Addr().String(), "error", err.Error(), "pause", delay.String())
		time.Sleep(delay)
	}
}

// refuseOne frees the reserve descriptor, accepts one pending connection and
// closes it, then takes the reserve back.
func refuseOne(ln *net.TCPListener) {
	withReserveFreed(func() {
		_ = ln.SetDeadline(time.Now().Add(time.Millisecond))
		if c, err := ln.AcceptTCP(); err == nil {
			_ = c.SetLinger(0)
			_ = c.Close()
		}
		_ = ln.SetDeadline(time.Time{})
	})
}

// withReserveFreed runs refuse with the reserve descriptor closed, so that
// refuse can accept one connection, then takes the reserve back.
func withReserveFreed(refuse func()) {
	reserve.Lock()
	defer reserve.Unlock()
	if reserve.f != nil {
		_ = reserve.f.Close()
		reserve.f = nil
	}
	refuse()
	reserve.f, _ = os.Open(os.DevNull)
}

func temporary(err error) bool {
	for _, e := range []error{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM, unix.ECONNABORTED, unix.EINTR, unix.EPROTO, unix.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
