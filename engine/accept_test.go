package engine

import (
	"context"
	"errors"
	"github.com/sluicelb/sluice/internal/fdtest"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// echoHandler is a ConnHandler that echoes what it reads and counts its
// opens, closes and failed opens.
type echoHandler struct {
	opened, closed, failed *atomic.Int64
	local, remote          net.Addr
}

func (h *echoHandler) OnOpen(c gnet.Conn) gnet.Action {
	h.opened.Add(1)
	return gnet.None
}

func (h *echoHandler) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	if len(b) > 0 && b[0] == '?' { // report the addresses gnet reads lazily
		h.local, h.remote = c.LocalAddr(), c.RemoteAddr()
		_, _ = c.Write([]byte(h.local.String() + " " + h.remote.String()))
		return gnet.None
	}
	_, _ = c.Write(b)
	return gnet.None
}

func (h *echoHandler) OnClose(gnet.Conn, error) { h.closed.Add(1) }

func (h *echoHandler) OpenFailed(error) { h.failed.Add(1) }

// fdServer runs ServeFD on a new listener and enrolls each connection on a
// two-loop engine with an echoHandler.
type fdServer struct {
	e                      *Engine
	ln                     *net.TCPListener
	opened, closed, failed atomic.Int64
	served                 chan error
	peers                  chan netip.AddrPort
}

func newFDServer(t *testing.T) *fdServer {
	t.Helper()
	e, ln := startListening(t, Options{})
	s := &fdServer{e: e, ln: ln, served: make(chan error, 1), peers: make(chan netip.AddrPort, 1024)}
	go func() {
		s.served <- ServeFD(ln, func(fd int, peer netip.AddrPort) {
			h := &echoHandler{opened: &s.opened, closed: &s.closed, failed: &s.failed}
			s.peers <- peer
			if err := e.EnrollFD(fd, h); err != nil {
				h.OpenFailed(err)
			}
		}, quietLog)
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return s
}

func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 256)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b[:n])
}

// TestServeFDEnrollFD: connections accepted raw by ServeFD and registered
// with EnrollFD are served on the loops (echo), inherit TCP_NODELAY from
// the listener, report their addresses (read lazily from the socket), and
// leave no descriptor behind once closed; closing the listener ends
// ServeFD with nil.
func TestServeFDEnrollFD(t *testing.T) {
	s := newFDServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "hello"); got != "hello" {
		t.Fatalf("echo = %q, want hello", got)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("?"))
	b := make([]byte, 256)
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := addr + " " + c.LocalAddr().String(); string(b[:n]) != want {
		t.Errorf("addresses = %q, want %q", b[:n], want)
	}
	<-s.peers // the first connection's
	if got, want := <-s.peers, c.LocalAddr().(*net.TCPAddr).AddrPort(); got != want {
		t.Errorf("ServeFD's peer = %v, want %v", got, want)
	}
	// TCP_NODELAY on the accepted socket: ask through /proc is not
	// possible, so check the listener, which accepted sockets inherit.
	rc, _ := s.ln.SyscallConn()
	_ = rc.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v != 1 {
			t.Errorf("listener TCP_NODELAY = %d, %v; want 1", v, err)
		}
	})
	_ = c.Close()
	waitUntil(t, 5*time.Second, "both connections closed", func() bool { return s.closed.Load() == 2 })

	// No descriptor leaks over many connections.
	before := fdtest.Open(t)
	const n2 = 200
	for i := range n2 {
		if got := roundTrip(t, addr, "x"); got != "x" {
			t.Fatalf("connection %d: echo = %q", i, got)
		}
	}
	waitUntil(t, 5*time.Second, "every connection closed", func() bool { return s.closed.Load() == 2+n2 })
	waitUntil(t, 5*time.Second, "descriptors back to their count", func() bool { return fdtest.Open(t) <= before })
	if s.opened.Load() != 2+n2 || s.failed.Load() != 0 {
		t.Errorf("opened %d failed %d, want %d and 0", s.opened.Load(), s.failed.Load(), 2+n2)
	}

	_ = s.ln.Close()
	select {
	case err := <-s.served:
		if err != nil {
			t.Fatalf("ServeFD after Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeFD did not return after the listener was closed")
	}
}

