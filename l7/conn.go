package l7

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/gate"
)

// clientConn wraps every accepted client connection. It is the strict
// pre-parser: fasthttp reads through it and only ever receives bytes that
// clientConn has validated (a complete, well-formed request head; body bytes
// checked against the framing the head announced). It also owns the client
// timeouts (fasthttp's own ReadTimeout/WriteTimeout/IdleTimeout are off) and
// counts bytes.
//
// On a head violation it discards the client's bytes and hands fasthttp a
// fixed synthetic request instead; the handler sees reject != 0 and answers
// with that status and Connection: close, so nothing reaches a backend. On a
// body violation (bad chunk, body over the limit) Read fails; the handler (or
// fasthttp) answers and closes, and an upstream request already under way is
// aborted mid-body.
//
// Concurrency: Read and Write are called by the fasthttp serving goroutine
// (and, after an upgrade, by the two tunnel goroutines: one reads, one
// writes). Close may be called from any goroutine.
type clientConn struct {
	net.Conn
	ln      *listener
	t       *table // routing/limits snapshot taken at accept
	ip      netip.Addr
	acceptT time.Time

	buf               []byte
	r, scan, w        int // buf[r:scan] validated, not yet handed out; buf[scan:w] not yet validated
	lineStart, search int // current line start and where the LF search resumes
	maxBuf            int

	st      connState
	remain  int64 // bytes left in a Content-Length body or a chunk
	bodyN   int64 // chunked body bytes announced so far
	trailer int   // trailer bytes so far
	nchunks int
	hs      headState
	upgrade bool // the last head carried Upgrade

	reject  int       // status to answer the current request with (400, 413, 431), 0 none
	viol    violation // why
	bodyErr error     // a client read error while in a body
	synth   int       // bytes of synthReq handed out
	waiting bool      // the wait-for-next-head deadline is set
	headT   time.Time // first byte of the current head (zero: none yet)
	nreq    int

	in, out, inMark int64
	closed          atomic.Bool

	denied  bool       // Guard.AllowClient refused the client at accept: every request gets 403 and the conn closes
	aclEach bool       // the client was a trusted proxy at accept: the access lists judge each request's client
	global  *gate.Gate // the Global gate place this conn holds (released by Close), or nil
	pp      *ppInfo    // PROXY protocol state (proxyproto.go); nil: not read on this frontend

	// TLS (tls.go): tlsCfg is set when the frontend terminates TLS; the
	// handshake (after a PROXY header, if any) makes tls the server side
	// (Conn is then tls), raw the TCP connection under it.
	tlsCfg *tls.Config
	tls    *tls.Conn
	raw    net.Conn
	hsDone bool // the handshake was attempted
}

type connState uint8

const (
	stHead connState = iota
	stBody           // Content-Length body
	stChunkSize
	stChunkData
	stChunkCRLF
	stTrailer
	stSynth // handing out synthReq after a head violation
	stDead  // after a body violation: every Read fails
	stPass  // upgraded tunnel: bytes pass unparsed
)

const initialBuf = 1 << 10

// synthReq replaces a rejected head so fasthttp calls the handler, which
// answers c.reject. It never leaves the process.
var synthReq = []byte("GET / HTTP/1.1\r\nHost: sluice.invalid\r\n\r\n")

var (
	errStrict  = errors.New("sluice: request violates HTTP/1.1 framing rules")
	errBufFull = errors.New("sluice: read buffer full")
)

func newClientConn(c net.Conn, ln *listener, t *table) *clientConn {
	cc := &clientConn{Conn: c, ln: ln, t: t, acceptT: time.Now()}
	cc.maxBuf = t.limits.MaxHeaderBytes + 4096
	cc.buf = make([]byte, min(initialBuf, cc.maxBuf))
	if ap, err := netip.ParseAddrPort(addrString(c.RemoteAddr())); err == nil {
		cc.ip = ap.Addr().Unmap()
	}
	return cc
}

func tcpAddrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

