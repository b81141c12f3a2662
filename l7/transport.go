package l7

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// The backend exchange. fasthttp's HostClient stays the connection pool
// (dialing, MaxConns, MaxConnWait queue, idle cleanup, bufio pools), but
// sluice writes the request and frames the response body itself: fasthttp's
// own transport allocates four objects per streamed response (closures and
// a clientStreamBody), and the request path must not allocate.

// pooledConn is a connection lent by a HostClient (*fasthttp.clientConn,
// whose type is not exported; only its Conn method is needed here).
type pooledConn interface{ Conn() net.Conn }

// connPool is a HostClient's pool with the connection type erased.
type connPool interface {
	acquire(connectionClose bool) (pooledConn, error)
	release(pooledConn) // back to the pool (keep-alive)
	discard(pooledConn) // close it
}

// hostPool adapts a HostClient's AcquireConn/ReleaseConn/CloseConn; C is
// inferred from their signatures (newHostPool), so the unexported type
// never needs a name.
type hostPool[C pooledConn] struct {
	acq   func(time.Duration, bool) (C, error)
	rel   func(C)
	close func(C)
}

func newHostPool[C pooledConn](acq func(time.Duration, bool) (C, error), rel, closeFn func(C)) connPool {
	return &hostPool[C]{acq: acq, rel: rel, close: closeFn}
}

