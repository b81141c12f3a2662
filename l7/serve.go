package l7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
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
	var err error
	if p.tlsConfig != nil {
		// The handshake runs on a goroutine on Go's poller (tls.go).
		err = engine.Serve(tl, p.accept, p.log)
	} else {
		err = p.eng.ServeOnLoops(tl, p.acceptOnLoop, p.log)
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// newConn applies the connection limits and the access lists to a new
// client at ip, on the accept goroutine: the hconn to serve it on a loop, or
// nil when max_connections or the global gate refuse it (the caller refuses
// the connection).
func (p *Proxy) newConn(ip netip.Addr) *hconn {
	t := p.table.Load()
	if max := p.maxConns; max > 0 && p.active.Load() >= int64(max) {
		return nil
	}
	g := t.global
	if g != nil && !g.TryAcquire() {
		return nil
	}
	p.active.Add(1)
	hc := &hconn{p: p, t: t, global: g, acceptAt: monoNow(), fd: -1, ip: ip}
	if t.proxyProtocol {
		// The client (and so the access lists' verdict) is known once the
		// header was read: on the loop (proxyproto.go), or before the TLS
		// handshake (tls.go).
		hc.pp = &ppInfo{trusted: t.trusted.Contains(hc.ip)}
	} else {
		hc.admit()
	}
	return hc
}

// acceptOnLoop runs on the event loop el that accepted a client of a
// plain-HTTP frontend (engine.ServeOnLoops): the connection limits, the
// access list, then the connection opens on el itself. It owns fd.
func (p *Proxy) acceptOnLoop(el gnet.EventLoop, fd int, peer netip.AddrPort) {
	hc := p.newConn(peer.Addr())
	if hc == nil {
		// Cold path: the 503 is written on Go's poller, off the loop.
		c, err := engine.FileConn(fd)
		if err != nil {
			p.refused.Add(1)
			return
		}
		p.refuse(c)
		return
	}
	if err := p.eng.OpenFD(el, fd, hc); err != nil {
		hc.OpenFailed(err)
	}
}

// OpenFailed undoes newConn's accounting for a connection whose event loop
// never opened it (the engine closed the socket).
func (hc *hconn) OpenFailed(error) {
	if hc.global != nil {
		hc.global.Release()
	}
	hc.p.connClosed()
}

// accept runs on the accept goroutine of a TLS frontend for each new client:
// the connection limits, the access list, then the handshake's goroutine.
func (p *Proxy) accept(c *net.TCPConn) {
	var ip netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = a.AddrPort().Addr().Unmap()
	}
	hc := p.newConn(ip)
	if hc == nil {
		p.refuse(c)
		return
	}
	go p.acceptTLS(c, hc, time.Now())
}

// refuse answers 503 and closes, off the accept goroutine; beyond
// maxRefusers concurrent refusals the conn is just closed.
func (p *Proxy) refuse(c engine.Stream) {
	p.refused.Add(1)
	if p.tlsConfig != nil { // no handshake for a refused client: just close
		_ = c.Close()
		return
	}
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

// shutdown drains the proxy (graceful stop, binary upgrade, a frontend a
// reload retired). It stops accepting at once: on a listening socket shared
// with a new process, that process takes every new connection. Requests in
// flight, pipes and tunnels go on; every response from now on carries
// Connection: close, and its connection is closed once the response is
// written, so a keep-alive client learns from its next answer to open a new
// connection. A connection is never closed under a request or with request
// bytes unread: one that stays idle is closed only at the end of the drain
// (ctx's deadline) or by its own client_idle timeout, because closing an
// idle keep-alive connection races with the request its client may be
// sending at that moment. It waits on the connections' close events.
func (p *Proxy) shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.draining.Store(true)
	lns := p.lns
	p.lns = nil
	p.mu.Unlock()
	for _, ln := range lns {
		_ = engine.CloseListener(ln) // no loop accepts on it once this returns
	}
	p.serving.Wait()
	var err error
	for p.active.Load() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-p.drained:
		}
	}
	if err != nil {
		p.onLoops(func(l *rloop) { l.closeAll(p) })
		p.eng.Abort(p.isTunnelOf)
		p.pipes.abortAll()
		p.handshakes.closeAll()
	}
	if p.ownEng {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = p.eng.Stop(sctx)
		cancel()
	}
	return err
}

// connClosed counts a client connection gone (and wakes a drain).
func (p *Proxy) connClosed() {
	p.active.Add(-1)
	if p.draining.Load() {
		select {
		case p.drained <- struct{}{}:
		default:
		}
	}
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

// closeAll closes every client connection of p on this loop (the end of a
// drain).
func (l *rloop) closeAll(p *Proxy) {
	for hc := l.conns.head; hc != nil; {
		next := hc.lnext
		if hc.p == p {
			hc.closing = true
			if ex := hc.ex; ex != nil && hc.st == cBusy {
				ex.clientAbort()
			} else {
				hc.close()
			}
		}
		hc = next
	}
}