func addrString(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().String()
	}
	if a == nil {
		return ""
	}
	return a.String()
}

// admit applies the access lists once the connection's client is known
// (at accept, or after its PROXY protocol header): a trusted proxy's
// requests are judged one by one, against the client each one's
// X-Forwarded-For names (Proxy.serve); any other client once, here.
func (c *clientConn) admit() {
	t := c.t
	if t.guard == nil {
		return
	}
	if t.trusted.Contains(c.ip) {
		c.aclEach = true
	} else if !t.guard.AllowClient(c.ip) {
		c.denied = true
	}
}

// Read hands out validated bytes only.
func (c *clientConn) Read(p []byte) (int, error) {
	if c.pp != nil && !c.pp.done {
		if err := c.proxyHandshake(); err != nil {
			return 0, err
		}
	}
	if c.tlsCfg != nil && !c.hsDone {
		if err := c.handshake(); err != nil {
			return 0, io.EOF // fasthttp closes without an answer
		}
	}
	for {
		if c.r < c.scan {
			n := copy(p, c.buf[c.r:c.scan])
			c.r += n
			c.in += int64(n)
			return n, nil
		}
		switch c.st {
		case stPass:
			if c.r < c.w {
				n := copy(p, c.buf[c.r:c.w])
				c.r += n
				c.in += int64(n)
				return n, nil
			}
			n, err := c.Conn.Read(p)
			c.in += int64(n)
			return n, err
		case stSynth:
			if c.synth < len(synthReq) {
				n := copy(p, synthReq[c.synth:])
				c.synth += n
				return n, nil
			}
			c.st = stDead
			return 0, errStrict
		case stDead:
			if c.bodyErr != nil {
				return 0, c.bodyErr
			}
			return 0, errStrict
		case stBody, stChunkData:
			if c.scan == c.w && len(p) > 0 {
				// Nothing buffered: read the body straight into p.
				c.r, c.scan, c.w = 0, 0, 0
				if int64(len(p)) > c.remain {
					p = p[:c.remain]
				}
				c.setReadDeadline()
				n, err := c.Conn.Read(p)
				c.in += int64(n)
				c.remain -= int64(n)
				if c.remain == 0 {
					c.endData()
				}
				if n > 0 {
					return n, nil
				}
				if err == nil {
					continue
				}
				return 0, c.readFailed(err)
			}
		}
		if err := c.advance(); err != nil {
			return 0, err
		}
	}
}

// Write bounds each write by Timeouts.ClientWrite (not in a tunnel, which
// manages its own deadlines).
func (c *clientConn) Write(p []byte) (int, error) {
	if c.st != stPass {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.t.timeouts.ClientWrite))
	}
	n, err := c.Conn.Write(p)
	c.out += int64(n)
	return n, err
}

// Close closes the connection once and frees its MaxConns slot.
func (c *clientConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.ln.release(c)
	}
	return c.Conn.Close()
}

// advance validates more bytes, reading from the socket when the buffered
// ones do not suffice.
func (c *clientConn) advance() error {
	needMore, err := c.step()
	if err != nil || !needMore {
		return err
	}
	if err := c.fill(); err != nil {
		return c.readFailed(err)
	}
	return nil
}

func (c *clientConn) readFailed(err error) error {
	if c.st != stHead {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if c.bodyErr == nil {
			c.bodyErr = err
		}
	}
	return err
}