func (h *hostPool[C]) acquire(connectionClose bool) (pooledConn, error) {
	c, err := h.acq(0, connectionClose)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (h *hostPool[C]) release(c pooledConn) { h.rel(c.(C)) }
func (h *hostPool[C]) discard(c pooledConn) { h.close(c.(C)) }

var (
	errBadChunk   = errors.New("sluice: malformed chunked response body")
	errBigTrailer = errors.New("sluice: response trailer section too large")
)

// upBody is the streamed body of one backend response. It lives in the
// exchange (no allocation), reads the framing itself, and gives the
// connection back to the pool (or closes it) in CloseWithError. Read and
// CloseWithError are called from one goroutine (fasthttp's, writing the
// client response).
type upBody struct {
	u         *upstream
	cc        pooledConn
	br        *bufio.Reader
	mode      bodyMode
	remain    int64 // bytes left in the body (length) or the current chunk
	needCRLF  bool  // a chunk's data ended: its CRLF is next
	done      bool  // the body ended cleanly
	closeConn bool  // the connection cannot be reused
	active    bool
}

// staleCheckAfter: a pooled connection idle at least this long is looked
// at (upConn.alive, one system call) before it is reused. One reused sooner
// is the server's to close only in the same instant; the retry of a stale
// connection (forward) covers that race.
var staleCheckAfter = time.Millisecond

// staleError is the failure of an exchange on a reused pooled connection
// that the server broke (EOF, reset) before any byte of a response: the
// server had closed the idle connection, which says nothing about its
// health (classify: FailStale, FailStaleUnsent).
type staleError struct {
	err    error
	unsent bool // not one byte of the request was written
}

func (e *staleError) Error() string {
	return "pooled connection closed by the server: " + e.err.Error()
}
func (e *staleError) Unwrap() error { return e.err }

// freshConn is a connection dialed outside the pool for one request, the
// retry of a request whose pooled connection turned out stale: it is never
// itself stale, and it is closed after the request.
type freshConn struct{ c *upConn }

func (f *freshConn) Conn() net.Conn { return f.c }

// acquire takes a connection from the pool, skipping (and closing) pooled
// ones the server has closed meanwhile, or dials one outside it (fresh).
func (u *upstream) acquire(connectionClose, fresh bool) (pooledConn, *upConn, error) {
	if fresh {
		c, err := u.hc.Dial(u.hc.Addr)
		if err != nil {
			return nil, nil, err
		}
		uc := c.(*upConn)
		return &freshConn{uc}, uc, nil
	}
	for {
		cc, err := u.pool.acquire(connectionClose)
		if err != nil {
			return nil, nil, err
		}
		uc, ok := cc.Conn().(*upConn)
		if !ok || uc.uses == 0 || time.Since(uc.last) < staleCheckAfter || uc.alive() {
			return cc, uc, nil
		}
		u.pool.discard(cc) // closed (or out of step) while it sat in the pool
	}
}

// release gives a connection back for reuse; discard closes it.
func (u *upstream) release(cc pooledConn) {
	if f, ok := cc.(*freshConn); ok {
		_ = f.c.Close()
		return
	}
	u.pool.release(cc)
}

func (u *upstream) discard(cc pooledConn) {
	if f, ok := cc.(*freshConn); ok {
		_ = f.c.Close()
		return
	}
	u.pool.discard(cc)
}

// roundTrip sends req to the server of u and reads the response head into
// resp, on a pooled connection, or on a new one outside the pool when
// fresh. On success a response with a body leaves body active (the caller
// streams it and must call CloseWithError); a response without one has
// already given the connection back. A reused connection that breaks
// before any response byte fails with a *staleError. A non-nil pp (a PROXY
// protocol header) is sent first, on a new connection outside the pool (a
// header speaks for one client), closed after the response.
func (u *upstream) roundTrip(req *fasthttp.Request, resp *fasthttp.Response, body *upBody, fresh bool, pp []byte) error {
	resp.Reset()
	req.URI().DisablePathNormalizing = true
	cc, uc, err := u.acquire(req.ConnectionClose(), fresh || pp != nil)
	if err != nil {
		return err
	}
	reused := false
	if uc != nil {
		reused = uc.uses > 0
		uc.uses++
		uc.rx, uc.tx = 0, 0
	}
	conn := cc.Conn()
	bw := u.hc.AcquireWriter(conn)
	if pp != nil {
		_, err = bw.Write(pp)
	}
	if err == nil {
		err = req.Write(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	u.hc.ReleaseWriter(bw)
	if err != nil {
		u.discard(cc)
		return staleOr(err, reused, uc)
	}
	br := u.hc.AcquireReader(conn)
	resp.SkipBody = true // the head only (interim 1xx skipped); the body is read below
	err = resp.ReadLimitBody(br, 0)
	resp.SkipBody = false
	if err != nil {
		u.hc.ReleaseReader(br)
		u.discard(cc)
		if err == io.EOF {
			err = fasthttp.ErrConnectionClosed
		}
		return staleOr(err, reused, uc)
	}
	*body = upBody{u: u, cc: cc, br: br, active: true,
		closeConn: req.ConnectionClose() || resp.ConnectionClose()}
	st := resp.StatusCode()
	switch cl := resp.Header.ContentLength(); {
	case req.Header.IsHead() || st < 200 || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified:
		body.mode = bodyNone
	case cl >= 0:
		body.mode, body.remain = bodyLength, int64(cl)
	case cl == -1:
		body.mode = bodyChunked
	default:
		body.mode, body.closeConn = bodyEOF, true
	}
	if body.mode == bodyNone || (body.mode == bodyLength && body.remain == 0) {
		body.done = true
		_ = body.CloseWithError(nil)
	}
	return nil
}

// staleOr returns err as a *staleError when it broke a reused connection
// before any response byte arrived (and was no timeout: a server that is
// slow to answer is not one that closed the connection).
func staleOr(err error, reused bool, uc *upConn) error {
	if !reused || uc.rx > 0 || isTimeout(err) {
		return err
	}
	return &staleError{err: err, unsent: uc.tx == 0}
}

// Read returns body bytes (chunk framing removed).
func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if !b.active {
		return 0, io.ErrClosedPipe
	}
	switch b.mode {
	case bodyLength:
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err := b.br.Read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			b.done = true
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case bodyEOF:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.done = true
		}
		return n, err
	}
	for b.remain == 0 {
		if err := b.nextChunk(); err != nil {
			return 0, err
		}
		if b.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		b.needCRLF = true
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if n > 0 {
		return n, nil
	}
	return n, err
}

// nextChunk reads the CRLF after a chunk's data and the next chunk-size
// line; at the last chunk it reads (and drops) the trailer section.
func (b *upBody) nextChunk() error {
	if b.needCRLF {
		l, err := b.br.ReadSlice('\n')
		if err != nil {
			return unexpected(err)
		}
		if len(l) != 2 || l[0] != '\r' {
			return errBadChunk
		}
		b.needCRLF = false
	}
	l, err := b.br.ReadSlice('\n')
	if err != nil {
		return unexpected(err)
	}
	n, ok := parseChunkSize(l[:len(l)-1])
	if !ok {
		return errBadChunk
	}
	if n > 0 {
		b.remain = n
		return nil
	}
	for total := 0; ; {
		l, err := b.br.ReadSlice('\n')
		if err != nil {
			return unexpected(err)
		}
		if total += len(l); total > maxTrailerBytes {
			return errBigTrailer
		}
		if len(l) == 2 && l[0] == '\r' {
			b.done = true
			return nil
		}
		if len(l) < 2 || l[len(l)-2] != '\r' {
			return errBadChunk
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err == bufio.ErrBufferFull {
		return errBadChunk
	}
	return err
}

// CloseWithError ends the body: the connection goes back to the pool when
// the body was read to its end and may be reused, else it is closed.
// Further calls do nothing.
func (b *upBody) CloseWithError(err error) error {
	if !b.active {
		return nil
	}
	b.active = false
	u := b.u
	u.hc.ReleaseReader(b.br)
	if err != nil || !b.done || b.closeConn {
		u.discard(b.cc)
	} else {
		u.release(b.cc)
	}
	b.u, b.cc, b.br = nil, nil, nil
	return nil
}
