package l7

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// listener wraps the frontend's net.Listener: it wraps each accepted conn in
// a clientConn, enforces MaxConns and the Global gate (excess connections get
// a 503 and are closed), asks Guard.AllowClient about the peer unless it is
// a trusted proxy (a denied conn is marked, and its requests are answered 403
// by the handler; a trusted proxy's requests are judged one by one) and backs off on EMFILE/ENFILE/ENOBUFS instead of returning the
// error (which would end fasthttp's Serve). It tracks open conns so Shutdown
// can close what is left at its deadline.
type listener struct {
	net.Listener
	p      *Proxy
	active atomic.Int64
	done   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	conns map[*clientConn]struct{}
}

const (
	maxRefusers    = 64
	acceptBackoff0 = 5 * time.Millisecond
	acceptBackoffN = time.Second
)

var resp503 = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections")

func newListener(ln net.Listener, p *Proxy) *listener {
	return &listener{Listener: ln, p: p, done: make(chan struct{}), conns: make(map[*clientConn]struct{})}
}

// Accept returns the next client connection, wrapped.
func (l *listener) Accept() (net.Conn, error) {
	backoff := time.Duration(0)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !fdExhausted(err) {
				return nil, err
			}
			if backoff == 0 {
				backoff = acceptBackoff0
			} else {
				backoff = min(2*backoff, acceptBackoffN)
			}
			l.p.log.Warn("accept: out of file descriptors, backing off",
				"frontend", l.p.frontend, "addr", l.Addr().String(), "error", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		backoff = 0
		t := l.p.table.Load()
		if max := l.p.maxConns; max > 0 && l.active.Load() >= int64(max) {
			l.refuse(c)
			continue
		}
		g := t.global
		if g != nil && !g.TryAcquire() {
			l.refuse(c)
			continue
		}
		l.active.Add(1)
		cc := newClientConn(c, l, t)
		if l.p.tlsConfig != nil {
			cc.startTLS(l.p.tlsConfig)
		}
		cc.global = g
		if t.proxyProtocol {
			// The client (and so the access lists' verdict) is known once
			// the header was read, on the serving goroutine (proxyproto.go).
			cc.pp = &ppInfo{trusted: t.trusted.Contains(cc.ip)}
		} else {
			cc.admit()
		}
		l.mu.Lock()
		l.conns[cc] = struct{}{}
		l.mu.Unlock()
		return cc, nil
	}
}

// fdExhausted reports the accept errors that mean "try again later".
func fdExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// refuse answers 503 and closes, off the accept goroutine; beyond
// maxRefusers concurrent refusals the conn is just closed.
func (l *listener) refuse(c net.Conn) {
	l.p.refused.Add(1)
	refuse503(c, &l.p.refusing)
}

// refuse503 answers 503 and closes c on a goroutine of its own; beyond
// maxRefusers such goroutines (counted in n) c is just closed.
func refuse503(c net.Conn, n *atomic.Int32) {
	if n.Add(1) > maxRefusers {
		n.Add(-1)
		_ = c.Close()
		return
	}
	go func() {
		defer n.Add(-1)
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(resp503)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
			// Read what the client sent so closing does not reset the
			// connection before it reads the 503.
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		}
		_ = c.Close()
	}()
}

func (l *listener) release(c *clientConn) {
	if c.global != nil {
		c.global.Release()
	}
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.active.Add(-1)
	if l.p.draining.Load() {
		select { // wake Shutdown's count
		case l.p.drained <- struct{}{}:
		default:
		}
	}
}

// Close stops accepting (also ends an accept back-off).
func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// closeAll closes every open client connection (Shutdown's deadline).
func (l *listener) closeAll() {
	l.mu.Lock()
	cs := make([]*clientConn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}
