package l7

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/engine"
	"github.com/valyala/fasthttp"
)

// pipe is an exchange that left the event loop. gnet cannot stop reading a
// connection, so an exchange whose client does not take the response as
// fast as the server sends it (or whose server does not take the request
// body as fast as the client sends it) cannot stay on the loop without
// buffering without bound. At the first write the kernel does not take
// whole (EAGAIN), both connections are duplicated, gnet lets go of them,
// and the exchange goes on here with blocking I/O on Go's poller, one
// goroutine per direction that still flows: TCP flow control then holds
// the fast side back, exactly as an L4 session in pipe mode. The framers
// are the same as on the loop. When the response is complete the backend
// connection returns to its loop's pool and the client connection to the
// loop (or they close), and the exchange finishes there.
type pipe struct {
	ex      *exchange
	hc      *hconn
	bc      *bconn
	l       *rloop // where it returns; only l.el and l.eng are used off the loop
	cfd     int    // descriptors handed over by the loop (-1: none)
	bfd     int
	cli, be engine.Stream
	cin     []byte // client bytes gnet had read, not yet forwarded
	bin     []byte // server bytes gnet had read, not yet forwarded

	toBackend, toClient []byte // what the loop could not write

	reqFail  atomic.Uint32 // the request side's Failure, if it failed
	leftover bool          // the client sent more than this request
	beBroken bool          // the backend connection cannot be reused
	cliGone  bool          // the client connection is broken
	wg       sync.WaitGroup
}

// toPipe moves the exchange off the event loop when a side cannot take
// what it is given (EAGAIN); toBackend and toClient are the bytes that did
// not fit (owned by the caller's copy).
func (ex *exchange) toPipe(toBackend, toClient []byte) {
	hc, bc, l := ex.hc, ex.bc, ex.l
	pp := &pipe{ex: ex, hc: hc, bc: bc, l: l, cfd: -1, bfd: -1, toBackend: toBackend, toClient: toClient}
	if hc.ownFD {
		pp.cfd, hc.ownFD = hc.fd, false
	} else if fd, err := engine.DupFD(hc.fd); err == nil {
		pp.cfd = fd
	}
	hc.st, hc.fd = cPipe, -1
	l.timers.stop(&hc.tm)
	l.conns.remove(hc)
	if c := hc.c; c != nil {
		if n := c.InboundBuffered(); n > 0 {
			b, _ := c.Peek(-1)
			pp.cin = append([]byte(nil), b...)
			hc.consume(n)
		}
		hc.c = nil
		l.closeConn(c) // OnClose ignores a connection in pipe mode
	} else if hc.parked {
		pp.cin, hc.held, hc.parked = hc.held, nil, false
	}
	if fd, err := engine.DupFD(bc.fd); err == nil {
		pp.bfd = fd
	}
	bc.piped = true
	l.timers.stop(&bc.tm)
	if c := bc.c; c != nil {
		if n := c.InboundBuffered(); n > 0 {
			b, _ := c.Peek(-1)
			pp.bin = append([]byte(nil), b...)
			_, _ = c.Discard(n)
		}
		bc.c, bc.fd = nil, -1
		l.closeConn(c)
	}
	hc.p.pipes.add(pp)
	// Start once gnet has closed the connections whose callback is running
	// (their close is the action that callback returns): a task runs after
	// that, so the pipe never races gnet's last look at them.
	_ = l.el.Execute(context.Background(), loopTask(func() { go pp.run() }))
}

// run drives the exchange to its end off the loop, then hands it back.
func (pp *pipe) run() {
	var err error
	if pp.cfd >= 0 {
		if pp.cli, err = engine.FileConn(pp.cfd); err != nil {
			pp.cli = nil
		}
	}
	if pp.bfd >= 0 {
		if pp.be, err = engine.FileConn(pp.bfd); err != nil {
			pp.be = nil
		}
	}
	ex := pp.ex
	switch {
	case pp.cli == nil:
		pp.cliGone = true
		pp.beBroken = true
		pp.fail(FailClientAbort)
	case pp.be == nil:
		pp.beBroken = true
		pp.fail(FailReset)
	default:
		if !ex.reqF.done {
			pp.wg.Add(1)
			go pp.request()
		}
		pp.response()
		pp.wg.Wait()
	}
	pp.back()
}

