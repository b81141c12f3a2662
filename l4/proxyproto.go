package l4

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/proxyproto"
	"golang.org/x/sys/unix"
)

// The PROXY protocol on tcp frontends (proxy_protocol: true) and towards
// servers (servers[].send_proxy).
//
// Receiving: a peer in Trusted must start with a header (v1 or v2) within
// HeaderTimeout of accept, or the connection is refused (as HAProxy's
// accept-proxy does); the client it names is the session's client for the
// access lists, rate limits, ip_hash, the access log and a header sent on.
// A LOCAL (v2) or UNKNOWN (v1) header keeps the peer as the client. Bytes
// the peer sent after the header go to the server first. Other peers are
// not read before a server is dialled (server-first protocols keep
// working); what they have sent by then is looked at, and a connection
// that starts with a PROXY signature is refused — a header is never taken
// from an untrusted peer.
//
// Sending: the header (v1 or v2, as the server's ExtSendProxy says) naming
// the client and the address it connected to is written to the server
// before anything else.

// origin is who a session is for.
type origin struct {
	client    netip.AddrPort // the client (named by a header, or the peer)
	dest      netip.AddrPort // what the client connected to (header, or our listener)
	leftover  []byte         // bytes read after the header, for the server
	untrusted bool           // peer not trusted on a proxy_protocol frontend: check for a signature
}

var headerBufs = sync.Pool{New: func() any { b := make([]byte, proxyproto.MaxHeaderLen); return &b }}

var errNoHeader = errors.New("a trusted peer did not send a PROXY protocol header")

// acceptProxied runs on its own goroutine for each client of a
// proxy_protocol frontend.
func (st *frontendState) acceptProxied(c *net.TCPConn) {
	peer := clientAddr(c)
	o := &origin{client: peer, dest: localAddr(c)}
	if st.Trusted == nil || !st.Trusted(peer.Addr()) {
		o.untrusted = true
	} else if err := st.readHeader(c, o); err != nil {
		refuse(c)
		st.Hooks.Refused(RefusedProxyProtocol, peer.Addr())
		st.Log.Debug("tcp client refused", "frontend", st.Name, "peer", peer.String(), "error", err.Error())
		return
	}
	if st.admit(c, o) {
		st.connect(c, o)
	}
}

// readHeader reads the header of a trusted peer into o.
func (st *frontendState) readHeader(c *net.TCPConn, o *origin) error {
	bp := headerBufs.Get().(*[]byte)
	defer headerBufs.Put(bp)
	buf := *bp
	_ = c.SetReadDeadline(time.Now().Add(st.HeaderTimeout))
	defer c.SetReadDeadline(time.Time{})
	w := 0
	for {
		n, err := c.Read(buf[w:])
		w += n
		h, hn, perr := proxyproto.Parse(buf[:w])
		switch {
		case perr == nil:
			if h.HasAddrs() {
				o.client, o.dest = h.Source, h.Dest
			}
			if hn < w {
				o.leftover = append([]byte(nil), buf[hn:w]...)
			}
			return nil
		case errors.Is(perr, proxyproto.ErrNoHeader):
			return errNoHeader
		case !errors.Is(perr, proxyproto.ErrNeedMore):
			return perr
		case err != nil:
			return fmt.Errorf("reading the PROXY protocol header: %w", err)
		}
	}
}

// prelude runs between the server's dial and the hand-over to the engine:
// it refuses an untrusted peer whose first bytes are a PROXY header, and
// writes what the server is owed first (its header, then the bytes read
// after the client's header).
func (st *frontendState) prelude(c, bc *net.TCPConn, srv *balance.Server, o *origin, timeout time.Duration) error {
	if o.untrusted && peekSignature(c) {
		return errors.New("a PROXY protocol header from a peer not in trusted_proxies")
	}
	v, _ := srv.Ext(balance.ExtSendProxy).(proxyproto.Version)
	if v == proxyproto.None && len(o.leftover) == 0 {
		return nil
	}
	dest := o.dest
	if !dest.IsValid() {
		dest = localAddr(c)
	}
	out := proxyproto.Append(make([]byte, 0, 64+len(o.leftover)), v, o.client, dest)
	out = append(out, o.leftover...)
	_ = bc.SetWriteDeadline(time.Now().Add(timeout))
	defer bc.SetWriteDeadline(time.Time{})
	if _, err := bc.Write(out); err != nil {
		return fmt.Errorf("writing to the server: %w", err)
	}
	return nil
}

// peekSignature looks, without consuming or waiting, at what c has
// received so far and reports whether it starts with a PROXY signature.
func peekSignature(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var buf [16]byte
	n := 0
	_ = rc.Read(func(fd uintptr) bool {
		n, _, _ = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	})
	if n <= 0 {
		return false
	}
	ok, _ := proxyproto.HasSignature(buf[:n])
	return ok
}

func localAddr(c net.Conn) netip.AddrPort {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