// TestEnrollFDStopped: once the engine is stopped EnrollFD closes the
// descriptor and says so.
func TestEnrollFDStopped(t *testing.T) {
	e, err := New(Options{Loops: 1, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.Stop(ctx)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	var n atomic.Int64
	err = e.EnrollFD(fds[0], &echoHandler{opened: &n, closed: &n, failed: &n})
	if !errors.Is(err, ErrStopped) {
		t.Errorf("EnrollFD on a stopped engine = %v, want ErrStopped", err)
	}
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("descriptor still open after a refused EnrollFD (F_GETFD: %v)", err)
	}
}

// TestServeFDRefusesAtEMFILE: out of descriptors, ServeFD refuses the
// pending connection (reset or EOF, not a hang) and keeps accepting once
// descriptors are free again.
func TestServeFDRefusesAtEMFILE(t *testing.T) {
	s := newFDServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "a"); got != "a" {
		t.Fatalf("echo = %q", got)
	}
	b := make([]byte, 8)
	refusals, served := fdtest.RefusedAtEMFILE(t, addr, func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte("b"))
		_, err := c.Read(b)
		return err
	})
	if refusals == 0 {
		t.Fatalf("no connection refused at EMFILE in %d attempts", served)
	}
	// Accepting goes on once descriptors are free.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c2.SetDeadline(time.Now().Add(time.Second))
			_, _ = c2.Write([]byte("c"))
			n, err := c2.Read(b)
			_ = c2.Close()
			if err == nil && string(b[:n]) == "c" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("ServeFD did not serve again after EMFILE")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseListenerStopsServeFD: the port is closed when CloseListener
// returns (ServeFD's duplicate closed with the listener): a new client is
// refused, as after closing a listener that Serve serves; ServeFD returns.
func TestCloseListenerStopsServeFD(t *testing.T) {
	s := newFDServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "a"); got != "a" {
		t.Fatalf("echo = %q", got)
	}
	if err := CloseListener(s.ln); err != nil {
		t.Fatal(err)
	}
	// The port is closed when CloseListener returns, not when ServeFD
	// gets round to looking (up to closeCheck later).
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("dial right after CloseListener succeeded, want refused")
	}
	select {
	case err := <-s.served:
		if err != nil {
			t.Fatalf("ServeFD = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeFD did not return after CloseListener")
	}
}

// TestServeFDIdleBlockingListener: an idle listener whose open file was put
// in blocking mode (os.File.Fd does that to the sockets a binary upgrade
// passes to exec, until the new process sets it back) neither blocks
// ServeFD's periodic look at it nor its Close: CloseListener returns and
// ServeFD returns. Without the look-before-accept the accept4 of the
// periodic wake-up blocks until the next client, and Close with it.
func TestServeFDIdleBlockingListener(t *testing.T) {
	s := newFDServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "a"); got != "a" {
		t.Fatalf("echo = %q", got)
	}
	rc, _ := s.ln.SyscallConn()
	_ = rc.Control(func(fd uintptr) {
		if err := unix.SetNonblock(int(fd), false); err != nil {
			t.Fatal(err)
		}
	})
	time.Sleep(3 * closeCheck) // idle: periodic wake-ups only
	closed := make(chan error, 1)
	go func() { closed <- CloseListener(s.ln) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		// Unblock the accept so the test can end, then fail.
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
		}
		t.Fatal("CloseListener of an idle blocking listener did not return")
	}
	select {
	case <-s.served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeFD did not return")
	}
}

// TestServeFDListenerTurnsBlockingMidAccept: ln put in blocking mode while a
// connection is being handled (a binary upgrade's exec can do that at any
// moment, until the new process sets it back) does not make ServeFD's next
// accept4 block with no connection pending: CloseListener and ServeFD
// return. Without the look after each accepted connection that accept4
// blocks until the next client arrives.
func TestServeFDListenerTurnsBlockingMidAccept(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	accepted := make(chan struct{}, 1)
	go func() {
		served <- ServeFD(ln, func(fd int, _ netip.AddrPort) {
			_ = unix.Close(fd)
			rc, _ := ln.SyscallConn()
			_ = rc.Control(func(lfd uintptr) { _ = unix.SetNonblock(int(lfd), false) })
			accepted <- struct{}{}
		}, quietLog)
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection was not accepted")
	}
	closed := make(chan error, 1)
	go func() { closed <- CloseListener(ln) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		if c2, err := net.Dial("tcp", addr); err == nil { // unblock the accept so the test can end
			c2.Close()
		}
		t.Fatal("CloseListener did not return: ServeFD's accept4 blocked on the listener turned blocking")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeFD = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ServeFD did not return after CloseListener")
	}
}
