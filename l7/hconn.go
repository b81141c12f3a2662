package l7

import (
	"bytes"
	"net/netip"

	"github.com/panjf2000/gnet/v2"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
	"golang.org/x/sys/unix"
)

// hconn is one client connection served on an event loop. The strict
// pre-parser frames each request head in the bytes gnet has read (nothing
// reaches fasthttp, let alone a backend, before the whole head is valid;
// docs/http-parsing.md), an exchange carries the request to a server and its
// response back, and between requests an idle connection is this struct and
// gnet's connection, nothing more.
//
// Loop-owned: only its event loop touches it, except in pipe mode (pipe.go),
// where the exchange's goroutines own it until they hand it back.
type hconn struct {
	p        *Proxy
	t        *table // the routing/limits snapshot taken at accept
	l        *rloop
	c        gnet.Conn // nil once gnet has let go of the connection
	fd       int       // where the response is written: c.Fd(), or our duplicate
	ownFD    bool      // fd is a duplicate the connection must close
	ip       netip.Addr
	global   *gate.Gate // the Global gate place held (released at the end), or nil
	denied   bool       // Guard.AllowClient refused the client at accept: the request gets 403 and the conn closes
	aclEach  bool       // the client was a trusted proxy at accept: the access lists judge each request's client
	pp       *ppInfo    // PROXY protocol state (proxyproto.go); nil: not read on this frontend
	tls      bool       // TLS terminated: the conn is the loop end of a bridge (tls.go)
	acceptAt int64      // monoNow at accept

	st           uint8
	hf           headFramer
	nreq         int
	ex           *exchange
	tm           timer
	in, inMark   int64 // bytes read from the client; at the start of the current request
	closing      bool  // close once the current response is written
	eof          bool  // the client half-closed (sent FIN)
	parked       bool  // gnet let go (fd is our duplicate); held has what it had read
	held         []byte
	released     bool
	lprev, lnext *hconn
}

// hconn states.
const (
	cIdle uint8 = iota // no request in progress (waiting for its first byte)
	cHead              // a head is arriving
	cBusy              // an exchange runs on the loop
	cPipe              // the exchange moved to pipe mode or became a tunnel
	cDone              // closed, or closing
)

var _ timeoutOwner = (*hconn)(nil)

func (hc *hconn) OnOpen(c gnet.Conn) gnet.Action {
	hc.c, hc.fd = c, c.Fd()
	if hc.st == cPipe { // back from pipe mode
		l := hc.l
		l.cur, l.act = c, gnet.None
		hc.resumed()
		l.cur = nil
		return l.act
	}
	hc.l = loopOf(hc.p.eng, c.EventLoop())
	hc.l.conns.add(hc)
	hc.tm.owner = hc
	// The first head must be complete ClientHeader after accept.
	hc.l.timers.arm(&hc.tm, hc.acceptAt, hc.t.timeouts.ClientHeader)
	if hc.p.draining.Load() {
		hc.closing = true
	}
	return gnet.None
}

func (hc *hconn) OnTraffic(c gnet.Conn) gnet.Action {
	l := hc.l
	l.cur, l.act = c, gnet.None
	switch hc.st {
	case cIdle, cHead:
		hc.readHead()
	case cBusy:
		hc.ex.fromClient()
	default:
		_, _ = c.Discard(-1)
	}
	l.cur = nil
	return l.act
}

func (hc *hconn) OnClose(c gnet.Conn, err error) {
	if c != hc.c {
		// A connection the hconn let go of (pipe mode, parked), whose
		// socket lives on in a duplicate.
		return
	}
	hc.c = nil
	if hc.st == cBusy && hc.ex != nil {
		if hc.ex.clientGone(c, err) {
			return // the exchange goes on with a duplicate of the socket
		}
	}
	hc.st = cDone
	hc.release()
}

// release gives back what the connection holds, once.
func (hc *hconn) release() {
	if hc.released {
		return
	}
	hc.released = true
	hc.l.timers.stop(&hc.tm)
	hc.l.conns.remove(hc)
	if hc.ownFD {
		_ = unix.Close(hc.fd)
		hc.ownFD = false
	}
	hc.fd = -1
	if hc.global != nil {
		hc.global.Release()
		hc.global = nil
	}
	hc.p.connClosed()
}

// close closes the connection now (what was written stays written: writes
// go straight to the socket).
func (hc *hconn) close() {
	if hc.st == cDone && hc.released {
		return
	}
	hc.st = cDone
	if c := hc.c; c != nil {
		if !hc.ownFD {
			gnet.SoleOwner(c) // no duplicate: close(2) alone unregisters it
		}
		hc.l.closeConn(c)
		return
	}
	hc.release()
}

// timeout: the connection's timer expired (ClientHeader, ClientIdle or
// ClientRead, or the wait of a queued request).
func (hc *hconn) timeout(now int64) {
	switch hc.st {
	case cIdle:
		hc.close()
	case cHead:
		hc.answerAndClose(FailClientTimeout)
	case cBusy:
		hc.ex.clientTimeout()
	}
}

