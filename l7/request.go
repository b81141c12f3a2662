package l7

import (
	"encoding/base64"
	"errors"
	"io"

	"github.com/panjf2000/gnet/v2"
	"github.com/sluicelb/sluice/engine"
	"golang.org/x/sys/unix"
)

// The request side of an exchange: the head and the body on their way to
// the server, and what ends an exchange from the client's side.

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// sendTo sends the request on bc (a pooled connection, or one just dialed),
// with the body bytes the client has already sent.
func (ex *exchange) sendTo(bc *bconn) {
	ex.bc, bc.ex = bc, ex
	bc.uses++
	l := ex.l
	l.timers.stop(&bc.tm)
	q := &l.wq
	q.reset()
	if !bc.headSent {
		l.scr = ex.appendRequestHead(l.scr[:0])
		q.add(l.scr)
	}
	ex.reqSent = true
	ex.state = xWait
	ex.rscan = 0
	if ex.hc.parked {
		// The client's body outgrew what is held while connecting: the
		// exchange goes on in pipe mode, head first.
		var head []byte
		if !bc.headSent {
			head = append(head, l.scr...)
		}
		ex.toPipe(head, nil)
		return
	}
	consumed := ex.queueRequestBody(q)
	if consumed < 0 {
		return
	}
	if !ex.writeBackend(q, consumed) {
		return
	}
	l.timers.arm(&bc.tm, l.now(), ex.u.opts.ResponseTimeout)
	if !ex.reqF.done {
		ex.pumpRequest()
	}
}

// queueRequestBody queues the request body bytes the client has sent so far
// (re-framed when chunked) and returns how many client bytes that covers,
// or -1 after a body violation (answered).
func (ex *exchange) queueRequestBody(q *writeQueue) int {
	hc := ex.hc
	if ex.reqF.done || hc.c == nil {
		return 0
	}
	b, _ := hc.c.Peek(-1)
	off := 0
	chunked := ex.reqF.mode == bodyChunked
	for off < len(b) && !ex.reqF.done && !q.full() {
		n, payload, v := ex.reqF.next(b[off:])
		if v != vNone {
			ex.bodyViolation(v)
			return -1
		}
		if n == 0 {
			break
		}
		off += n
		if chunked && len(payload) > 0 {
			q.addChunkHead(len(payload))
			q.add(payload)
			q.addSmall(crlf)
		} else {
			q.add(payload)
		}
		if chunked && ex.reqF.done {
			q.addSmall(lastChunk)
		}
	}
	return off
}

// pumpRequest forwards the request body bytes the client sent.
func (ex *exchange) pumpRequest() {
	q := &ex.l.wq
	for !ex.reqF.done {
		q.reset()
		consumed := ex.queueRequestBody(q)
		if consumed <= 0 {
			break
		}
		if !ex.writeBackend(q, consumed) {
			return
		}
	}
	hc := ex.hc
	if ex.reqF.done {
		ex.l.timers.stop(&hc.tm)
	} else if hc.eof {
		ex.clientAbort()
	} else {
		ex.l.timers.arm(&hc.tm, ex.l.now(), ex.t.timeouts.ClientRead)
	}
}

// writeBackend writes q to the backend; consumed client bytes are dropped
// once the kernel took them. false: the exchange did not go on here (it
// failed, or moved to pipe mode).
func (ex *exchange) writeBackend(q *writeQueue, consumed int) bool {
	bc := ex.bc
	n, err := q.flush(bc.fd)
	if err == nil {
		if consumed > 0 {
			ex.hc.consume(consumed)
			ex.bodySent = true
		}
		return true
	}
	if err == unix.EAGAIN {
		rest := q.rest(nil, n)
		if consumed > 0 {
			ex.hc.consume(consumed)
			ex.bodySent = true
		}
		ex.toPipe(rest, nil)
		return false
	}
	// The server's side is gone. On a pooled connection before any reply
	// this is the keep-alive race: the server closed it while it idled.
	ex.bc, bc.ex = nil, nil
	bc.close()
	if !ex.stale(bc, n == 0 && !ex.bodySent) {
		ex.attemptFailed(FailReset)
	}
	return false
}

// stale handles a reused pooled connection that broke before any byte of a
// response came back: the keep-alive race (the server closed it while it
// sat idle, and the close crossed the request). unsent: not one request
// byte was written. It is FailStale or FailStaleUnsent in the failure table:
// never counted against the server; the request goes once more on a
// connection dialed to the same server when RetrySafe allows (nothing is
// reported then), else 502. false: bc was not a reused connection (an
// ordinary failure).
func (ex *exchange) stale(bc *bconn, unsent bool) bool {
	if bc.uses < 2 {
		return false
	}
	f := FailStale
	if unsent {
		f = FailStaleUnsent
	}
	if !ex.staleRetried && !ex.respStarted && !ex.bodySent && f.RetrySafe(ex.idem, ex.hasBody) {
		ex.staleRetried = true
		ex.reqSent = false
		ex.dial(ex.u)
		return true
	}
	ex.attemptFailed(f)
	return true
}

