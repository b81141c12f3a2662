package l7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/sluicelb/sluice/engine"
)

var tickerEngines sync.Map // *engine.Engine → struct{}: l7's ticker is added once per engine

// registerTicker makes the loops of eng run l7's timers.
func registerTicker(eng *engine.Engine) {
	if _, loaded := tickerEngines.LoadOrStore(eng, struct{}{}); loaded {
		return
	}
	eng.AddTicker(func(el gnet.EventLoop, _ int64) { loopOf(eng, el).tick() })
}

// serve accepts on ln and hands each client to an event loop.
func (p *Proxy) serve(ln net.Listener) error {
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
	p.lns = append(p.lns, tl)
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
	hc := &hconn{p: p, t: t, global: g, acceptAt: monoNow(), fd: -1}
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
	if p.refusing.Add(1) > maxRefusers {
		p.refusing.Add(-1)
		_ = c.Close()
		return
	}
	go func() {
		defer p.refusing.Add(-1)
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(resp503)
		_ = c.CloseWrite()
		// Read what the client sent so closing does not reset the
		// connection before it reads the 503.
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		_ = c.Close()
	}()
}

const maxRefusers = 64

var resp503 = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections")

// shutdownLoop: stop accepting; idle keep-alive connections close, busy ones
// close after their response; then wait (up to ctx) for every connection
// and tunnel to end, and close what is left.
func (p *Proxy) shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.draining.Store(true)
	lns := p.lns
	p.lns = nil
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
