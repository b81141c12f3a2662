package l7

import (
	"context"
	"net"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/sluicelb/sluice/engine"
	"golang.org/x/sys/unix"
)

// bconn is one connection to a backend server, on the event loop of the
// client connection it was opened for. Between requests it waits in its
// loop's pool for that server (bpool); a request and its response never
// cross threads. Loop-owned.
type bconn struct {
	u         *upstream
	l         *rloop
	c         gnet.Conn // nil until OnOpen, and after OnClose
	fd        int
	ex        *exchange // the exchange using it, nil while pooled (or orphaned while dialing)
	tm        timer     // the response timeout while busy, the idle timeout while pooled
	uses      int       // requests sent on it
	idleSince int64     // monoNow when it was pooled

	pooled     bool
	prev, next *bconn // in the pool
	closed     bool
	piped      bool // in pipe mode: gnet let go, a pipe holds a duplicate
	// Set by the dialing goroutine before it enrolls the connection: the
	// request head went out (headSent), or writing it failed (broken).
	headSent, broken bool
	// private: a PROXY protocol header went first (send_proxy); the
	// connection speaks for one client and is closed after its response.
	private bool
}

var _ timeoutOwner = (*bconn)(nil)

// bpool is the idle connections of one loop to one server, most recently
// used first (LIFO keeps few connections warm).
type bpool struct {
	u    *upstream
	head *bconn
	n    int
	// learned: half the shortest idle time after which this server was seen
	// closing a pooled connection (ns; 0 until it did), not below
	// minStaleCheck. It lowers the idle time from which a connection is
	// peeked at before reuse.
	learned int64
}

// staleCheckAfter: a pooled connection idle at least this long (or at
// least the pool's learned time, when that is shorter) is looked at (alive)
// before it is reused; one reused sooner is not. A server closes an idle
// connection when its keep-alive timeout runs out (Gunicorn 2 s, Node.js
// 5 s, nginx 75 s; pools close theirs after timeouts.idle, 1 s by
// default), so a close can race with a reuse only at an idle time near that
// timeout: the look is needed there, and costs a system call per request
// everywhere else. A server seen closing sooner teaches its pool a shorter
// time (learn); a close missed in between is what the stale retry covers.
// A variable for tests.
var staleCheckAfter = 100 * time.Millisecond

// minStaleCheck is the shortest learned time.
const minStaleCheck = int64(time.Millisecond)

// get takes the most recently pooled connection that is still open, or nil.
// One idle for the check time or more is looked at first: the server may
// have closed it while its close was still on its way to the loop.
func (p *bpool) get() *bconn {
	after := int64(staleCheckAfter)
	if p.learned > 0 && p.learned < after {
		after = p.learned
	}
	for bc := p.head; bc != nil; bc = p.head {
		p.unlink(bc)
		bc.l.timers.stop(&bc.tm)
		idle := monoNow() - bc.idleSince
		if idle < after || bc.alive() {
			return bc
		}
		p.learn(idle)
		bc.close()
	}
	return nil
}

// learn: the server closed a connection of this pool after it sat idle for
// idle ns; connections idle for half that are looked at from now on.
func (p *bpool) learn(idle int64) {
	t := max(idle/2, minStaleCheck)
	if p.learned == 0 || t < p.learned {
		p.learned = t
	}
}

