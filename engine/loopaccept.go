package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// LoopAccept is called on the event loop el for each connection a loop
// accepted from a listener served with ServeOnLoops: it owns fd (a
// non-blocking, close-on-exec socket) and either opens it on el with
// OpenFD, or refuses it. peer is the client's address (IPv4-mapped
// addresses unmapped). It must not block.
type LoopAccept func(el gnet.EventLoop, fd int, peer netip.AddrPort)

// acceptBatch bounds the connections a kick (loopServer.kick) accepts at
// once. A wake-up from the poller accepts one connection (readable), as
// nginx does by default: the listener is level-triggered, so what is left
// wakes the loop again at its next poll, and a loop never pays for the
// accept4 that finds the queue empty (c) in docs/l7-engine.md: that was
// 0.94 failed accept4 per connection).
const acceptBatch = 32

// ServeOnLoops accepts connections on ln on the event loops themselves: a
// duplicate of ln's descriptor is added to every loop's poller
// (level-triggered, EPOLLEXCLUSIVE: a new connection wakes one loop), the
// loop that wakes accepts with accept4 on ln and passes each connection to
// accept there. No goroutine, no wake-up of another thread and no Go
// poller registration per connection.
//
// ln stays a *net.TCPListener that can be handed to a new process. Once ln
// is closed nothing more is accepted; close it with CloseListener, which
// removes it from every loop and returns when it is gone (the port is then
// closed unless another process shares it). A plain ln.Close() also stops
// accepting at once, and ServeOnLoops notices within closeCheck. It
// returns nil once ln is closed and no loop watches it any more.
//
// Every closeCheck it also looks at ln (loopServer.look): a listener another
// program put in blocking mode is set back, and a connection left pending
// (the EPOLLEXCLUSIVE wake-up went to a process that stopped watching) is
// accepted by one of the loops (loopServer.kick).
//
// Running out of descriptors (EMFILE, ENFILE) or kernel buffers: the loop
// that hit it refuses the pending connection (the reserve descriptor, as
// Serve), stops watching ln for a pause (5 ms, doubling up to 500 ms, per
// loop) and watches it again after; other loops go on.
func (e *Engine) ServeOnLoops(ln *net.TCPListener, accept LoopAccept, log *slog.Logger) error {
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
	s := &loopServer{e: e, ln: ln, lrc: lrc, dfd: dfd, accept: accept, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	waiting.Store(ln, s)
	defer waiting.CompareAndDelete(ln, s)
	for _, el := range e.cli.EventLoops() {
		w := &loopWatch{s: s, el: el, nfd: -1}
		w.acceptFn = w.accept4
		w.cb = w.readable
		w.kickTask = gnet.RunnableFunc(func(context.Context) error {
			if w.watching && !w.stopped {
				w.acceptUpTo(acceptBatch) // the poller has not seen these
			}
			return nil
		})
		s.watches = append(s.watches, w)
	}
	s.onEach(func(w *loopWatch) {
		if err := gnet.WatchFD(w.el, dfd, w.cb); err != nil {
			log.Error("listener not watched by an event loop", "listen", ln.Addr().String(), "error", err.Error())
		} else {
			w.watching = true
		}
	})
	t := time.NewTicker(lookInterval)
	defer t.Stop()
wait:
	for {
		select {
		case <-s.stop:
			break wait
		case <-t.C:
			pending := false
			if lrc.Control(func(fd uintptr) { pending = s.look(fd) }) != nil { // closed without CloseListener
				break wait
			}
			if pending {
				s.kick()
			}
		}
	}
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.onEach(func(w *loopWatch) {
		w.stopped = true
		if w.watching {
			_ = gnet.UnwatchFD(w.el, dfd)
			w.watching = false
		}
	})
	_ = unix.Close(dfd)
	close(s.done)
	return nil
}

// loopServer is one listener served by ServeOnLoops.
type loopServer struct {
	e       *Engine
	ln      *net.TCPListener
	lrc     interface{ Control(func(uintptr)) error }
	dfd     int // the duplicate the loops watch
	accept  LoopAccept
	log     *slog.Logger
	watches []*loopWatch
	next    int // kick's round robin; ServeOnLoops' goroutine only

	stopOnce sync.Once
	stop     chan struct{} // closed by CloseListener, or when a loop finds ln closed
	done     chan struct{} // closed when no loop watches ln any more
	mu       sync.Mutex
	stopped  bool // no pause may watch ln again
}

func (s *loopServer) close() { s.stopOnce.Do(func() { close(s.stop) }) }

// onEach runs f for every watch on its loop and waits until all have run
// (or the engine is stopping: a loop that is gone never runs it).
func (s *loopServer) onEach(f func(w *loopWatch)) {
	var wg sync.WaitGroup
	for _, w := range s.watches {
		wg.Add(1)
		err := w.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			f(w)
			return nil
		}))
		if err != nil {
			wg.Done()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTicker(closeCheck)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if s.e.closed.Load() { // a stopping loop may never run the task
				return
			}
		}
	}
}

