package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ServeFD accepts connections on ln like Serve, without putting the accepted
// sockets on Go's poller: Go's poller waits until ln has a connection
// pending, each is accepted with accept4 (non-blocking, close-on-exec) and
// handle gets its descriptor, which it owns, and the peer's address (from
// accept4, IPv4-mapped addresses unmapped). Meant for handing connections to the event
// loops with EnrollFD: no registration with Go's poller, no getsockname, no
// duplicate, no close of a Go copy. handle runs on the accept goroutine: it
// must not block.
//
// TCP_NODELAY is set once on ln, which accepted sockets inherit on Linux
// (Go's accept sets it on each connection); keep-alive comes from Listen the
// same way. ln stays a *net.TCPListener that can be handed to a new process.
// Once ln is closed no connection is accepted any more; ServeFD returns nil
// at once when ln was closed with CloseListener, otherwise within
// closeCheck (it waits on a duplicate of ln's descriptor: Go's raw
// listener cannot wait, and closing ln does not wake a waiter on the
// duplicate). The duplicate is closed before ServeFD returns.
//
// Running out of descriptors or buffers is handled as in Serve: the pending
// connection is refused (EMFILE, ENFILE) and accepting pauses (5 ms,
// doubling up to 500 ms).
func ServeFD(ln *net.TCPListener, handle func(fd int, peer netip.AddrPort), log *slog.Logger) error {
	lrc, err := ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
	}
	var (
		dfd  = -1
		serr error
	)
	if err := lrc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); serr == nil {
			dfd, serr = dupFD(int(fd))
		}
	}); err != nil {
		return nil // closed before it started
	}
	if serr != nil {
		return fmt.Errorf("listener %s: %w", ln.Addr(), serr)
	}
	wf := os.NewFile(uintptr(dfd), "listener")
	waiting.Store(ln, wf)
	defer func() {
		waiting.CompareAndDelete(ln, wf)
		_ = wf.Close()
	}()
	wrc, err := wf.SyscallConn()
	if err != nil {
		return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
	}
	var (
		nfd    int
		peer   netip.AddrPort
		aerr   error
		closed bool
	)
	// accept4 on ln itself (never on the duplicate: once ln is closed,
	// nothing is accepted), until a connection or an error.
	accept := func(fd uintptr) {
		for {
			nfd, peer, aerr = accept4(int(fd))
			if aerr != unix.EINTR && aerr != unix.ECONNABORTED { // as Go's accept: try the next one
				return
			}
		}
	}
	// After a closeCheck wake-up, look (poll, no wait) before accepting:
	// if ln's open file was put in blocking mode meanwhile (os.File.Fd does
	// that when a binary upgrade passes ln to exec, until the new process
	// sets it back), an accept4 with no connection pending would block
	// until the next client, and a Close of ln with it.
	probe := false
	pending := func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 0); err == nil && n == 0 {
			aerr = unix.EAGAIN
		} else {
			accept(fd)
		}
	}
	// One attempt; false: none pending, wait until ln is readable.
	try := func(uintptr) bool {
		f := accept
		if probe {
			probe, f = false, pending
		}
		if lrc.Control(f) != nil {
			closed = true
			return true
		}
		return aerr != unix.EAGAIN
	}
	var delay time.Duration
	_ = wf.SetReadDeadline(time.Now().Add(closeCheck))
	for {
		err := wrc.Read(try)
		if closed {
			return nil
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) { // look at ln again
				_ = wf.SetReadDeadline(time.Now().Add(closeCheck))
				probe = true
				continue
			}
			if lrc.Control(func(uintptr) {}) != nil { // ln closed (CloseListener closed the duplicate)
				return nil
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		if aerr == nil {
			delay = 0
			handle(nfd, peer)
			// Look before the next accept4 too: ln may have been put
			// in blocking mode while this one was handled, and no other
			// connection may be pending.
			probe = true
			continue
		}
		err = os.NewSyscallError("accept4", aerr)
		if !temporary(err) {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		delay = nextPause(delay)
		if aerr == unix.EMFILE || aerr == unix.ENFILE {
			refuseOneFD(lrc)
		}
		log.Warn("accept failed; pausing", "listen", ln.Addr().String(), "error", err.Error(), "pause", delay.String())
		time.Sleep(delay)
	}
}

// closeCheck is how often ServeFD looks whether its listener was closed
// other than with CloseListener.
const closeCheck = 50 * time.Millisecond

// waiting maps a listener ServeFD serves to the duplicate it waits on.
var waiting sync.Map // *net.TCPListener → *os.File

// CloseListener closes ln and, if ServeFD serves it, wakes ServeFD so that
// the duplicate it waits on is closed (and the port with it) at once.
func CloseListener(ln *net.TCPListener) error {
	err := ln.Close()
	if f, ok := waiting.LoadAndDelete(ln); ok {
		_ = f.(*os.File).Close()
	}
	return err
}

// nextPause is the pause after a failed accept that followed a pause of d
// (0: none): 5 ms, doubling up to 500 ms.
func nextPause(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, 500*time.Millisecond)
}

// refuseOneFD is refuseOne for ServeFD: it frees the reserve descriptor,
// accepts one pending connection (if any) without waiting and resets it,
// then takes the reserve back.
func refuseOneFD(rc interface{ Control(func(uintptr)) error }) {
	withReserveFreed(func() {
		_ = rc.Control(func(fd uintptr) {
			if nfd, _, err := accept4(int(fd)); err == nil {
				resetOnClose(nfd)
				_ = unix.Close(nfd)
			}
		})
	})
}

// OpenFailer is implemented by a ConnHandler that must learn when the
// connection it was enrolled for with EnrollFD never opened (its event loop
// could not register the socket): OpenFailed is called instead of OnOpen,
// on that loop, once the descriptor is closed.
type OpenFailer interface {
	OpenFailed(err error)
}

// EnrollFD hands fd, a connected non-blocking socket accepted by the caller
// (ServeFD), to an event loop chosen round robin, with h as its handler, and
// returns at once: h.OnOpen runs on that loop. The engine owns fd from the
// call on. If the engine is stopped or the loop cannot be woken, fd is
// closed and the error returned (OnOpen never runs). If the loop cannot
// register fd, fd is closed and, if h is an OpenFailer, h.OpenFailed is
// called there. gnet reads the connection's addresses from the socket only
// if asked (LocalAddr, RemoteAddr).
func (e *Engine) EnrollFD(fd int, h ConnHandler) error {
	if e.closed.Load() {
		_ = unix.Close(fd)
		return ErrStopped
	}
	return e.cli.EnrollFD(fd, nil, h, openFailed)
}

// openFailed tells an OpenFailer handler that its connection never opened.
func openFailed(ctx any, err error) {
	if f, ok := ctx.(OpenFailer); ok {
		f.OpenFailed(err)
	}
}

// accept4 accepts a connection on the listening socket fd, non-blocking and
// close-on-exec, and returns the peer's address without allocating (x/sys's
// Accept4 asks the kernel for the socket's protocol on every IPv4 or IPv6
// accept: one getsockopt per connection).
func accept4(fd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	var ap netip.AddrPort
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		ap = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return int(r), ap, nil
}
