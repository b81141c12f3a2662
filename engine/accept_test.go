package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/fdtest"

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

// loopTestServer runs ServeOnLoops on a new listener of a two-loop engine and
// opens each connection on the loop that accepted it with an echoHandler.
type loopTestServer struct {
	e                      *Engine
	ln                     *net.TCPListener
	opened, closed, failed atomic.Int64
	served                 chan error
	peers                  chan netip.AddrPort
}

// newLoopServer is listenLoopServer, then serve.
func newLoopServer(t *testing.T) *loopTestServer {
	s := listenLoopServer(t)
	s.serve()
	return s
}

// listenLoopServer starts the engine and the listener, not ServeOnLoops.
func listenLoopServer(t *testing.T) *loopTestServer {
	t.Helper()
	e, ln := startListening(t, Options{})
	s := &loopTestServer{e: e, ln: ln, served: make(chan error, 1), peers: make(chan netip.AddrPort, 1024)}
	t.Cleanup(func() {
		_ = CloseListener(ln)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return s
}

// serve runs ServeOnLoops on s.ln; its result goes to s.served.
func (s *loopTestServer) serve() {
	go func() {
		s.served <- s.e.ServeOnLoops(s.ln, func(el gnet.EventLoop, fd int, peer netip.AddrPort) {
			h := &echoHandler{opened: &s.opened, closed: &s.closed, failed: &s.failed}
			s.peers <- peer
			if err := s.e.OpenFD(el, fd, h); err != nil {
				h.OpenFailed(err)
			}
		}, quietLog)
	}()
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

// TestServeOnLoopsOpenFD: connections accepted on the loops and opened
// there with OpenFD are served (echo), inherit TCP_NODELAY from the
// listener, report their addresses (read lazily from the socket), and leave
// no descriptor behind once closed; closing the listener ends ServeOnLoops
// with nil.
func TestServeOnLoopsOpenFD(t *testing.T) {
	s := newLoopServer(t)
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
		t.Errorf("accepted peer = %v, want %v", got, want)
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
			t.Fatalf("ServeOnLoops after Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeOnLoops did not return after the listener was closed")
	}
}

// TestServeOnLoopsAcceptsBacklog: a wake-up accepts one connection and the
// level-triggered listener wakes a loop again for the next, so a backlog
// queued while every loop was busy is all served without the periodic look
// (stretched to an hour here; its kick accepts in batches).
func TestServeOnLoopsAcceptsBacklog(t *testing.T) {
	d := lookInterval
	t.Cleanup(func() { lookInterval = d }) // after the server's cleanup: it has stopped
	lookInterval = time.Hour
	s := newLoopServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "a"); got != "a" { // the loops are watching
		t.Fatalf("echo = %q", got)
	}
	release := make(chan struct{})
	var busy sync.WaitGroup
	for _, el := range s.e.cli.EventLoops() {
		busy.Add(1)
		if err := el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			busy.Done()
			<-release
			return nil
		})); err != nil {
			t.Fatal(err)
		}
	}
	busy.Wait()
	const n = 64
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second) // completes in the kernel's backlog
		if err != nil {
			close(release)
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		_, _ = c.Write([]byte{byte('0' + i%10)})
	}
	if got := s.opened.Load(); got != 1 {
		t.Errorf("opened %d while the loops were busy, want 1", got)
	}
	close(release)
	b := make([]byte, 8)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if k, err := c.Read(b); err != nil || k != 1 || b[0] != byte('0'+i%10) {
			t.Fatalf("connection %d: echo %q, %v", i, b[:max(k, 0)], err)
		}
	}
	if got := s.opened.Load(); got != 1+n {
		t.Errorf("opened %d, want %d", got, 1+n)
	}
}

// TestOpenFDStopped: once the engine is stopped OpenFD closes the
// descriptor and says so.
func TestOpenFDStopped(t *testing.T) {
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
	err = e.OpenFD(nil, fds[0], &echoHandler{opened: &n, closed: &n, failed: &n})
	if !errors.Is(err, ErrStopped) {
		t.Errorf("OpenFD on a stopped engine = %v, want ErrStopped", err)
	}
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("descriptor still open after a refused OpenFD (F_GETFD: %v)", err)
	}
}