// fail records f when no failure was recorded yet; with nothing sent to
// the client it is answered there.
func (pp *pipe) fail(f Failure) {
	ex := pp.ex
	if ex.respStarted || pp.cliGone || pp.cli == nil {
		if ex.rec.Status == 0 || ex.rec.Failure == FailNone {
			ex.rec.Failure = f
			if ex.rec.Status == 0 {
				ex.rec.Status = f.Status()
			}
		}
		ex.closing = true
		return
	}
	ex.rec.Status, ex.rec.Failure = f.Status(), f
	ex.closing = true
	body := statusBody(f.Status())
	out := append([]byte(nil), ex.localHead(f.Status(), len(body))...)
	if !ex.isHead {
		out = append(out, body...)
		ex.rec.BytesOut = int64(len(body))
	}
	ex.respStarted = true
	_ = pp.cli.SetWriteDeadline(time.Now().Add(ex.t.timeouts.ClientWrite))
	if _, err := pp.cli.Write(out); err != nil {
		pp.cliGone = true
	}
}

// pipeBuf is the size of the pipe's read buffers (bounded memory per pipe).
const pipeBuf = 64 << 10

// request forwards the rest of the request body.
func (pp *pipe) request() {
	defer pp.wg.Done()
	ex := pp.ex
	cli, be := pp.cli, pp.be
	rt := ex.u.opts.ResponseTimeout
	readTO := ex.t.timeouts.ClientRead
	if len(pp.toBackend) > 0 {
		_ = be.SetWriteDeadline(time.Now().Add(rt))
		if _, err := be.Write(pp.toBackend); err != nil {
			pp.reqFail.Store(uint32(FailReset))
			return
		}
		pp.toBackend = nil
	}
	size := max(pipeBuf, ex.reqF.maxTr+maxChunkLine)
	buf := make([]byte, size)
	out := make([]byte, 0, size+64)
	chunked := ex.reqF.mode == bodyChunked
	in := pp.cin
	pp.cin = nil
	for !ex.reqF.done {
		if len(in) == 0 || len(in) < size && !pp.progress(in) {
			// Read more, keeping the unconsumed bytes at the front.
			k := copy(buf, in)
			_ = cli.SetReadDeadline(time.Now().Add(readTO))
			n, err := cli.Read(buf[k:])
			pp.hc.in += int64(n)
			in = buf[:k+n]
			if n == 0 && err != nil {
				f := FailClientAbort
				if isTimeout(err) {
					f = FailClientTimeout
				}
				pp.reqFail.Store(uint32(f))
				_ = be.Close() // the server never gets a complete request
				return
			}
			continue
		}
		out = out[:0]
		for len(in) > 0 && !ex.reqF.done {
			n, payload, v := ex.reqF.next(in)
			if v != vNone {
				pp.reqFail.Store(uint32(violationFailure(v)))
				_ = be.Close()
				return
			}
			if n == 0 {
				break
			}
			in = in[n:]
			if chunked && len(payload) > 0 {
				out = appendChunkHead(out, len(payload))
				out = append(out, payload...)
				out = append(out, crlf...)
			} else {
				out = append(out, payload...)
			}
			if chunked && ex.reqF.done {
				out = append(out, lastChunk...)
			}
		}
		if len(out) > 0 {
			_ = be.SetWriteDeadline(time.Now().Add(rt))
			if _, err := be.Write(out); err != nil {
				pp.reqFail.Store(uint32(FailReset))
				return
			}
		}
	}
	if len(in) > 0 {
		pp.leftover = true // a pipelined request: not carried over
	}
}

// progress reports whether the framer can consume some of in now (so no
// read is needed first).
func (pp *pipe) progress(in []byte) bool {
	f := pp.ex.reqF
	n, _, v := f.next(in)
	return n > 0 || v != vNone
}