// Bounds of what a client may send ahead while it cannot be forwarded.
const (
	// maxHeldBody: request body bytes that arrive while the backend
	// connection is being made (or a slot awaited); past it the client
	// connection is parked: gnet stops reading it, TCP flow control holds
	// the client back, and the exchange goes on in pipe mode.
	maxHeldBody = 256 << 10
	// maxPipelined: bytes of following requests sent while a response is
	// pending, beyond one head's worth; past it they are dropped and the
	// connection closes after the response.
	maxPipelined = 64 << 10
)

// fromClient handles client bytes while an exchange runs: request body
// bytes, or the start of a pipelined request (left buffered).
func (ex *exchange) fromClient() {
	hc := ex.hc
	switch ex.state {
	case xPrime:
		if ex.primed() {
			ex.forward()
		}
	case xDial, xQueue:
		if hc.c != nil && hc.c.InboundBuffered() > maxHeldBody {
			hc.park()
		}
	case xWait, xBody:
		if !ex.reqF.done && ex.reqSent {
			ex.pumpRequest()
		} else if ex.reqF.done && hc.c != nil && hc.c.InboundBuffered() > ex.t.limits.MaxHeaderBytes+maxPipelined {
			ex.closing = true
			hc.consume(hc.c.InboundBuffered())
		}
	}
}

// appendRequestHead serializes the request head for the server, as
// fasthttp's Request.Write would: origin-form target from the parsed URI
// (path untouched), Host from it, and the body framing sluice forwards.
func (ex *exchange) appendRequestHead(b []byte) []byte {
	req := &ex.req
	h := &req.Header
	uri := req.URI()
	uri.DisablePathNormalizing = true
	h.SetHostBytes(uri.Host())
	if user := uri.Username(); len(user) > 0 {
		ex.buf = appendBasicAuth(ex.buf[:0], user, uri.Password())
		h.SetBytesKV(strAuthorization, ex.buf)
	}
	h.SetRequestURIBytes(uri.RequestURI())
	switch ex.reqF.mode {
	case bodyLength:
		h.SetContentLength(int(ex.reqF.remain))
	case bodyChunked:
		h.SetContentLength(-1)
	}
	return h.AppendBytes(b)
}

// dropBackend lets go of the backend connection mid-exchange (closed: it may
// hold half a request or half a response) and of a dial in progress.
func (ex *exchange) dropBackend() {
	if bc := ex.bc; bc != nil {
		ex.bc, bc.ex = nil, nil
		if ex.state != xDial {
			bc.close()
		}
	}
	if ex.state == xQueue {
		ex.unqueue()
		ex.state = xStart
	}
}

// clientGone: the client connection closed while ex runs. A client that
// half-closed after a complete request still gets its response (on a
// duplicate of the socket); otherwise the exchange is abandoned. true: it
// goes on.
func (ex *exchange) clientGone(c gnet.Conn, err error) bool {
	hc := ex.hc
	if errors.Is(err, io.EOF) && ex.reqF.done && !hc.ownFD {
		if fd, derr := engine.DupFD(hc.fd); derr == nil {
			hc.fd, hc.ownFD, hc.eof = fd, true, true
			hc.l.conns.remove(hc)
			return true
		}
	}
	hc.fd = -1
	ex.clientAbort()
	return false
}

// clientAbort ends the exchange for a client that went away or broke off.
func (ex *exchange) clientAbort() {
	ex.dropBackend()
	if ex.rec.Status == 0 {
		ex.rec.Status, ex.rec.Failure = FailClientAbort.Status(), FailClientAbort
	}
	ex.closing = true
	ex.finish()
}

// clientTimeout: the client's timer fired while ex runs (ClientRead while
// a body is due, or the wait of a queued request).
func (ex *exchange) clientTimeout() {
	if ex.state == xQueue {
		ex.unqueue()
		ex.state = xStart
		ex.localError(FailPoolFull)
		return
	}
	if !ex.reqF.done {
		ex.localError(FailClientTimeout)
	}
}

// bodyViolation: the request body broke its framing (or the body limit).
// The server never gets a complete request: its connection is closed.
func (ex *exchange) bodyViolation(v violation) {
	ex.localError(violationFailure(v))
}

var strAuthorization = []byte("Authorization")

// appendBasicAuth appends "Basic base64(user:password)".
func appendBasicAuth(dst, user, password []byte) []byte {
	raw := make([]byte, 0, len(user)+len(password)+1)
	raw = append(append(append(raw, user...), ':'), password...)
	dst = append(dst, "Basic "...)
	n := base64.StdEncoding.EncodedLen(len(raw))
	dst = append(dst, make([]byte, n)...)
	base64.StdEncoding.Encode(dst[len(dst)-n:], raw)
	return dst
}
