package l7

import (
	"bufio"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/valyala/fasthttp"
)

// exchange is one request and its response on the event loop: from the
// complete head until the last response byte was written (or a failure was
// answered). It is recycled through its loop's free list, so a keep-alive
// request allocates nothing. Loop-owned (pipe mode takes it over, pipe.go).
type exchange struct {
	l    *rloop
	req  fasthttp.Request        // the head (and URI); bodies never pass through it
	resp fasthttp.ResponseHeader // the backend's response head
	rec  Record

	upgradeVal []byte
	scratch    []byte
	buf        []byte
	next       *exchange // free list

	xstate // zeroed for every request
}

// xstate is the per-request part of an exchange.
type xstate struct {
	hc  *hconn
	t   *table
	obs Observer

	route *compiledRoute
	be    *Backend
	key   uint64
	tried balance.Tried
	srv   *balance.Server // the server of the current attempt (picked, not yet released)
	u     *upstream
	bc    *bconn

	reqF, respF  framer
	state        uint8
	reqSent      bool // the head went to the current backend connection
	bodySent     bool // request body bytes went to a backend (no retry then)
	respStarted  bool // response bytes went to the client
	closing      bool // the client connection closes after this response
	http10       bool
	isHead       bool
	idem         bool
	hasBody      bool
	upgrade      bool
	queued       bool
	reported     bool
	staleRetried bool              // the request went again after a stale pooled connection
	requeues     int               // see queue
	qbal         *balance.Balancer // the balancer ex waits on while queued
	outChunked   bool              // the response goes to the client chunked
	respClose    bool              // the backend connection cannot be reused after this response
	fail         Failure
	retryAfter   int
	rscan        int // the search for the end of the response head resumes here

	connectRetries, otherRetries int

	sticky *stickyTable    // the backend's sticky sessions (nil: off)
	pref   *balance.Server // the server the request's cookie names
}

// exchange states.
const (
	xStart uint8 = iota // routing, checks
	xPrime              // receiving the start of the body before forwarding (primed)
	xDial               // waiting for a backend connection (dial)
	xQueue              // waiting for a server slot (max_connections_per_server)
	xWait               // request sent; waiting for the response head
	xBody               // response body flowing
	xDone
)

func (l *rloop) newExchange(hc *hconn) *exchange {
	ex := l.freeEx
	if ex != nil {
		l.freeEx = ex.next
		ex.next = nil
	} else {
		ex = &exchange{l: l}
		ex.req.Header.SetNoDefaultContentType(true)
		ex.resp.SetNoDefaultContentType(true)
	}
	t := hc.t
	if cur := hc.p.table.Load(); cur != nil {
		t = cur
	}
	ex.hc, ex.l, ex.t, ex.obs = hc, l, t, t.observer
	ex.fail = FailNoServer
	r := &ex.rec
	r.Frontend = t.frontend
	r.Start = time.Now()
	r.ClientIP = hc.ip
	return ex
}

// recycle resets ex and puts it on the free list.
func (ex *exchange) recycle() {
	l := ex.l
	ex.req.Reset() // also forgets the parsed URI
	ex.req.Header.SetNoDefaultContentType(true)
	ex.resp.Reset()
	ex.resp.SetNoDefaultContentType(true)
	r := &ex.rec
	*r = Record{Method: r.Method[:0], Host: r.Host[:0], Path: r.Path[:0]}
	ex.xstate = xstate{}
	ex.next = l.freeEx
	l.freeEx = ex
}

// parseHead parses the framed head with fasthttp (it never waits: the
// reader holds exactly the head).
func (ex *exchange) parseHead(head []byte) error {
	l := ex.l
	l.rd.Reset(head)
	if l.br.Size() < len(head) {
		l.br = bufio.NewReaderSize(&l.rd, len(head)+4096)
	} else {
		l.br.Reset(&l.rd)
	}
	return ex.req.Header.Read(l.br)
}

