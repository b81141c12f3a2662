package l7

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/valyala/fasthttp"
)

// maxUpgradeRefusalBody bounds the body of a non-101 answer to an upgrade
// request that is passed back to the client.
const maxUpgradeRefusalBody = 1 << 20

// tunnel forwards an Upgrade request (WebSocket) to a server, and on
// "101 Switching Protocols" joins client and server byte streams until either
// side closes or the tunnel idles for Timeouts.TunnelIdle. fasthttp applies no
// timeouts to hijacked connections and does not wait for them at Shutdown,
// so tunnels are tracked here. A refused upgrade (any other status) is passed
// back with Connection: close.
func (p *Proxy) tunnel(ctx *fasthttp.RequestCtx, ex *fhExchange, be *Backend) {
	h := &ctx.Request.Header
	h.SetBytesV(fasthttp.HeaderUpgrade, ex.upgrade)
	h.Set(fasthttp.HeaderConnection, "Upgrade")
	key := balance.KeyIP(ex.rec.ClientIP)
	bal := be.bal.Load()
	var (
		srv  *balance.Server
		conn net.Conn
	)
	fail := FailNoServer
	sticky, pref := be.stickyPreference(h)
	for try := 0; try <= maxConnectRetries; try++ {
		if sticky != nil && try == 0 {
			srv, _ = bal.PickPreferred(pref, key, &ex.tried) // a WebSocket follows its session's cookie
		} else {
			srv = bal.Pick(key, &ex.tried)
		}
		if srv == nil {
			break
		}
		ex.rec.Attempts++
		ex.rec.Server, ex.rec.ServerAddr = srv, srv.Addr()
		_, c, err := dialServer(&net.Dialer{}, srv.Addr(), be.upstreamOf(srv).tls, be.opts.ConnectTimeout)
		if err == nil {
			conn = c
			break
		}
		fail = FailConnect
		if ex.obs != nil {
			ex.obs.BackendAttempt(srv, FailConnect)
		}
		srv.Release()
		srv = nil
	}
	if conn == nil {
		ex.localError(ctx, fail)
		return
	}
	ex.srv = srv
	_ = conn.SetDeadline(time.Now().Add(be.opts.ResponseTimeout))
	bw := bufio.NewWriterSize(conn, 4096)
	br := bufio.NewReaderSize(conn, 16<<10)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if pp := ex.proxyHeader(srv); pp != nil {
		_, _ = bw.Write(pp) // an error shows in Flush
	}
	err := ctx.Request.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = resp.ReadLimitBody(br, maxUpgradeRefusalBody)
	}
	if err != nil {
		_ = conn.Close()
		f := classify(err, nil)
		if f == FailNone {
			f = FailUpgrade
		}
		if ex.obs != nil {
			ex.obs.BackendAttempt(srv, f)
		}
		ex.localError(ctx, f)
		return
	}
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		_ = conn.Close()
		f := FailNone
		if resp.StatusCode() >= 500 {
			f = FailStatus5xx
		}
		if ex.obs != nil {
			ex.obs.BackendAttempt(srv, f)
		}
		resp.CopyTo(&ctx.Response)
		ex.scratch = stripHopResponse(&ctx.Response.Header, ex.scratch)
		ctx.Response.SetConnectionClose() // the client may already send tunnel bytes
		ex.rec.Status, ex.rec.Failure = resp.StatusCode(), f
		ex.rec.BytesOut = int64(len(ctx.Response.Body()))
		ex.finish()
		return
	}
	if ex.obs != nil {
		ex.obs.BackendAttempt(srv, FailNone)
	}
	_ = conn.SetDeadline(time.Time{})
	head := append([]byte(nil), resp.Header.Header()...) // the server's 101 head, as it sent it
	ex.rec.Status = fasthttp.StatusSwitchingProtocols
	if ex.cc != nil {
		ex.cc.setPassthrough()
	}
	idle := ex.t.timeouts.TunnelIdle
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		t := &tunnel{client: c, clientRaw: c, server: conn}
		// fasthttp's hijacked conn ignores Close (it closes the conn itself
		// once this handler returns), which would leave the client→server
		// pipe blocked in Read when the server side ends: close the
		// underlying conn instead. Reads still go through c (its buffer).
		if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
			t.clientRaw = u.UnsafeConn()
		}
		if !p.tunnels.add(t) {
			_ = conn.Close()
			ex.finish()
			return
		}
		defer p.tunnels.remove(t)
		_ = c.SetWriteDeadline(time.Now().Add(idle))
		if _, err := c.Write(head); err != nil {
			_ = conn.Close()
			ex.finish()
			return
		}
		// Bytes the server sent right after its 101 are in br.
		_, down := t.join(br, idle)
		ex.rec.BytesOut = down
		ex.finish()
	})
}

// tunnel is one upgraded connection pair.
type tunnel struct {
	client, server net.Conn
	clientRaw      net.Conn     // what close closes on the client side
	last           atomic.Int64 // unix nanos of the last byte either way
}

// join copies both ways until one side ends or both idle for idle; then it
// closes both. It returns bytes sent to the server and to the client.
func (t *tunnel) join(fromServer io.Reader, idle time.Duration) (up, down int64) {
	t.last.Store(time.Now().UnixNano())
	done := make(chan int64, 1)
	go func() { done <- t.pipe(t.server, t.client, idle) }()
	down = t.pipe(t.client, readerConn{fromServer, t.server}, idle)
	t.close()
	up = <-done
	return up, down
}

// readerConn reads through r but sets deadlines on c.
type readerConn struct {
	r io.Reader
	net.Conn
}

func (rc readerConn) Read(p []byte) (int, error) { return rc.r.Read(p) }

// pipe copies src to dst. A read timeout only ends the tunnel when neither
// direction moved for idle.
func (t *tunnel) pipe(dst, src net.Conn, idle time.Duration) int64 {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		k, err := src.Read(buf)
		if k > 0 {
			t.last.Store(time.Now().UnixNano())
			_ = dst.SetWriteDeadline(time.Now().Add(idle))
			w, werr := dst.Write(buf[:k])
			n += int64(w)
			if werr != nil {
				break
			}
		}
		if err != nil {
			if isTimeout(err) && time.Since(time.Unix(0, t.last.Load())) < idle {
				continue
			}
			break
		}
	}
	t.close()
	return n
}

func (t *tunnel) close() {
	_ = t.clientRaw.Close()
	_ = t.server.Close()
}

// tunnelSet tracks open tunnels for Stats and Shutdown.
type tunnelSet struct {
	mu      sync.Mutex
	m       map[*tunnel]struct{}
	closing bool
	n       atomic.Int64
	empty   chan struct{} // closed when n drops to 0 while someone waits
}

func (s *tunnelSet) add(t *tunnel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.m[t] = struct{}{}
	s.n.Add(1)
	return true
}

func (s *tunnelSet) remove(t *tunnel) {
	s.mu.Lock()
	delete(s.m, t)
	if s.n.Add(-1) == 0 && s.empty != nil {
		close(s.empty)
		s.empty = nil
	}
	s.mu.Unlock()
}

// wait blocks until no tunnel is open or ctx ends.
func (s *tunnelSet) wait(ctx context.Context) error {
	s.mu.Lock()
	if len(s.m) == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.empty == nil {
		s.empty = make(chan struct{})
	}
	ch := s.empty
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *tunnelSet) closeAll() {
	s.mu.Lock()
	s.closing = true
	ts := make([]*tunnel, 0, len(s.m))
	for t := range s.m {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	for _, t := range ts {
		t.close()
	}
}