// loopWatch is one loop's watch of a listener; loop-owned.
type loopWatch struct {
	s        *loopServer
	el       gnet.EventLoop
	cb       func(int)     // w.readable, made once
	kickTask gnet.Runnable // w.acceptUpTo(acceptBatch) if watching (loopServer.kick), made once
	acceptFn func(uintptr) // w.accept4, made once
	nfd      int
	peer     netip.AddrPort
	aerr     error
	delay    time.Duration // the pause after the last failed accept
	watching bool
	stopped  bool
}

// accept4 runs under ln's Control: ln cannot be closed meanwhile.
func (w *loopWatch) accept4(fd uintptr) {
	for {
		w.nfd, w.peer, w.aerr = accept4(int(fd))
		if w.aerr != unix.EINTR && w.aerr != unix.ECONNABORTED { // as Go's accept: try the next one
			return
		}
	}
}

// readable runs on the loop when the listener has connections pending.
func (w *loopWatch) readable(int) { w.acceptUpTo(1) }

// acceptUpTo accepts up to n connections, fewer when the queue runs empty.
func (w *loopWatch) acceptUpTo(n int) {
	s := w.s
	for range n {
		if s.lrc.Control(w.acceptFn) != nil { // ln closed: stop watching it here
			w.unwatch()
			s.close()
			return
		}
		if w.aerr == unix.EAGAIN {
			return
		}
		if w.aerr == nil {
			w.delay = 0
			s.accept(w.el, w.nfd, w.peer)
			continue
		}
		err := os.NewSyscallError("accept4", w.aerr)
		if !temporary(err) { // not seen on a listening socket; do not spin on it
			s.log.Error("accept failed; this event loop stops accepting", "listen", s.ln.Addr().String(), "error", err.Error())
			w.unwatch()
			return
		}
		w.delay = nextPause(w.delay)
		if w.aerr == unix.EMFILE || w.aerr == unix.ENFILE {
			refuseOneFD(s.lrc)
		}
		s.log.Warn("accept failed; pausing", "listen", s.ln.Addr().String(), "error", err.Error(), "pause", w.delay.String())
		w.pause()
		return
	}
}

func (w *loopWatch) unwatch() {
	if w.watching {
		_ = gnet.UnwatchFD(w.el, w.s.dfd)
		w.watching = false
	}
}

// pause stops watching the listener on this loop for w.delay (a
// level-triggered listener would otherwise wake the loop at once).
func (w *loopWatch) pause() {
	w.unwatch()
	time.AfterFunc(w.delay, func() {
		s := w.s
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stopped {
			return
		}
		// Under s.mu: the stop's onEach (which runs after stopped is set)
		// finds this watch again and removes it.
		_ = w.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			if !w.stopped && !w.watching && gnet.WatchFD(w.el, s.dfd, w.cb) == nil {
				w.watching = true
			}
			return nil
		}))
	})
}

// OpenFD registers fd, a connected non-blocking socket accepted on the
// event loop el (a LoopAccept), on el with h as its handler: h.OnOpen has
// run when it returns nil. The engine owns fd from the call on: on an error
// fd is closed and OnOpen never ran. Call it on el.
func (e *Engine) OpenFD(el gnet.EventLoop, fd int, h ConnHandler) error {
	if e.closed.Load() {
		_ = unix.Close(fd)
		return ErrStopped
	}
	return gnet.OpenFD(el, fd, h)
}

// look runs under ln's Control every closeCheck. It puts a listener that
// lost O_NONBLOCK back into non-blocking mode: the flag belongs to the
// socket that every process holding it shares; ListenerFile hands it over
// without touching it, but another program given the socket (an older
// sluice doing a binary upgrade with (*net.TCPListener).File, a
// supervisor) can clear it, and a loop's accept4 could then block when
// another process takes the pending connection first. And it reports
// whether a connection is pending (poll, no wait).
func (s *loopServer) look(fd uintptr) bool {
	if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 {
		if err := unix.SetNonblock(int(fd), true); err != nil {
			s.log.Error("listener is in blocking mode and could not be set back", "listen", s.ln.Addr().String(), "error", err.Error())
		} else {
			s.log.Warn("listener was put in blocking mode by another process; set back to non-blocking", "listen", s.ln.Addr().String())
		}
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0
}

// kick has one loop (the next, round robin) accept what is pending. With
// EPOLLEXCLUSIVE a new connection wakes one sleeping watcher in all the
// processes that share the listener; if that one stops watching before it
// accepts (a draining process in a binary upgrade), no other is woken until
// the next connection arrives. The periodic look bounds that wait to
// closeCheck.
func (s *loopServer) kick() {
	if len(s.watches) == 0 {
		return
	}
	s.next = (s.next + 1) % len(s.watches)
	w := s.watches[s.next]
	_ = w.el.Execute(context.Background(), w.kickTask)
}
