package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/sluicelb/sluice/certs"
	"github.com/sluicelb/sluice/proxyproto"
)

// TLS termination on the loop engine. crypto/tls has no non-blocking mode,
// so the handshake runs on a goroutine of its own (one per connection being
// accepted, bounded in time by Timeouts.ClientHeader from accept, in number
// by MaxConns and the Global gate), never on an event loop. A PROXY
// protocol header, which comes before TLS, is read on that goroutine from
// the raw connection first; bytes read past it start the ClientHello.
//
// After the handshake the decrypted stream is handed to the event loop as an
// ordinary client connection: one end of a socket pair is enrolled as the
// hconn, and a bridge (bridge.go) copies between the other end and the TLS
// connection. So the strict pre-parser, keep-alive, pipe mode, tunnels,
// timeouts and drain are exactly those of plain HTTP. (Feeding tls.Conn
// whole records on the loop, engine's TestTLSOnLoop, saves the bridge's
// copies and wake-ups: docs/l7-engine.md.)

// TLSObserver receives handshake outcomes (metrics). Calls come from the
// handshake goroutines and must not block.
type TLSObserver interface {
	// TLSHandshake counts a completed handshake.
	TLSHandshake(resumed bool)
	// TLSHandshakeFailed counts a failed one; reason is a certs.Reason*.
	TLSHandshakeFailed(reason string)
}

// plainToTLS answers a client that speaks plain HTTP to the TLS port, as
// Go's net/http and nginx do, so that a human sees why.
var plainToTLS = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 49\r\n\r\nClient sent an HTTP request to an HTTPS server.\r\n")

// prefixConn replays bytes already read from the socket (the start of the
// ClientHello, read while looking for a PROXY header) before reading on.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// acceptTLS runs on a goroutine of its own for each client of a TLS
// frontend: the PROXY header (if the frontend reads them), the handshake,
// then the connection goes to an event loop through a bridge. Any failure
// closes the connection (a plain HTTP request gets plainToTLS first).
func (p *Proxy) acceptTLS(c *net.TCPConn, hc *hconn, accepted time.Time) {
	p.handshakes.add(c)
	defer p.handshakes.remove(c)
	t := hc.t
	deadline := accepted.Add(t.timeouts.ClientHeader)
	_ = c.SetDeadline(deadline)
	var under net.Conn = c
	pp := &ppInfo{done: true, src: tcpAddrPort(c.RemoteAddr()), dst: tcpAddrPort(c.LocalAddr())}
	if hc.pp != nil {
		rest, err := readProxyHeader(c, hc.pp.trusted, pp)
		if err != nil {
			p.log.Debug("http client refused", "frontend", t.frontend, "peer", hc.ip.String(), "error", err.Error())
			p.tlsGone(c, hc)
			return
		}
		if pp.src.Addr() != hc.ip {
			hc.ip = pp.src.Addr()
		}
		if len(rest) > 0 {
			under = &prefixConn{Conn: c, pre: rest}
		}
		hc.admit()
	}
	hc.pp = pp
	tc := tls.Server(under, p.tlsConfig)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	obs := t.tlsObs
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errHandshakeTimeout
		}
		reason := certs.FailureReason(err)
		if obs != nil {
			obs.TLSHandshakeFailed(reason)
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
			_ = rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = rh.Conn.Write(plainToTLS)
		}
		if p.log.Enabled(context.Background(), slog.LevelDebug) {
			p.log.Debug("tls handshake failed", "frontend", t.frontend, "client", hc.ip.String(),
				"sni", tc.ConnectionState().ServerName, "reason", reason, "error", err.Error())
		}
		p.tlsGone(c, hc)
		return
	}
	if obs != nil {
		obs.TLSHandshake(tc.ConnectionState().DidResume)
	}
	_ = c.SetDeadline(time.Time{})
	hc.tls = true
	loopEnd, err := startBridge(tc, c, t.timeouts.ClientWrite)
	if err != nil {
		p.tlsGone(c, hc)
		return
	}
	if err := p.eng.Enroll(loopEnd, hc); err != nil {
		if hc.global != nil {
			hc.global.Release()
		}
		p.connClosed()
	}
}

// tlsGone ends a TLS client that never reached an event loop.
func (p *Proxy) tlsGone(c *net.TCPConn, hc *hconn) {
	_ = c.Close()
	if hc.global != nil {
		hc.global.Release()
	}
	p.connClosed()
}

// readProxyHeader reads the PROXY protocol header that precedes TLS from a
// trusted peer (or checks that an untrusted one sends none) and fills pp
// with the client it names. rest is what was read past it.
func readProxyHeader(c net.Conn, trusted bool, pp *ppInfo) (rest []byte, err error) {
	buf := make([]byte, 0, 512)
	for {
		if trusted {
			h, n, perr := proxyproto.Parse(buf)
			switch {
			case perr == nil:
				if h.HasAddrs() {
					pp.src = netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
					pp.dst = h.Dest
				}
				return buf[n:], nil
			case errors.Is(perr, proxyproto.ErrNoHeader):
				return nil, errNoHeader
			case !errors.Is(perr, proxyproto.ErrNeedMore):
				return nil, perr
			}
		} else if len(buf) > 0 {
			ok, more := proxyproto.HasSignature(buf)
			if ok {
				return nil, errUntrustedHeader
			}
			if !more {
				return buf, nil
			}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n == 0 && rerr != nil {
			return nil, rerr
		}
	}
}

var errHandshakeTimeout = &net.OpError{Op: "tls handshake", Err: timeoutError{}}

type timeoutError struct{}

func (timeoutError) Error() string   { return "handshake timed out (client_header)" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// looksLikeHTTP: the first bytes of a plain HTTP request (a method token).
func looksLikeHTTP(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return c == ' ' && len(b) > 1
		}
	}
	return true
}

// hstsValue is the Strict-Transport-Security value for max-age d (nil when
// d <= 0).
func hstsValue(d time.Duration) []byte {
	if d <= 0 {
		return nil
	}
	return []byte("max-age=" + strconv.FormatInt(int64(d/time.Second), 10))
}

var strHSTS = []byte("Strict-Transport-Security")

// isTLS reports whether the request came over TLS.
func (ex *exchange) isTLS() bool { return ex.hc.tls }

func tcpAddrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