// alive peeks at a pooled connection without blocking: the server's FIN, a
// reset, or bytes nobody asked for mean it must not be reused.
func (bc *bconn) alive() bool {
	var b [1]byte
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(bc.fd), uintptr(unsafe.Pointer(&b[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return e == unix.EAGAIN && n == ^uintptr(0)
}

// put pools bc until IdleTimeout (or closes it, when its upstream retired).
func (p *bpool) put(bc *bconn) {
	bc.ex = nil
	if p.u.retired.Load() {
		bc.close()
		return
	}
	bc.pooled = true
	bc.idleSince = monoNow()
	bc.prev, bc.next = nil, p.head
	if p.head != nil {
		p.head.prev = bc
	}
	p.head = bc
	p.n++
	bc.l.timers.arm(&bc.tm, bc.l.now(), bc.u.opts.IdleTimeout)
}

func (p *bpool) unlink(bc *bconn) {
	if bc.prev != nil {
		bc.prev.next = bc.next
	} else {
		p.head = bc.next
	}
	if bc.next != nil {
		bc.next.prev = bc.prev
	}
	bc.prev, bc.next, bc.pooled = nil, nil, false
	p.n--
}

// closeIdle closes every pooled connection (the server was removed).
func (p *bpool) closeIdle() {
	for bc := p.head; bc != nil; bc = p.head {
		p.unlink(bc)
		bc.close()
	}
}

func (bc *bconn) OnOpen(c gnet.Conn) gnet.Action {
	bc.c, bc.fd = c, c.Fd()
	l := bc.l
	l.cur, l.act = c, gnet.None
	ex := bc.ex
	switch {
	case ex == nil || ex.bc != bc || ex.state != xDial:
		// The exchange it was dialed for has gone: keep the connection for
		// the next request, unless a request went out on it.
		if bc.headSent || bc.broken {
			bc.close()
		} else {
			l.pool(bc.u).put(bc)
		}
	case bc.broken:
		// Writing the head failed: the server broke the new connection.
		ex.bc, bc.ex = nil, nil
		bc.close()
		ex.attemptFailed(FailReset)
	default:
		ex.sendTo(bc)
	}
	bc.headSent = false
	l.cur = nil
	return l.act
}

func (bc *bconn) OnTraffic(c gnet.Conn) gnet.Action {
	l := bc.l
	l.cur, l.act = c, gnet.None
	if ex := bc.ex; ex != nil {
		ex.fromBackend()
	} else {
		// Bytes on an idle connection: the server is confused, or this
		// is the tail of an abandoned response. Never reuse it.
		_, _ = c.Discard(-1)
		bc.close()
	}
	l.cur = nil
	return l.act
}

func (bc *bconn) OnClose(c gnet.Conn, err error) {
	l := bc.l
	bc.c = nil
	if bc.piped {
		return
	}
	bc.closed = true
	l.timers.stop(&bc.tm)
	if bc.pooled { // the server closed it while it sat idle
		p := l.pool(bc.u)
		p.unlink(bc)
		p.learn(monoNow() - bc.idleSince)
	}
	bc.u.open.Add(-1)
	if ex := bc.ex; ex != nil && ex.bc == bc {
		prev := l.cur
		l.cur = nil // c is gone: nothing can return an action for it
		ex.backendClosed(c, err)
		l.cur = prev
	}
	bc.ex = nil
}

// close closes the connection (not reused).
func (bc *bconn) close() {
	if bc.closed {
		return
	}
	bc.closed = true
	if bc.pooled {
		bc.l.pool(bc.u).unlink(bc)
	}
	bc.l.timers.stop(&bc.tm)
	if c := bc.c; c != nil {
		bc.l.closeConn(c) // OnClose does the accounting
	}
	bc.ex = nil
}

// timeout: pooled too long (close), or the server went silent while a
// request waits on it.
func (bc *bconn) timeout(now int64) {
	if ex := bc.ex; ex != nil && ex.bc == bc {
		ex.backendTimeout()
		return
	}
	bc.close()
}

// dial opens a connection to u for ex, off the loop: the dialing goroutine
// writes the request head at once (a server that closes connections idle
// for a short while gets it before its timer runs, whatever the loop is
// doing), then enrolls the connection on this loop, whose OnOpen sends the
// body (or pools the connection when ex has gone meanwhile and nothing was
// sent).
func (ex *exchange) dial(u *upstream) {
	l := ex.l
	bc := &bconn{u: u, l: l, fd: -1, ex: ex, private: sendsProxy(u.srv)}
	bc.tm.owner = bc
	ex.bc = bc
	ex.state = xDial
	u.open.Add(1)
	eng, el := l.eng, l.el
	d := &u.dialer
	pp := ex.appendProxyHeader(nil, u.srv) // send_proxy: the header goes first (before TLS)
	head := ex.appendRequestHead(nil)      // owned: the goroutine writes it
	rt, ct := u.opts.ResponseTimeout, u.opts.ConnectTimeout
	tlsCfg := u.tls
	go func() {
		start := time.Now()
		nc, err := d.Dial("tcp", u.srv.Addr())
		if err == nil {
			tc := nc.(*net.TCPConn)
			var conn engine.Stream = tc
			if tlsCfg != nil {
				if len(pp) > 0 {
					_ = tc.SetWriteDeadline(start.Add(ct))
					_, err = tc.Write(pp)
				}
				if err == nil {
					// Connect and handshake within ConnectTimeout; the head
					// goes through TLS before the bridge starts.
					var sent bool
					conn, sent, err = dialTLS(tc, tlsCfg, start.Add(ct), head, rt)
					bc.headSent = sent
				}
				if err != nil {
					_ = tc.Close()
				}
			} else {
				_ = tc.SetWriteDeadline(time.Now().Add(rt))
				out := head
				if len(pp) > 0 {
					out = append(pp, head...)
				}
				if _, werr := tc.Write(out); werr != nil {
					bc.broken = true
				} else {
					bc.headSent = true
				}
				_ = tc.SetWriteDeadline(time.Time{})
			}
			if err == nil {
				err = eng.EnrollOn(el, conn, bc) // orders these writes before OnOpen
				if err == nil {
					return
				}
			}
		}
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			bc.dialFailed()
			return nil
		}))
	}()
}

// dialFailed runs on the loop when a dial (or its registration) failed.
func (bc *bconn) dialFailed() {
	bc.closed = true
	bc.u.open.Add(-1)
	if ex := bc.ex; ex != nil && ex.bc == bc && ex.state == xDial {
		bc.ex = nil
		ex.bc = nil
		ex.attemptFailed(FailConnect)
	}
}
