package l7

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/valyala/fasthttp"
)

// fhExchange is the per-request state, pooled. It lives from the handler's
// start until the response body was written (it is the response body stream
// fasthttp reads and then closes), or until a tunnel ends.
type fhExchange struct {
	p       *Proxy
	t       *table
	cc      *clientConn
	obs     Observer
	srv     *balance.Server
	tried   balance.Tried
	resp    fasthttp.Response // the backend's response head
	up      upBody            // the backend's response body, streamed (transport.go)
	body    interface{ Read([]byte) (int, error) }
	rec     Record
	scratch []byte
	buf     []byte
	upgrade []byte
	// retryAfter is the Retry-After seconds of a FailRateLimited answer.
	retryAfter int
	pp         []byte // the PROXY protocol header sent to the server (proxyproto.go)
	// setCookie is the sticky-session Set-Cookie value to add to the
	// response (the server differs from the one the request named), or nil.
	setCookie []byte
}

var errAbandoned = errors.New("sluice: response body abandoned")

var fhExchangePool = sync.Pool{New: func() any { return new(fhExchange) }}

func acquireFhExchange(p *Proxy, t *table, ctx *fasthttp.RequestCtx, cc *clientConn) *fhExchange {
	ex := fhExchangePool.Get().(*fhExchange)
	ex.p, ex.t, ex.cc, ex.obs = p, t, cc, t.observer
	r := &ex.rec
	r.Frontend = t.frontend
	r.Start = time.Now()
	r.Method = append(r.Method[:0], ctx.Method()...)
	r.Host = append(r.Host[:0], ctx.Host()...)
	r.Path = append(r.Path[:0], ctx.Path()...)
	if cc != nil {
		r.ClientIP = cc.ip
	}
	return ex
}

// Read is the response body as fasthttp writes it to the client.
func (ex *fhExchange) Read(p []byte) (int, error) {
	n, err := ex.body.Read(p)
	ex.rec.BytesOut += int64(n)
	if err != nil && err != io.EOF && ex.rec.Failure == FailNone {
		// The server broke off its response body: the client gets a
		// truncated response (never a retry, bytes already went out).
		ex.rec.Failure = classify(err, nil)
	}
	return n, err
}

// CloseWithError is called by fasthttp once the body was written (err nil)
// or writing failed. It closes the backend stream (returning or dropping its
// connection) and finishes the request.
func (ex *fhExchange) CloseWithError(err error) error {
	if rc, ok := ex.body.(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(err)
	}
	ex.body = nil
	ex.finish()
	return nil
}

// finish reports the request and recycles ex. After it ex must not be used.
func (ex *fhExchange) finish() {
	r := &ex.rec
	r.Duration = time.Since(r.Start)
	if cc := ex.cc; cc != nil {
		r.BytesIn = cc.in - cc.inMark
		cc.inMark = cc.in
	}
	if ex.obs != nil {
		ex.obs.RequestDone(r)
	}
	if ex.srv != nil {
		ex.srv.Release()
	}
	ex.release()
}

func (ex *fhExchange) release() {
	if ex.up.active { // never streamed (defensive): the connection cannot be reused
		_ = ex.up.CloseWithError(errAbandoned)
	}
	ex.resp.Reset()
	ex.p, ex.t, ex.cc, ex.obs, ex.srv, ex.body = nil, nil, nil, nil, nil, nil
	ex.tried = balance.Tried{}
	ex.retryAfter = 0
	ex.setCookie = nil
	r := &ex.rec
	*r = Record{Method: r.Method[:0], Host: r.Host[:0], Path: r.Path[:0]}
	fhExchangePool.Put(ex)
}