// begin routes the request, applies the frontend's rules and starts
// forwarding. err is fasthttp's verdict on the head (defence in depth: the
// pre-parser has already accepted it).
func (ex *exchange) begin(err error, hs *headState) {
	hc := ex.hc
	req := &ex.req
	h := &req.Header
	uri := req.URI()
	r := &ex.rec
	r.Method = append(r.Method[:0], h.Method()...)
	r.Host = append(r.Host[:0], uri.Host()...)
	r.Path = append(r.Path[:0], uri.Path()...)
	ex.isHead = h.IsHead()
	ex.http10 = !h.IsHTTP11()
	if hc.closing || h.ConnectionClose() {
		ex.closing = true
	}
	switch {
	case hs.chunked():
		ex.reqF.reset(bodyChunked, 0)
		ex.reqF.strict = true
		ex.reqF.max = ex.t.limits.MaxBodyBytes
		ex.reqF.maxTr = ex.t.limits.MaxHeaderBytes
		ex.hasBody = true
	case hs.cl > 0:
		ex.reqF.reset(bodyLength, hs.cl)
		ex.hasBody = true
	default:
		ex.reqF.reset(bodyNone, 0)
	}
	if err != nil {
		ex.localError(FailBadRequest)
		return
	}
	if hc.denied {
		ex.localError(FailDenied)
		return
	}
	t := ex.t
	ex.upgrade = hs.upgrade && h.ConnectionUpgrade()
	if ex.upgrade {
		ex.upgradeVal = append(ex.upgradeVal[:0], h.Peek(fasthttp.HeaderUpgrade)...)
	}
	mayContinue := req.MayContinue()
	ex.scratch = stripHopRequest(h, ex.scratch)
	if mayContinue || len(h.PeekCanonical(strExpect)) > 0 {
		h.DelBytes(strExpect) // answered here (below)
	}
	peer := r.ClientIP
	trusted := t.trusted.Contains(peer)
	client, buf := setForwarded(t, h, peer, trusted, hc.tls, uri.Host(), ex.buf)
	ex.buf = buf
	r.ClientIP = client
	// A trusted proxy relays many clients over one connection: the access
	// lists judge each request's client (the accept-time check skipped it).
	if t.guard != nil && (trusted || hc.aclEach) && !t.guard.AllowClient(client) {
		ex.localError(FailDenied)
		return
	}
	rt := t.match(uri.Host(), uri.Path(), h.Method())
	be := t.def
	if rt != nil {
		be = rt.backend
		r.Route = rt.name
	}
	if be == nil {
		ex.localError(FailNoRoute)
		return
	}
	ex.route, ex.be = rt, be
	r.Backend = be.opts.Name
	if ok, ra := allowRequest(t, req, be, client); !ok {
		ex.retryAfter = ra
		ex.localError(FailRateLimited)
		return
	}
	if rt != nil {
		rt.reqHeaders.applyRequest(h)
	}
	if ex.upgrade {
		h.SetBytesV(fasthttp.HeaderUpgrade, ex.upgradeVal)
		h.Set(fasthttp.HeaderConnection, "Upgrade")
	}
	ex.idem = isIdempotent(h.Method())
	ex.key = balance.KeyIP(client)
	if mayContinue && ex.hasBody && !ex.reqF.done {
		if hc.c == nil || hc.c.InboundBuffered() == 0 {
			ex.writeClientRaw(resp100Continue)
		}
	}
	if ex.hasBody {
		ex.state = xPrime
		if !ex.primed() {
			return
		}
	}
	ex.forward()
}

var (
	resp100Continue = []byte("HTTP/1.1 100 Continue\r\n\r\n")
	strExpect       = []byte("Expect")
)

// preRead is how much of a request body is received before the request
// goes to a server: a body up to this size arrives whole first (so a server
// never waits on a slow client for a small body, as nginx's request
// buffering and fasthttp's pre-read do), a larger one streams from there.
const preRead = 8 << 10

// primed checks, before anything is forwarded, the body bytes already
// received (without consuming them): a malformed start of a chunked body is
// refused with nothing sent. It is ready to forward when the body is whole,
// or preRead bytes of it have arrived (for a chunked body, and its first
// chunk-size line). false: it answered, or it waits for more (ClientRead).
func (ex *exchange) primed() bool {
	hc := ex.hc
	var b []byte
	if hc.c != nil {
		b, _ = hc.c.Peek(-1)
	} else if hc.parked {
		b = hc.held
	}
	f := ex.reqF // a copy: nothing is consumed here
	got := 0
	for len(b) > 0 && !f.done && got < preRead {
		n, _, v := f.next(b)
		if v != vNone {
			ex.localError(violationFailure(v))
			return false
		}
		if n == 0 {
			break
		}
		b = b[n:]
		got += n
	}
	if f.done || got >= preRead && (f.mode != bodyChunked || f.nchunks > 0) {
		return true
	}
	if hc.eof {
		ex.localError(FailClientAbort)
		return false
	}
	ex.l.timers.arm(&hc.tm, ex.l.now(), ex.t.timeouts.ClientRead)
	return false
}