// readHead validates the head bytes that arrived; when the head is complete
// it starts the exchange.
func (hc *hconn) readHead() {
	c := hc.c
	for {
		b, _ := c.Peek(-1)
		if len(b) == 0 {
			return
		}
		if hc.pp != nil && !hc.pp.done {
			if !hc.proxyHandshake(b) {
				return
			}
			continue
		}
		if hc.st == cIdle {
			hc.st = cHead
			if hc.nreq > 0 { // the first head's deadline runs from accept
				hc.l.timers.arm(&hc.tm, hc.l.now(), hc.t.timeouts.ClientHeader)
			}
		}
		end, skip, v := hc.hf.scan(b, hc.t.limits.MaxHeaderBytes, hc.t.limits.MaxBodyBytes)
		switch {
		case v != vNone:
			hc.reject(v)
			return
		case skip > 0: // empty lines before the request line
			hc.consume(skip)
		case end > 0:
			hc.headDone(b[:end])
			return
		default:
			return // wait for more
		}
	}
}

// headFramer finds where a request head ends in the bytes received so far
// and validates it line by line (headState) as its lines arrive: the strict
// pre-parser. It keeps its place between calls, so each byte is looked at
// once however the head is split; the caller offers the same unconsumed
// bytes again, with more.
type headFramer struct {
	hs              headState
	next, lineStart int // where the LF search resumes; the current line
}

// scan looks at b (the unconsumed bytes, head first). end > 0: the head is
// b[:end], valid (the framer is reset for the next one). skip > 0: b starts
// with that many bytes of empty lines to drop (RFC 9112 §2.2) before the
// request line. v != vNone: the head breaks a rule. All zero: need more.
func (f *headFramer) scan(b []byte, maxHead int, maxBody int64) (end, skip int, v violation) {
	for {
		i := bytes.IndexByte(b[f.next:], '\n')
		if i < 0 {
			f.next = len(b)
			if len(b) > maxHead {
				return 0, 0, vHeadTooLarge
			}
			return 0, 0, vNone
		}
		lf := f.next + i
		if lf+1 > maxHead {
			return 0, 0, vHeadTooLarge
		}
		l := b[f.lineStart:lf]
		switch {
		case len(l) == 1 && l[0] == '\r' && f.hs.lines == 0:
			f.next, f.lineStart = 0, 0
			return 0, lf + 1, vNone
		case len(l) == 1 && l[0] == '\r':
			if v := f.hs.finish(maxBody); v != vNone {
				return 0, 0, v
			}
			return lf + 1, 0, vNone
		}
		if v := f.hs.line(l); v != vNone {
			return 0, 0, v
		}
		f.lineStart, f.next = lf+1, lf+1
	}
}

// reset prepares f for the next head.
func (f *headFramer) reset() { *f = headFramer{} }

// consume drops n bytes the connection has dealt with.
func (hc *hconn) consume(n int) {
	_, _ = hc.c.Discard(n)
	hc.in += int64(n)
}

// headDone starts the exchange of the complete, valid head.
func (hc *hconn) headDone(head []byte) {
	hs := hc.hf.hs
	hc.hf.reset()
	hc.nreq++
	hc.l.timers.stop(&hc.tm)
	ex := hc.l.newExchange(hc)
	hc.ex, hc.st = ex, cBusy
	err := ex.parseHead(head)
	hc.consume(len(head))
	ex.begin(err, &hs)
}

// reject answers a head that broke a rule with the violation's status and
// closes; the client's bytes are dropped, nothing reached a backend.
func (hc *hconn) reject(v violation) {
	hc.hf.reset()
	hc.answerAndClose(violationFailure(v))
}

// answerAndClose answers f outside any request (a bad or late head) and
// closes: the request is recorded as one that failed with f.
func (hc *hconn) answerAndClose(f Failure) {
	hc.l.timers.stop(&hc.tm)
	if c := hc.c; c != nil {
		if n := c.InboundBuffered(); n > 0 {
			hc.consume(n)
		}
	}
	ex := hc.l.newExchange(hc)
	hc.ex, hc.st = ex, cBusy
	ex.closing = true
	ex.localError(f)
}

// afterResponse is called when an exchange has ended: the connection waits
// for the next request, or closes.
func (hc *hconn) afterResponse() {
	hc.ex = nil
	if hc.closing || hc.eof || hc.st != cBusy {
		hc.close()
		return
	}
	hc.st = cIdle
	hc.l.timers.arm(&hc.tm, hc.l.now(), hc.t.timeouts.ClientIdle)
	if hc.c != nil && hc.c.InboundBuffered() > 0 {
		hc.readHead() // a pipelined request
	}
}

// park takes the connection away from gnet (which cannot stop reading it)
// while its exchange waits for a backend connection: what gnet had read is
// kept in held, the socket in a duplicate nobody reads, so TCP flow control
// holds the client back. The exchange continues in pipe mode (sendTo).
func (hc *hconn) park() {
	c := hc.c
	fd, err := engine.DupFD(hc.fd)
	if err != nil {
		return // keep reading: bounded by the connect timeout
	}
	if n := c.InboundBuffered(); n > 0 {
		b, _ := c.Peek(-1)
		hc.held = append(hc.held[:0], b...)
		hc.consume(n)
	}
	hc.c, hc.fd, hc.ownFD, hc.parked = nil, fd, true, true
	hc.l.closeConn(c) // OnClose ignores it: it is no longer hc.c
}