// TestServeOnLoopsRefusesAtEMFILE: out of descriptors, a loop refuses the
// pending connection (reset or EOF, not a hang) and keeps accepting once
// descriptors are free again.
func TestServeOnLoopsRefusesAtEMFILE(t *testing.T) {
	s := newLoopServer(t)
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
			t.Fatal("ServeOnLoops did not serve again after EMFILE")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseListenerStopsServeOnLoops: the port is closed when
// CloseListener returns (no loop watches the listener any more): a new
// client is refused, as after closing a listener that Serve serves;
// ServeOnLoops returns.
func TestCloseListenerStopsServeOnLoops(t *testing.T) {
	s := newLoopServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "a"); got != "a" {
		t.Fatalf("echo = %q", got)
	}
	if err := CloseListener(s.ln); err != nil {
		t.Fatal(err)
	}
	// The port is closed when CloseListener returns, not when ServeOnLoops
	// gets round to looking (up to closeCheck later).
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("dial right after CloseListener succeeded, want refused")
	}
	select {
	case err := <-s.served:
		if err != nil {
			t.Fatalf("ServeOnLoops = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeOnLoops did not return after CloseListener")
	}
}

// TestServeOnLoopsRestoresNonBlocking: a listener put in blocking mode by
// another holder of the socket is set back to non-blocking within a few
// closeChecks, and connections are still served.
func TestServeOnLoopsRestoresNonBlocking(t *testing.T) {
	s := newLoopServer(t)
	addr := s.ln.Addr().String()
	if got := roundTrip(t, addr, "a"); got != "a" {
		t.Fatalf("echo = %q", got)
	}
	rc, _ := s.ln.SyscallConn()
	nonBlocking := func() bool {
		var fl int
		_ = rc.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
		return fl&unix.O_NONBLOCK != 0
	}
	_ = rc.Control(func(fd uintptr) {
		if err := unix.SetNonblock(int(fd), false); err != nil {
			t.Fatal(err)
		}
	})
	if nonBlocking() {
		t.Fatal("the listener did not turn blocking")
	}
	waitUntil(t, 5*time.Second, "listener non-blocking again", nonBlocking)
	if got := roundTrip(t, addr, "b"); got != "b" {
		t.Fatalf("echo = %q", got)
	}
}

// TestServeOnLoopsAcceptsAfterLostWakeUp: another holder of the listener
// (a draining process in a binary upgrade) is the sleeping EPOLLEXCLUSIVE
// watcher a new connection wakes, and it does not accept: no loop of ours is
// woken, yet the connection is served (ServeOnLoops' periodic look finds it
// pending). Without the look it waits for the next connection.
func TestServeOnLoopsAcceptsAfterLostWakeUp(t *testing.T) {
	s := listenLoopServer(t)
	ln := s.ln
	// The other holder: an epoll of its own, registered first, so that it
	// is the first exclusive watcher in the socket's wait queue.
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	rc, _ := ln.SyscallConn()
	_ = rc.Control(func(fd uintptr) {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(fd)})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.serve()
	// A first client, while nothing sleeps on the other epoll (an exclusive
	// watcher that is not waiting is passed over): served by a loop, so
	// the loops are watching.
	if got := roundTrip(t, ln.Addr().String(), "a"); got != "a" {
		t.Fatalf("echo = %q", got)
	}
	tids := make(chan int, 1)
	woken := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		evs := make([]unix.EpollEvent, 1)
		for {
			if n, err := unix.EpollWait(ep, evs, 10000); n > 0 || err != unix.EINTR {
				break
			}
		}
		close(woken) // and accept nothing
	}()
	tid := <-tids
	waitUntil(t, 5*time.Second, "the other holder asleep in epoll_wait", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/wchan", tid))
		return strings.Contains(string(b), "epoll")
	})
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("the other holder was not woken by the connection")
	}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	if n, err := c.Read(b); err != nil || string(b[:n]) != "x" {
		t.Fatalf("echo = %q, %v: the connection was not accepted", b[:n], err)
	}
}
