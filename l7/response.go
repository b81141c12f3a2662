package l7

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// The response side of an exchange: the server's head and body, written to
// the client as they come.

// maxRespHead bounds a response head from a server (over it: 502).
const maxRespHead = 64 << 10

var errRespBad = errors.New("sluice: malformed response from the server")

// fromBackend handles bytes from the server: the response head, then the
// body, written to the client as they come.
func (ex *exchange) fromBackend() {
	bc := ex.bc
	for bc.c != nil && ex.bc == bc {
		b, _ := bc.c.Peek(-1)
		if len(b) == 0 {
			break
		}
		q := &ex.l.wq
		q.reset()
		off := 0
		if ex.state == xWait {
			end := headEnd(b, ex.rscan)
			if end < 0 {
				ex.rscan = max(len(b)-3, 0)
				if len(b) > maxRespHead {
					ex.backendBroken(FailReset)
				}
				return
			}
			if !ex.responseHead(b[:end]) {
				return
			}
			if ex.state == xWait { // an interim 1xx: skip it
				_, _ = bc.c.Discard(end)
				ex.rscan = 0
				continue
			}
			if ex.state != xBody {
				return // upgraded
			}
			off = end
			q.add(ex.l.scr)
		}
		for off < len(b) && !ex.respF.done && !q.full() {
			n, payload, v := ex.respF.next(b[off:])
			if v != vNone {
				ex.backendBroken(FailReset)
				return
			}
			if n == 0 {
				break
			}
			off += n
			if len(payload) == 0 {
				continue
			}
			ex.rec.BytesOut += int64(len(payload))
			if ex.outChunked {
				q.addChunkHead(len(payload))
				q.add(payload)
				q.addSmall(crlf)
			} else {
				q.add(payload)
			}
		}
		if ex.respF.done && ex.outChunked {
			q.addSmall(lastChunk)
		}
		if !ex.writeClient(q, bc.c, off) {
			return
		}
		if ex.respF.done {
			ex.responseDone()
			return
		}
		if off < len(b) && !q.full() {
			break // an incomplete chunk-size line: wait for more
		}
	}
	if ex.bc == bc && bc.c != nil {
		ex.l.timers.arm(&bc.tm, ex.l.now(), ex.u.opts.ResponseTimeout)
	}
}

// headEnd returns the length of the head at the start of b (through its
// empty line), or -1 when it has not all arrived; the search starts at from.
func headEnd(b []byte, from int) int {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		k := i + j
		if k >= 1 && b[k-1] == '\n' || k >= 2 && b[k-1] == '\r' && b[k-2] == '\n' {
			return k + 1
		}
		i = k + 1
	}
}

// responseHead parses the response head; for a final response it decides
// the framing both ways and serializes the head for the client into l.scr.
// false: the exchange ended or left the loop.
func (ex *exchange) responseHead(head []byte) bool {
	l := ex.l
	l.rd.Reset(head)
	l.br.Reset(&l.rd)
	h := &ex.resp
	if err := h.Read(l.br); err != nil {
		ex.backendBroken(FailReset)
		return false
	}
	st := h.StatusCode()
	if st == fasthttp.StatusSwitchingProtocols {
		if !ex.upgrade {
			ex.backendBroken(FailReset)
			return false
		}
		ex.upgraded()
		return false
	}
	if st < 200 {
		return true // interim: the caller skips it
	}
	cl := ex.finalResponse()
	l.scr = ex.appendResponseHead(l.scr[:0], cl)
	ex.state = xBody
	return true
}

// finalResponse handles a final (non-1xx) response head parsed into
// ex.resp: it reports the attempt, decides the body framing from the server
// and toward the client, and applies hop-by-hop removal and the route's
// rules. It returns the Content-Length the server announced (for a body-less
// response that keeps it).
func (ex *exchange) finalResponse() int {
	h := &ex.resp
	st := h.StatusCode()
	f := FailNone
	if st >= 500 {
		f = FailStatus5xx
	}
	if ex.obs != nil {
		ex.obs.BackendAttempt(ex.srv, f)
	}
	ex.rec.Failure = f
	ex.respClose = h.ConnectionClose() || ex.http10
	cl := h.ContentLength()
	switch {
	case ex.isHead || st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified:
		ex.respF.reset(bodyNone, 0)
	case cl >= 0:
		ex.respF.reset(bodyLength, int64(cl))
	case cl == -1:
		ex.respF.reset(bodyChunked, 0)
	default:
		ex.respF.reset(bodyEOF, 0)
		ex.respClose = true
	}
	if ex.upgrade {
		// A refused upgrade: the client may already send tunnel bytes.
		ex.closing = true
	}
	if !ex.reqF.done {
		ex.closing = true // an early answer: the rest of the body is not read
	}
	ex.scratch = stripHopResponse(h, ex.scratch)
	if hsts := ex.t.hsts; hsts != nil && ex.hc.tls {
		h.SetCanonical(strHSTS, hsts)
	}
	if rt := ex.route; rt != nil {
		rt.resHeaders.applyResponse(h)
	}
	ex.rec.Status = h.StatusCode()
	return cl
}

