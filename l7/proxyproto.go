package l7

import (
	"errors"
	"net/netip"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/proxyproto"
	"golang.org/x/sys/unix"
)

// The PROXY protocol on http frontends (Options.ProxyProtocol) and towards
// servers (a server's balance.ExtSendProxy), kept apart from the
// connection model.
//
// Receiving: the header is read on the event loop from the first bytes of
// the connection, before its first request head, within the client_header
// deadline that runs from accept. A peer in TrustedProxies must send one
// (v1 or v2), or the connection is closed without an answer (HAProxy's
// accept-proxy); the client it names becomes the connection's client for
// the access lists, rate limits, X-Forwarded-For/X-Real-IP, ip_hash, the
// access log and a header sent on. Any other peer is served as usual,
// except that a connection starting with a PROXY signature is closed: a
// header is never taken from an untrusted peer.
//
// Sending: a server with send_proxy gets, before each request, a header
// naming the connection's client (its address and port, and the address it
// connected to). A header speaks for one client, so such connections are
// never pooled: each request has its own, dialed for it and closed after
// its response (HAProxy keeps them private to a client connection for the
// same reason).

// ppInfo is an hconn's PROXY protocol state (nil: the frontend does not
// read headers).
type ppInfo struct {
	trusted bool           // the peer must send a header
	done    bool           // the header (or its absence) was dealt with
	src     netip.AddrPort // the client named by the header (invalid: the peer)
	dst     netip.AddrPort // the address it connected to
}

var (
	errUntrustedHeader = errors.New("a PROXY protocol header from a peer not in trusted_proxies")
	errNoHeader        = errors.New("a trusted peer did not send a PROXY protocol header")
)

// admit applies the access lists once the connection's client is known
// (at accept, or after its PROXY protocol header): a trusted proxy's
// requests are judged one by one, against the client each one's
// X-Forwarded-For names (exchange.begin); any other client once, here.
func (hc *hconn) admit() {
	t := hc.t
	if t.guard == nil {
		return
	}
	if t.trusted.Contains(hc.ip) {
		hc.aclEach = true
	} else if !t.guard.AllowClient(hc.ip) {
		hc.denied = true
	}
}

// proxyHandshake reads the header of a trusted peer from b (the bytes
// received so far), or checks that an untrusted one does not send one.
// It returns false while more bytes are needed or after it closed the
// connection (hc.st is cDone then).
func (hc *hconn) proxyHandshake(b []byte) bool {
	pp := hc.pp
	if pp.trusted {
		h, n, err := proxyproto.Parse(b)
		switch {
		case err == nil:
			pp.done = true
			if h.HasAddrs() {
				pp.src, pp.dst = h.Source, h.Dest
				hc.ip = h.Source.Addr().Unmap()
			}
			hc.consume(n)
			hc.inMark = hc.in // the header is not part of the first request
			hc.admit()
			return true
		case errors.Is(err, proxyproto.ErrNoHeader):
			hc.refuseProxy(errNoHeader)
		case !errors.Is(err, proxyproto.ErrNeedMore):
			hc.refuseProxy(err)
		}
		return false
	}
	ok, more := proxyproto.HasSignature(b)
	switch {
	case ok:
		hc.refuseProxy(errUntrustedHeader)
		return false
	case more:
		return false
	}
	pp.done = true
	hc.admit()
	return true
}

// refuseProxy closes the connection without an answer.
func (hc *hconn) refuseProxy(err error) {
	hc.p.log.Debug("http client refused", "frontend", hc.t.frontend, "peer", hc.ip.String(), "error", err.Error())
	hc.close()
}

// sendsProxy reports whether srv takes a PROXY protocol header before each
// request (send_proxy).
func sendsProxy(srv *balance.Server) bool {
	v, _ := srv.Ext(balance.ExtSendProxy).(proxyproto.Version)
	return v != proxyproto.None
}

// appendProxyHeader appends the header srv takes before a request of this
// exchange (nothing when it takes none).
func (ex *exchange) appendProxyHeader(b []byte, srv *balance.Server) []byte {
	v, _ := srv.Ext(balance.ExtSendProxy).(proxyproto.Version)
	if v == proxyproto.None {
		return b
	}
	src, dst := ex.hc.origin()
	return proxyproto.Append(b, v, src, dst)
}

// origin returns the connection's client and the address it connected to:
// from its PROXY header, else the socket's. Cold path (a connection with a
// header is dialed for every request): it asks the kernel.
func (hc *hconn) origin() (src, dst netip.AddrPort) {
	if pp := hc.pp; pp != nil && pp.src.IsValid() {
		return pp.src, pp.dst
	}
	if hc.fd < 0 {
		return netip.AddrPortFrom(hc.ip, 0), netip.AddrPort{}
	}
	if sa, err := unix.Getpeername(hc.fd); err == nil {
		src = sockaddrAddrPort(sa)
	}
	if sa, err := unix.Getsockname(hc.fd); err == nil {
		dst = sockaddrAddrPort(sa)
	}
	return src, dst
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