// forward picks a server and sends the request on a pooled or new
// connection, retrying as failure.go allows. It runs again after every
// failed attempt.
func (ex *exchange) forward() {
	be := ex.be
	bal := be.bal.Load()
	for {
		var srv *balance.Server
		if ex.rec.Attempts == 0 && !ex.queued {
			// Sticky sessions: the first attempt goes to the server the
			// cookie names while it can serve (sticky.go).
			ex.sticky, ex.pref = be.stickyPreference(&ex.req.Header)
		}
		if ex.sticky != nil && ex.rec.Attempts == 0 {
			srv, _ = bal.PickPreferred(ex.pref, ex.key, &ex.tried)
		} else {
			srv = bal.Pick(ex.key, &ex.tried)
		}
		if srv == nil && ex.fail == FailNoServer && be.limited(bal) {
			if ex.queue(bal) {
				return
			}
			continue // a slot is free now
		}
		if srv == nil {
			if ex.queued && ex.fail == FailNoServer {
				ex.fail = FailPoolFull
			}
			ex.localError(ex.fail)
			return
		}
		if ex.queued {
			ex.l.timers.stop(&ex.hc.tm) // the wait's deadline
		}
		ex.rec.Attempts++
		ex.rec.Server, ex.rec.ServerAddr = srv, srv.Addr()
		ex.srv = srv
		if uri := ex.req.URI(); len(uri.Host()) == 0 {
			// HTTP/1.0 without Host: name the server, as a backend needs one.
			uri.SetHost(srv.Addr())
		}
		u := be.upstreamOf(srv)
		ex.u = u
		if sendsProxy(srv) {
			// A connection with a PROXY header speaks for one client:
			// never pooled, dialed for each request.
			ex.dial(u)
			return
		}
		if bc := ex.l.pool(u).get(); bc != nil {
			ex.sendTo(bc)
			return
		}
		ex.dial(u)
		return
	}
}

// attemptFailed ends the current attempt with f and tries another server,
// or answers f, as the failure table says.
func (ex *exchange) attemptFailed(f Failure) {
	srv := ex.srv
	if ex.obs != nil && srv != nil {
		ex.obs.BackendAttempt(srv, f)
	}
	if srv != nil {
		srv.Release()
	}
	ex.srv, ex.u, ex.bc = nil, nil, nil
	ex.reqSent = false
	ex.state = xStart
	ex.fail = f
	if ex.bodySent || ex.respStarted || f.RetryFresh() || !f.RetrySafe(ex.idem, ex.hasBody) {
		// (A stale connection is retried only on the same server, by stale.)
		ex.localError(f)
		return
	}
	if failures[f].retry == retryAlways {
		if ex.connectRetries++; ex.connectRetries > maxConnectRetries {
			ex.localError(f)
			return
		}
	} else if ex.otherRetries++; ex.otherRetries > 1 {
		ex.localError(f)
		return
	}
	ex.forward()
}

// finish reports the request and recycles ex; the client connection goes on
// (next request) or closes.
func (ex *exchange) finish() {
	ex.report()
	hc := ex.hc
	if ex.srv != nil {
		ex.srv.Release() // wakes the requests queued for its balancer
	}
	if ex.closing {
		hc.closing = true
	}
	if !ex.reqF.done && hc.st == cBusy {
		hc.closing = true // the rest of the request body is not read
	}
	ex.state = xDone
	ex.recycle()
	hc.afterResponse()
}

// report tells the Observer about the request, once.
func (ex *exchange) report() {
	if ex.reported {
		return
	}
	ex.reported = true
	hc := ex.hc
	r := &ex.rec
	r.Duration = time.Since(r.Start)
	r.BytesIn = hc.in - hc.inMark
	hc.inMark = hc.in
	if ex.obs != nil {
		ex.obs.RequestDone(r)
	}
}