// appendResponseHead serializes the response head for the client: the
// server's fields after hop-by-hop removal and the route's rules, with the
// framing and connection fields sluice decides.
func (ex *exchange) appendResponseHead(b []byte, cl int) []byte {
	h := &ex.resp
	st := h.StatusCode()
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(st), 10)
	b = append(b, ' ')
	if msg := h.StatusMessage(); len(msg) > 0 {
		b = append(b, msg...)
	} else {
		b = append(b, fasthttp.StatusMessage(st)...)
	}
	b = append(b, "\r\n"...)
	for k, v := range h.All() {
		if asciiEqualFold(k, "Content-Length") || asciiEqualFold(k, "Transfer-Encoding") || asciiEqualFold(k, "Connection") {
			continue
		}
		b = append(b, k...)
		b = append(b, ':', ' ')
		b = append(b, v...)
		b = append(b, '\r', '\n')
	}
	switch ex.respF.mode {
	case bodyLength:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, ex.respF.remain, 10)
		b = append(b, "\r\n"...)
	case bodyChunked, bodyEOF:
		if ex.http10 {
			ex.closing = true // delimited by the close
		} else {
			ex.outChunked = true
			b = append(b, "Transfer-Encoding: chunked\r\n"...)
		}
	case bodyNone:
		if cl >= 0 && st != fasthttp.StatusNoContent && st >= 200 {
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, int64(cl), 10)
			b = append(b, "\r\n"...)
		}
	}
	if ex.sticky != nil && ex.srv != ex.pref {
		// The client is placed (again): pin it to the server that answered.
		if c := ex.sticky.setCookie(ex.srv, ex.hc.tls); c != nil {
			b = append(b, "Set-Cookie: "...)
			b = append(b, c...)
			b = append(b, "\r\n"...)
		}
	}
	b = ex.appendConnection(b)
	return append(b, "\r\n"...)
}

// writeClient writes q to the client; consumed bytes of src (the backend
// connection) are dropped once the kernel took them. false: the exchange
// did not go on here.
func (ex *exchange) writeClient(q *writeQueue, src gnet.Conn, consumed int) bool {
	hc := ex.hc
	flags := 0
	if ex.respF.done && ex.closing {
		// The connection closes right after (responseDone or finish):
		// MSG_MORE holds back the last partial segment, so that close(2)
		// sends it with the FIN in one packet instead of two.
		flags = unix.MSG_MORE
	}
	n, err := q.send(hc.fd, flags)
	if err == nil {
		ex.respStarted = true
		if consumed > 0 && src != nil {
			_, _ = src.Discard(consumed)
		}
		return true
	}
	if n > 0 {
		ex.respStarted = true
	}
	if err == unix.EAGAIN {
		rest := q.rest(nil, n)
		if consumed > 0 && src != nil {
			_, _ = src.Discard(consumed)
		}
		ex.toPipe(nil, rest)
		return false
	}
	ex.clientAbort()
	return false
}

// writeClientFinal writes a last answer (a local error): what the kernel
// does not take at once is dropped, as the connection ends or the client is
// not reading anyway.
func (ex *exchange) writeClientFinal(q *writeQueue) {
	if ex.hc.fd < 0 {
		return
	}
	if _, err := q.flush(ex.hc.fd); err != nil {
		ex.closing = true
	}
}

// writeClientRaw writes b (a 100 Continue) to the client.
func (ex *exchange) writeClientRaw(b []byte) {
	q := &ex.l.wq
	q.reset()
	q.add(b)
	ex.writeClientFinal(q)
}

// responseDone ends an exchange whose response went out whole.
func (ex *exchange) responseDone() {
	if bc := ex.bc; bc != nil {
		ex.bc, bc.ex = nil, nil
		if !ex.respClose && ex.reqF.done && !bc.closed && bc.c != nil && !bc.private {
			ex.l.pool(bc.u).put(bc)
		} else {
			bc.close()
		}
	}
	ex.finish()
}

// backendClosed: the server closed the connection (OnClose) while ex used it.
func (ex *exchange) backendClosed(c gnet.Conn, err error) {
	bc := ex.bc
	if ex.state == xBody {
		// Bytes that arrived with the close are still buffered.
		bc.c = c
		ex.fromBackend()
		bc.c = nil
		if ex.bc != bc {
			return
		}
	}
	ex.bc, bc.ex = nil, nil
	switch ex.state {
	case xWait:
		if c.InboundBuffered() == 0 && ex.rscan == 0 && ex.stale(bc, false) {
			return
		}
		ex.attemptFailed(FailReset)
	case xBody:
		if ex.respF.mode == bodyEOF {
			ex.respF.done = true
			if ex.outChunked {
				q := &ex.l.wq
				q.reset()
				q.addSmall(lastChunk)
				if !ex.writeClient(q, nil, 0) {
					return
				}
			}
			ex.finish()
			return
		}
		// Cut short: the client gets what came, then the close.
		ex.rec.Failure = FailReset
		ex.closing = true
		ex.finish()
	}
}

// backendBroken: the server sent something that is not valid HTTP.
func (ex *exchange) backendBroken(f Failure) {
	bc := ex.bc
	ex.bc, bc.ex = nil, nil
	bc.close()
	if ex.state == xWait {
		ex.attemptFailed(f)
		return
	}
	ex.rec.Failure = f
	ex.closing = true
	ex.finish()
}

// backendTimeout: the server was silent for ResponseTimeout.
func (ex *exchange) backendTimeout() {
	if ex.state == xWait {
		bc := ex.bc
		ex.bc, bc.ex = nil, nil
		bc.close()
		ex.attemptFailed(FailTimeout)
		return
	}
	ex.backendBroken(FailTimeout)
}