// response reads the response (its head first, when the loop had not got
// it yet) and writes it to the client.
func (pp *pipe) response() {
	ex := pp.ex
	cli, be := pp.cli, pp.be
	rt := ex.u.opts.ResponseTimeout
	wto := ex.t.timeouts.ClientWrite
	if len(pp.toClient) > 0 {
		_ = cli.SetWriteDeadline(time.Now().Add(wto))
		if _, err := cli.Write(pp.toClient); err != nil {
			pp.clientBroke()
			return
		}
		pp.toClient = nil
	}
	buf := make([]byte, pipeBuf+maxRespHead)
	in := pp.bin
	pp.bin = nil
	read := func() error {
		k := copy(buf, in)
		if k == len(buf) {
			return errRespBad
		}
		_ = be.SetReadDeadline(time.Now().Add(rt))
		n, err := be.Read(buf[k:])
		in = buf[:k+n]
		if n > 0 {
			return nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	var out []byte
	if ex.state == xWait {
		var rd bytes.Reader
		br := bufio.NewReaderSize(&rd, maxRespHead+4096)
		for {
			end := headEnd(in, 0)
			if end < 0 {
				if err := read(); err != nil {
					pp.backendFailed(err, true)
					return
				}
				continue
			}
			rd.Reset(in[:end])
			br.Reset(&rd)
			if err := ex.resp.Read(br); err != nil {
				pp.beBroken = true
				pp.fail(FailReset)
				return
			}
			st := ex.resp.StatusCode()
			if st >= 200 || st == fasthttp.StatusSwitchingProtocols {
				if st == fasthttp.StatusSwitchingProtocols {
					// An upgrade whose request stalled on its way out: the
					// tunnel is not carried in pipe mode.
					pp.beBroken = true
					pp.fail(FailUpgrade)
					return
				}
				cl := ex.finalResponse()
				out = ex.appendResponseHead(nil, cl)
				in = in[end:]
				ex.state = xBody
				break
			}
			in = in[end:] // interim 1xx
		}
	}
	for {
		for len(in) > 0 && !ex.respF.done {
			n, payload, v := ex.respF.next(in)
			if v != vNone {
				pp.beBroken = true
				pp.writeClient(out)
				pp.fail(FailReset)
				return
			}
			if n == 0 {
				break
			}
			in = in[n:]
			if len(payload) == 0 {
				continue
			}
			ex.rec.BytesOut += int64(len(payload))
			if ex.outChunked {
				out = appendChunkHead(out, len(payload))
				out = append(out, payload...)
				out = append(out, crlf...)
			} else {
				out = append(out, payload...)
			}
		}
		if ex.respF.done && ex.outChunked {
			out = append(out, lastChunk...)
		}
		if len(out) > 0 {
			if !pp.writeClient(out) {
				return
			}
			out = out[:0]
		}
		if ex.respF.done {
			if len(in) > 0 {
				pp.beBroken = true // bytes after the response: never reuse
			}
			return
		}
		if err := read(); err != nil {
			if ex.respF.mode == bodyEOF && errors.Is(err, io.EOF) {
				ex.respF.done = true
				pp.beBroken = true
				if ex.outChunked {
					pp.writeClient(lastChunk)
				}
				return
			}
			pp.backendFailed(err, false)
			return
		}
	}
}

// writeClient writes b to the client; false when the client is gone.
func (pp *pipe) writeClient(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	_ = pp.cli.SetWriteDeadline(time.Now().Add(pp.ex.t.timeouts.ClientWrite))
	n, err := pp.cli.Write(b)
	if n > 0 {
		pp.ex.respStarted = true
	}
	if err != nil {
		pp.clientBroke()
		return false
	}
	return true
}

// clientBroke: writing to the client failed (gone, or no progress for
// ClientWrite). The server connection is dropped with the exchange.
func (pp *pipe) clientBroke() {
	pp.cliGone = true
	pp.beBroken = true
	_ = pp.be.Close() // ends the request side too
	ex := pp.ex
	if ex.rec.Status == 0 {
		ex.rec.Status = FailClientAbort.Status()
	}
	if ex.rec.Failure == FailNone {
		ex.rec.Failure = FailClientAbort
	}
	ex.closing = true
}

// backendFailed: reading from the server failed (beforeHead: no response
// head yet). A failure of the request side explains it first.
func (pp *pipe) backendFailed(err error, beforeHead bool) {
	pp.beBroken = true
	pp.wg.Wait() // the request side has finished (the connection is broken)
	if f := Failure(pp.reqFail.Load()); f != FailNone && f != FailReset {
		pp.fail(f)
		return
	}
	f := FailReset
	if isTimeout(err) {
		f = FailTimeout
	}
	if beforeHead && pp.ex.obs != nil {
		pp.ex.obs.BackendAttempt(pp.ex.srv, f)
	}
	pp.fail(f)
}

// back hands the connections back to the loop (or closes them) and
// finishes the exchange there.
func (pp *pipe) back() {
	ex, hc, bc, l := pp.ex, pp.hc, pp.bc, pp.l
	if f := Failure(pp.reqFail.Load()); f != FailNone {
		pp.beBroken = true
		if ex.rec.Failure == FailNone || ex.rec.Status == 0 {
			pp.fail(f)
		}
		ex.closing = true
	}
	if pp.leftover {
		ex.closing = true
	}
	keepBackend := pp.be != nil && !pp.beBroken && !ex.respClose && ex.respF.done && ex.reqF.done && !bc.private
	if keepBackend {
		// A new bconn: the loop may still look at the old one's flags.
		nb := &bconn{u: bc.u, l: l, fd: -1, uses: bc.uses}
		nb.tm.owner = nb
		if err := l.eng.EnrollOn(l.el, pp.be, nb); err != nil {
			bc.u.open.Add(-1)
		}
	} else {
		if pp.be != nil {
			_ = pp.be.Close()
		}
		bc.u.open.Add(-1)
	}
	ex.bc = nil
	hc.p.pipes.remove(pp)
	keepClient := pp.cli != nil && !pp.cliGone && !ex.closing && !hc.closing && ex.respF.done && ex.reqF.done
	if keepClient {
		if err := l.eng.EnrollOn(l.el, pp.cli, hc); err == nil {
			return // hc.OnOpen finishes the exchange on the loop
		}
	} else if pp.cli != nil {
		_ = pp.cli.Close()
	}
	_ = l.el.Execute(context.Background(), loopTask(hc.pipeEnded))
}

// pipeEnded runs on the loop when a piped exchange ended and its client
// connection was not handed back (it is closed).
func (hc *hconn) pipeEnded() {
	ex := hc.ex
	hc.st, hc.c = cBusy, nil
	hc.closing = true
	ex.finish()
}

// resumed runs on the loop (OnOpen) when a piped exchange handed its
// client connection back: the exchange finishes, the connection goes on.
func (hc *hconn) resumed() {
	hc.st = cBusy
	hc.l.conns.add(hc)
	hc.ex.finish()
}

// abort closes the pipe's connections (a forced shutdown): both sides
// return at once.
func (pp *pipe) abort() {
	if c := pp.cli; c != nil {
		_ = c.Close()
	}
	if c := pp.be; c != nil {
		_ = c.Close()
	}
}

// pipeSet tracks a Proxy's pipes for a forced shutdown.
type pipeSet struct {
	mu sync.Mutex
	m  map[*pipe]struct{}
}

func (s *pipeSet) add(pp *pipe) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[*pipe]struct{})
	}
	s.m[pp] = struct{}{}
	s.mu.Unlock()
}

func (s *pipeSet) remove(pp *pipe) {
	s.mu.Lock()
	delete(s.m, pp)
	s.mu.Unlock()
}

func (s *pipeSet) abortAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pp := range s.m {
		pp.abort()
	}
}

// appendChunkHead appends the chunk-size line for n payload bytes.
func appendChunkHead(b []byte, n int) []byte {
	var tmp [16]byte
	return append(append(b, hexSize(&tmp, n)...), '\r', '\n')
}

// hexSize formats n in lower-case hex into tmp.
func hexSize(tmp *[16]byte, n int) []byte {
	i := len(tmp)
	if n == 0 {
		i--
		tmp[i] = '0'
	}
	for ; n > 0; n >>= 4 {
		i--
		tmp[i] = "0123456789abcdef"[n&15]
	}
	return tmp[i:]
}

// count is the number of pipes running (tests).
func (s *pipeSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
