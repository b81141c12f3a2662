package l7

import (
	"time"

	"github.com/sluicelb/sluice/engine"
)

// wsTunnel is the engine.Session user of an upgraded connection: what its
// end reports and gives back.
type wsTunnel struct {
	p  *Proxy
	ex *exchange
	hc *hconn
	u  *upstream
}

// upgraded: the server answered an upgrade request with 101. Client and
// server connection become one engine Session (engine.Join): bytes flow both
// ways exactly as on a tcp frontend (moving to splice when a side cannot
// keep up; TunnelIdle), and the request is reported when the tunnel ends.
// The server's 101 head and whatever followed it, and the bytes the client
// sent early, are still buffered and go first.
func (ex *exchange) upgraded() {
	bc, hc, l := ex.bc, ex.hc, ex.l
	p := hc.p
	if ex.obs != nil {
		ex.obs.BackendAttempt(ex.srv, FailNone)
	}
	ex.rec.Status = 101
	l.timers.stop(&bc.tm)
	l.timers.stop(&hc.tm)
	l.conns.remove(hc)
	hc.st = cPipe
	bc.ex, ex.bc = nil, nil
	bc.closed = true
	ex.state = xDone
	p.tunnels.Add(1)
	tun := &wsTunnel{p: p, ex: ex, hc: hc, u: bc.u}
	opts := p.tunnelOpts(ex.t)
	l.act = l.eng.Join(l.cur, hc.c, bc.c, nil, nil, opts, tun)
	hc.c, bc.c = nil, nil
}

// tunnelOpts are the session options of p's tunnels under table t.
func (p *Proxy) tunnelOpts(t *table) *engine.SessionOptions {
	if o := t.tunnel.Load(); o != nil {
		return o
	}
	o := &engine.SessionOptions{IdleTimeout: t.timeouts.TunnelIdle, BytesIn: engine.Discard, BytesOut: engine.Discard,
		OnEnd: p.tunnelEnded, CloseOnEOF: true}
	t.tunnel.CompareAndSwap(nil, o)
	return t.tunnel.Load()
}

// tunnelEnded runs once per tunnel, on an event loop or a pipe goroutine.
func (p *Proxy) tunnelEnded(s *engine.Session) {
	tun := s.User.(*wsTunnel)
	ex, hc := tun.ex, tun.hc
	r := &ex.rec
	r.Duration = time.Since(r.Start)
	r.BytesIn = hc.in - hc.inMark + s.BytesIn
	r.BytesOut = s.BytesOut
	if ex.obs != nil {
		ex.obs.RequestDone(r)
	}
	if ex.srv != nil {
		ex.srv.Release()
	}
	tun.u.open.Add(-1)
	if hc.global != nil {
		hc.global.Release()
	}
	p.tunnels.Add(-1)
	p.connClosed()
}

// isTunnelOf reports whether an engine session user is a tunnel of p.
func (p *Proxy) isTunnelOf(user any) bool {
	t, ok := user.(*wsTunnel)
	return ok && t.p == p
}
