package l7

import (
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
)

// localError answers the client with f's status (a response of sluice's
// own: 4xx for the client's faults, 502/503/504 for the backend's) and
// finishes the exchange. When response bytes already went out, all it can
// do is cut the response: the client connection closes.
func (ex *exchange) localError(f Failure) {
	st := f.Status()
	ex.rec.Status, ex.rec.Failure = st, f
	ex.dropBackend()
	if ex.respStarted {
		ex.closing = true
		ex.finish()
		return
	}
	switch f {
	case FailBadRequest, FailHeadTooLarge, FailBodyTooLarge, FailClientTimeout, FailClientAbort, FailUpgrade:
		ex.closing = true
	case FailDenied:
		if ex.hc.denied {
			ex.closing = true // the connection itself was refused
		} // else one client of a trusted proxy: its other clients go on
	}
	if !ex.reqF.done {
		ex.closing = true // the rest of the body is not read
	}
	body := statusBody(st)
	q := &ex.l.wq
	q.reset()
	q.add(ex.localHead(st, len(body)))
	if !ex.isHead {
		q.add(body)
		ex.rec.BytesOut = int64(len(body))
	}
	ex.respStarted = true
	ex.report() // before the client can read the answer
	ex.writeClientFinal(q)
	ex.finish()
}

// localHead is the head of a local answer with a body of n bytes.
func (ex *exchange) localHead(st, n int) []byte {
	b := ex.scratch[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(st), 10)
	b = append(b, ' ')
	b = append(b, fasthttp.StatusMessage(st)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, "\r\n"...)
	if st == fasthttp.StatusTooManyRequests {
		b = append(b, "Retry-After: "...)
		b = strconv.AppendInt(b, int64(max(ex.retryAfter, 1)), 10)
		b = append(b, "\r\n"...)
	}
	if hsts := ex.t.hsts; hsts != nil && ex.hc.tls {
		b = append(b, "Strict-Transport-Security: "...)
		b = append(b, hsts...)
		b = append(b, "\r\n"...)
	}
	b = ex.appendConnection(b)
	b = append(b, "\r\n"...)
	ex.scratch = b
	return b
}

// appendConnection adds the Connection field the client needs: close when
// the connection ends after this response, keep-alive for an HTTP/1.0
// client that keeps it (as fasthttp's server does).
//
// A drain closes the connection after every response that starts once it
// has begun (and only those: a connection whose last response said
// keep-alive stays open for the client's next request).
func (ex *exchange) appendConnection(b []byte) []byte {
	if ex.closing || ex.hc.closing || ex.hc.p.draining.Load() {
		ex.closing = true
		return append(b, "Connection: close\r\n"...)
	}
	if ex.http10 {
		return append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}

var statusBodies sync.Map // int → []byte, filled once per status

func statusBody(st int) []byte {
	if b, ok := statusBodies.Load(st); ok {
		return b.([]byte)
	}
	b := []byte(strconv.Itoa(st) + " " + fasthttp.StatusMessage(st) + "\n")
	statusBodies.Store(st, b)
	return b
}

// isIdempotent: RFC 9110 §9.2.2.
func isIdempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func violationFailure(v violation) Failure {
	switch v {
	case vHeadTooLarge:
		return FailHeadTooLarge
	case vBodyTooLarge:
		return FailBodyTooLarge
	}
	return FailBadRequest
}