// fill reads more bytes from the socket under the deadline of the state.
func (c *clientConn) fill() error {
	if c.w == len(c.buf) {
		if c.r > 0 {
			c.compact()
		}
		if c.w == len(c.buf) {
			if len(c.buf) >= c.maxBuf {
				return errBufFull
			}
			nb := make([]byte, min(2*len(c.buf), c.maxBuf))
			copy(nb, c.buf[:c.w])
			c.buf = nb
		}
	}
	c.setReadDeadline()
	n, err := c.Conn.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

func (c *clientConn) compact() {
	d := c.r
	copy(c.buf, c.buf[c.r:c.w])
	c.r -= d
	c.scan -= d
	c.w -= d
	c.lineStart -= d
	c.search -= d
}

func (c *clientConn) setReadDeadline() {
	to := &c.t.timeouts
	if c.st == stHead {
		if c.waiting || !c.headT.IsZero() {
			return // the idle or head deadline is already armed
		}
		c.waiting = true
		if c.nreq == 0 {
			_ = c.Conn.SetReadDeadline(c.acceptT.Add(to.ClientHeader))
		} else {
			_ = c.Conn.SetReadDeadline(time.Now().Add(to.ClientIdle))
		}
		return
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(to.ClientRead))
}

// mark starts a new line at scan.
func (c *clientConn) mark() { c.lineStart, c.search = c.scan, c.scan }

// nextLF finds the next LF of the current line; -1 if it has not arrived.
func (c *clientConn) nextLF() int {
	i := bytes.IndexByte(c.buf[c.search:c.w], '\n')
	if i < 0 {
		c.search = c.w
		return -1
	}
	return c.search + i
}

// step validates what is buffered as far as the current state allows. It
// reports needMore when it cannot progress without more bytes.
func (c *clientConn) step() (needMore bool, err error) {
	switch c.st {
	case stHead:
		return c.stepHead(), nil
	case stBody, stChunkData:
		if c.scan == c.w {
			return true, nil
		}
		k := int64(c.w - c.scan)
		if k > c.remain {
			k = c.remain
		}
		c.scan += int(k)
		c.remain -= k
		if c.remain == 0 {
			c.endData()
		}
		return false, nil
	case stChunkSize:
		lf := c.nextLF()
		if lf < 0 {
			if c.w-c.scan > maxChunkLine {
				return false, c.bodyViolation(vBadChunk)
			}
			return true, nil
		}
		n, ok := parseChunkSize(c.buf[c.scan:lf])
		if !ok {
			return false, c.bodyViolation(vBadChunk)
		}
		c.bodyN += n
		if max := c.t.limits.MaxBodyBytes; max > 0 && c.bodyN > max {
			return false, c.bodyViolation(vBodyTooLarge)
		}
		c.nchunks++
		c.scan = lf + 1
		c.mark()
		if n == 0 {
			c.st = stTrailer
			c.trailer = 0
		} else {
			c.st, c.remain = stChunkData, n
		}
		return false, nil
	case stChunkCRLF:
		if c.w-c.scan < 2 {
			if c.w > c.scan && c.buf[c.scan] != '\r' {
				return false, c.bodyViolation(vBadChunk)
			}
			return true, nil
		}
		if c.buf[c.scan] != '\r' || c.buf[c.scan+1] != '\n' {
			return false, c.bodyViolation(vBadChunk)
		}
		c.scan += 2
		c.mark()
		c.st = stChunkSize
		return false, nil
	case stTrailer:
		lf := c.nextLF()
		if lf < 0 {
			if c.trailer+c.w-c.scan > c.t.limits.MaxHeaderBytes {
				return false, c.bodyViolation(vBadTrailer)
			}
			return true, nil
		}
		l := c.buf[c.scan:lf]
		c.trailer += lf + 1 - c.scan
		if c.trailer > c.t.limits.MaxHeaderBytes {
			return false, c.bodyViolation(vBadTrailer)
		}
		if len(l) == 0 || l[len(l)-1] != '\r' {
			return false, c.bodyViolation(vBareLF)
		}
		if len(l) > 1 {
			if v := c.hs.field(l[:len(l)-1], true); v != vNone {
				return false, c.bodyViolation(v)
			}
		}
		c.scan = lf + 1
		c.mark()
		if len(l) == 1 {
			c.toHead()
		}
		return false, nil
	}
	return false, nil
}

// stepHead validates the next complete line of a head. Head bytes are handed
// out only once the whole head is valid, so here r == scan == head start.
func (c *clientConn) stepHead() (needMore bool) {
	if c.w == c.scan {
		return true
	}
	if c.headT.IsZero() {
		if c.nreq == 0 {
			c.headT = c.acceptT // the accept-time deadline covers the first head
		} else {
			c.headT = time.Now()
			_ = c.Conn.SetReadDeadline(c.headT.Add(c.t.timeouts.ClientHeader))
		}
	}
	maxHead := c.t.limits.MaxHeaderBytes
	lf := c.nextLF()
	if lf < 0 {
		if c.w-c.scan > maxHead {
			c.headViolation(vHeadTooLarge)
			return false
		}
		return true
	}
	if lf+1-c.scan > maxHead {
		c.headViolation(vHeadTooLarge)
		return false
	}
	l := c.buf[c.lineStart:lf]
	if len(l) == 1 && l[0] == '\r' && c.hs.lines == 0 {
		// RFC 9112 §2.2: ignore empty lines before the request line.
		c.scan = lf + 1
		c.r = c.scan
		c.mark()
		return false
	}
	if len(l) == 1 && l[0] == '\r' {
		if v := c.hs.finish(c.t.limits.MaxBodyBytes); v != vNone {
			c.headViolation(v)
			return false
		}
		c.headDone(lf + 1)
		return false
	}
	if v := c.hs.line(l); v != vNone {
		c.headViolation(v)
		return false
	}
	c.lineStart, c.search = lf+1, lf+1
	return false
}

// headDone makes the head up to end deliverable and sets up body framing.
func (c *clientConn) headDone(end int) {
	c.scan = end
	c.mark()
	c.nreq++
	c.reject, c.viol = 0, vNone
	chunked, cl := c.hs.chunked(), c.hs.cl
	c.upgrade = c.hs.upgrade
	c.hs = headState{}
	c.headT, c.waiting = time.Time{}, false
	switch {
	case chunked:
		c.st, c.bodyN, c.nchunks = stChunkSize, 0, 0
	case cl > 0:
		c.st, c.remain = stBody, cl
	default:
		c.st = stHead
	}
}

func (c *clientConn) endData() {
	if c.st == stChunkData {
		c.st = stChunkCRLF
		c.mark()
		return
	}
	c.toHead()
}

func (c *clientConn) toHead() {
	c.st = stHead
	c.hs = headState{}
	c.headT, c.waiting = time.Time{}, false
	c.mark()
}

// headViolation drops the client's bytes and queues the synthetic request.
func (c *clientConn) headViolation(v violation) {
	c.viol, c.reject = v, v.status()
	c.st, c.synth = stSynth, 0
	c.r, c.scan, c.w = 0, 0, 0
	c.mark()
}

func (c *clientConn) bodyViolation(v violation) error {
	c.viol, c.reject = v, v.status()
	c.st = stDead
	return errStrict
}

// primeBody validates, before anything is forwarded, the first chunk-size
// line of a chunked body (waiting for it under Timeouts.ClientRead) and every
// body byte already received, without handing anything out. So a body whose
// first chunk is malformed (or whose already-received bytes are) is refused
// before the backend sees the head.
func (c *clientConn) primeBody() error {
	for {
		switch c.st {
		case stBody, stChunkSize, stChunkData, stChunkCRLF, stTrailer:
		case stDead:
			if c.bodyErr != nil {
				return c.bodyErr
			}
			return errStrict
		default:
			return nil
		}
		needMore, err := c.step()
		if err != nil {
			return err
		}
		if !needMore {
			continue
		}
		if c.st != stChunkSize || c.nchunks > 0 {
			return nil
		}
		if err := c.fill(); err != nil {
			if err == errBufFull {
				return nil
			}
			return c.readFailed(err)
		}
	}
}

// setPassthrough switches to tunnel mode: bytes pass unparsed from now on.
func (c *clientConn) setPassthrough() {
	c.st = stPass
	_ = c.Conn.SetDeadline(time.Time{})
}
