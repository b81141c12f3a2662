package l7

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/sluicelb/sluice/engine"
)

// useLoop says whether a Proxy runs on the event loops (the default) or on
// fasthttp's server (SLUICE_L7_ENGINE=fasthttp, until it is removed).
func useLoop(o Options) bool { return os.Getenv("SLUICE_L7_ENGINE") != "fasthttp" }

// initLoop sets p up to serve on the event loops of o.Engine (or its own).
func (p *Proxy) initLoop(o Options) error {
	p.loop = true
	p.eng = o.Engine
	if p.eng == nil {
		// A Proxy of its own (tests, embedding) runs on one loop: backend
		// connections are pooled per loop, and one loop keeps one pool.
		e, err := engine.New(engine.Options{Loops: 1, Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("frontend %q: %w", o.Frontend, err)
		}
		if err := e.Start(); err != nil {
			return fmt.Errorf("frontend %q: %w", o.Frontend, err)
		}
		p.eng, p.ownEng = e, true
	}
	registerTicker(p.eng)
	return nil
}

var tickerEngines sync.Map // *engine.Engine → struct{}: l7's ticker is added once per engine

// registerTicker makes the loops of eng run l7's timers.
func registerTicker(eng *engine.Engine) {
	if _, loaded := tickerEngines.LoadOrStore(eng, struct{}{}); loaded {
		return
	}
	eng.AddTicker(func(el gnet.EventLoop, now int64) { loopOf(eng, el).tick(now) })
}

// serveLoop accepts on ln and hands each client to an event loop.
func (p *Proxy) serveLoop(ln net.Listener) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("frontend %q: listener %T is not TCP", p.frontend, ln)
	}
	p.mu.Lock()
	if p.draining.Load() {
		p.mu.Unlock()
		_ = tl.Close()
		return nil
	}
	p.tlns = append(p.tlns, tl)
	p.serving.Add(1)
	p.mu.Unlock()
	defer p.serving.Done()
	err := engine.Serve(tl, p.accept, p.log)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// accept runs on the accept goroutine for each new client: the connection
// limits, the access list, then the event loop.
func (p *Proxy) accept(c *net.TCPConn) {
	t := p.table.Load()
	if max := p.maxConns; max > 0 && p.active.Load() >= int64(max) {
		p.refuse(c)
		return
	}
	g := t.global
	if g != nil && !g.TryAcquire() {
		p.refuse(c)
		return
	}
	p.active.Add(1)
	hc := &hconn{p: p, t: t, global: g, acceptAt: p.eng.Now(), fd: -1}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		hc.ip = a.AddrPort().Addr().Unmap()
	}
	if t.guard != nil && !t.guard.AllowConn(hc.ip) {
		hc.denied = true
	}
	if err := p.eng.Enroll(c, hc); err != nil {
		if g != nil {
			g.Release()
		}
		p.active.Add(-1)
	}
}

// refuse answers 503 and closes, off the accept goroutine; beyond
// maxRefusers concurrent refusals the conn is just closed.
func (p *Proxy) refuse(c *net.TCPConn) {
	p.refused.Add(1)
	refuse503(c, &p.refusing)
}

// shutdownLoop: stop accepting; idle keep-alive connections close, busy ones
// close after their response; then wait (up to ctx) for every connection
// and tunnel to end, and close what is left.
func (p *Proxy) shutdownLoop(ctx context.Context) error {
	p.mu.Lock()
	p.draining.Store(true)
	lns := p.tlns
	p.tlns = nil
	p.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	p.serving.Wait()
	p.onLoops(func(l *rloop) { l.drain(p, false) })
	var err error
	t := time.NewTicker(5 * time.Millisecond)
	for p.active.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			p.onLoops(func(l *rloop) { l.drain(p, false) })
		}
	}
	t.Stop()
	if err != nil {
		p.onLoops(func(l *rloop) { l.drain(p, true) })
		p.eng.Abort(p.isTunnelOf)
		p.pipes.abortAll()
	}
	if p.ownEng {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = p.eng.Stop(sctx)
		cancel()
	}
	return err
}

// onLoops runs f on every event loop of p's engine that has l7 state.
func (p *Proxy) onLoops(f func(l *rloop)) {
	loopsByEL.Range(func(_, v any) bool {
		l := v.(*rloop)
		if l.eng == p.eng {
			_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				f(l)
				return nil
			}))
		}
		return true
	})
}

// drain closes p's idle client connections on this loop and makes busy
// ones close after their response; all closes every one of them.
func (l *rloop) drain(p *Proxy, all bool) {
	for hc := l.conns.head; hc != nil; {
		next := hc.lnext
		if hc.p == p {
			hc.closing = true
			if all || hc.st == cIdle {
				if ex := hc.ex; ex != nil && hc.st == cBusy {
					ex.clientAbort()
				} else {
					hc.close()
				}
			}
		}
		hc = next
	}
}

// clientAddr is the peer address of an accepted connection.
func clientAddr(c *net.TCPConn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
