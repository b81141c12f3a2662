package l7

import (
	"errors"
	"io"
	"net/netip"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/proxyproto"
)

// The PROXY protocol on http frontends (Options.ProxyProtocol) and towards
// servers (a server's balance.ExtSendProxy), kept apart from the
// connection model so that it can move with it.
//
// Receiving: the header is read on the connection's serving goroutine,
// before its first request, within the client_header deadline of the first
// request. A peer in TrustedProxies must send one (v1 or v2), or the
// connection is closed without an answer (HAProxy's accept-proxy); the
// client it names becomes the connection's client for the access lists,
// rate limits, X-Forwarded-For/X-Real-IP, ip_hash, the access log and a
// header sent on. Any other peer is served as usual, except that a
// connection starting with a PROXY signature is closed: a header is never
// taken from an untrusted peer.
//
// Sending: a server with send_proxy gets, before each request, a header
// naming the connection's client (its address and port, and the address it
// connected to). A header speaks for one client, so such connections are
// never pooled: each request has its own (HAProxy keeps them private to a
// client connection for the same reason).

// ppInfo is a clientConn's PROXY protocol state (nil: the frontend does
// not read headers).
type ppInfo struct {
	trusted bool           // the peer must send a header
	done    bool           // the header (or its absence) was dealt with
	src     netip.AddrPort // the client named by the header (invalid: the peer)
	dst     netip.AddrPort // the address it connected to
}

var errUntrustedHeader = errors.New("a PROXY protocol header from a peer not in trusted_proxies")

// proxyHandshake reads the header of a trusted peer, or checks that an
// untrusted one does not send one. An error closes the connection quietly
// (io.EOF to fasthttp: no response is written).
func (c *clientConn) proxyHandshake() error {
	pp := c.pp
	pp.done = true
	for {
		b := c.buf[c.r:c.w]
		if pp.trusted {
			h, n, err := proxyproto.Parse(b)
			switch {
			case err == nil:
				if h.HasAddrs() {
					pp.src, pp.dst = h.Source, h.Dest
					c.ip = h.Source.Addr()
				}
				c.r += n
				c.scan = c.r
				c.mark()
				c.admit()
				return nil
			case errors.Is(err, proxyproto.ErrNoHeader):
				return c.refuseProxy(errors.New("a trusted peer did not send a PROXY protocol header"))
			case !errors.Is(err, proxyproto.ErrNeedMore):
				return c.refuseProxy(err)
			}
		} else {
			ok, more := proxyproto.HasSignature(b)
			if ok {
				return c.refuseProxy(errUntrustedHeader)
			}
			if !more {
				c.admit()
				return nil
			}
		}
		if err := c.fill(); err != nil {
			return c.refuseProxy(err)
		}
	}
}

// refuseProxy ends the connection: every read from now on is io.EOF.
func (c *clientConn) refuseProxy(err error) error {
	c.ln.p.log.Debug("http client refused", "frontend", c.t.frontend, "peer", addrString(c.RemoteAddr()), "error", err.Error())
	c.st, c.bodyErr = stDead, io.EOF
	c.r, c.scan, c.w = 0, 0, 0
	return io.EOF
}

// proxyHeader returns the header to send srv before a request of this
// exchange, or nil when srv takes none. It reuses ex.pp.
func (ex *exchange) proxyHeader(srv *balance.Server) []byte {
	v, _ := srv.Ext(balance.ExtSendProxy).(proxyproto.Version)
	if v == proxyproto.None || ex.cc == nil {
		return nil
	}
	src, dst := ex.cc.origin()
	ex.pp = proxyproto.Append(ex.pp[:0], v, src, dst)
	return ex.pp
}

// origin returns the connection's client and the address it connected to:
// from its PROXY header, else the socket's.
func (c *clientConn) origin() (src, dst netip.AddrPort) {
	if c.pp != nil && c.pp.src.IsValid() {
		return c.pp.src, c.pp.dst
	}
	return tcpAddrPort(c.RemoteAddr()), tcpAddrPort(c.LocalAddr())
}
