package health

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// longAgo is a deadline in the past, used to abort blocked I/O on Stop.
var longAgo = time.Unix(1, 0)

// statusBufSize bounds how much of a response head a probe reads.
const statusBufSize = 1024

// prober holds one target's probe scratch; it is owned by that target's
// goroutine.
type prober struct {
	addr   string
	req    []byte         // HTTP request, built for reqFor
	reqFor *ActiveOptions // options req was built from
	tls    *tls.Config    // o.TLS with this target's ServerName, built for tlsFor
	tlsFor *ActiveOptions
	buf    [statusBufSize]byte
}

// tlsConfig returns o.TLS for this target (ServerName filled in).
func (p *prober) tlsConfig(o *ActiveOptions) *tls.Config {
	if p.tlsFor != o {
		p.tls, p.tlsFor = o.TLS, o
		if o.TLS != nil && o.TLS.ServerName == "" {
			host, _, err := net.SplitHostPort(p.addr)
			if err != nil {
				host = p.addr
			}
			p.tls = o.TLS.Clone()
			p.tls.ServerName = host
		}
	}
	return p.tls
}

// request returns the HTTP request for o, rebuilding it when o changed.
func (p *prober) request(o *ActiveOptions) []byte {
	if p.reqFor != o {
		host := o.Host
		if host == "" {
			host = p.addr
		}
		p.req = append(p.req[:0], "GET "+o.Path+" HTTP/1.1\r\nHost: "+host+
			"\r\nUser-Agent: sluice-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"...)
		p.reqFor = o
	}
	return p.req
}

// probe runs one check under o, sending hdr first (a PROXY protocol
// header, or nil). It returns ok and a short reason such as
// "status 200", "connected", "connect: connection refused", "status 500" or
// "timeout after 1s". When ctx is cancelled the result is meaningless and
// the caller must check ctx.Err().
func (p *prober) probe(ctx context.Context, o *ActiveOptions, hdr []byte) (ok bool, reason string) {
	deadline := time.Now().Add(o.Timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return false, "connect: " + errReason(err, o.Timeout)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	raw := conn // conn becomes the TLS client below: the cancel sets the socket's deadline
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(longAgo) })
	defer stop()
	if len(hdr) > 0 { // a PROXY header comes before TLS
		if _, err := conn.Write(hdr); err != nil {
			return false, ioReason("write", err, o.Timeout)
		}
	}
	if o.TLS != nil {
		tc := tls.Client(conn, p.tlsConfig(o))
		if err := tc.Handshake(); err != nil {
			return false, ioReason("tls handshake", err, o.Timeout)
		}
		if o.Type == TCP {
			return true, "connected (tls)"
		}
		conn = tc
	}
	if o.Type == TCP {
		return true, "connected"
	}
	if _, err := conn.Write(p.request(o)); err != nil {
		return false, ioReason("write", err, o.Timeout)
	}
	code, err := readStatus(conn, p.buf[:])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, "connection closed before the status line"
		}
		if _, isNet := errors.AsType[net.Error](err); isNet {
			return false, ioReason("read", err, o.Timeout)
		}
		return false, err.Error() // malformed or oversized response head
	}
	reason = "status " + strconv.Itoa(code)
	return o.statusOK(code), reason
}

// ioReason is errReason for reads and writes: a timeout is reported as
// "timeout after 1s", anything else as "op: cause".
func ioReason(op string, err error, timeout time.Duration) string {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "timeout after " + timeout.String()
	}
	return op + ": " + errReason(err, timeout)
}

// errReason turns a network error into a short cause without the addresses
// that the log record already carries.
func errReason(err error, timeout time.Duration) string {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "timeout after " + timeout.String()
	}
	if se, ok := errors.AsType[*os.SyscallError](err); ok {
		// "connect: connection refused" → "connection refused": the caller
		// names the operation.
		return se.Err.Error()
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
