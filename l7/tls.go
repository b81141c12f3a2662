package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/sluicelb/sluice/certs"
)

// TLS termination on the goroutine path (one fasthttp worker goroutine per
// connection). The handshake runs on that goroutine at the connection's
// first read, bounded by Timeouts.ClientHeader from accept (so it never
// blocks anything else, and a client that opens TLS and stalls is closed);
// the decrypted bytes then go through clientConn's strict pre-parser
// exactly as plain ones do. The loop engine (issue 19) carries the same
// rules: see NOTES.md.

// TLSObserver receives handshake outcomes (metrics). Calls come from the
// connection's goroutine and must not block.
type TLSObserver interface {
	// TLSHandshake counts a completed handshake.
	TLSHandshake(resumed bool)
	// TLSHandshakeFailed counts a failed one; reason is a certs.Reason*.
	TLSHandshakeFailed(reason string)
}

// plainToTLS answers a client that speaks plain HTTP to the TLS port, as
// Go's net/http and nginx do, so that a human sees why.
var plainToTLS = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 49\r\n\r\nClient sent an HTTP request to an HTTPS server.\r\n")

// startTLS marks c for TLS termination with cfg: the handshake runs at the
// first read (after a PROXY protocol header, which comes before TLS).
func (c *clientConn) startTLS(cfg *tls.Config) { c.tlsCfg = cfg }

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

// handshake completes the TLS handshake under the client_header deadline
// counted from accept. On failure it counts and logs (debug) the reason and
// returns the error; the caller closes the connection.
func (c *clientConn) handshake() error {
	c.hsDone = true
	c.raw = c.Conn
	under := c.Conn
	if c.w > c.r { // bytes read before TLS (after a PROXY header) belong to it
		under = &prefixConn{Conn: c.Conn, pre: append([]byte(nil), c.buf[c.r:c.w]...)}
		c.r, c.scan, c.w = 0, 0, 0
		c.mark()
	}
	c.tls = tls.Server(under, c.tlsCfg)
	c.Conn = c.tls
	deadline := c.acceptT.Add(c.t.timeouts.ClientHeader)
	_ = c.raw.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := c.tls.HandshakeContext(ctx)
	cancel()
	_ = c.raw.SetWriteDeadline(time.Time{})
	obs := c.t.tlsObs
	if err == nil {
		if obs != nil {
			obs.TLSHandshake(c.tls.ConnectionState().DidResume)
		}
		return nil
	}
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
	if log := c.ln.p.log; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("tls handshake failed", "frontend", c.ln.p.frontend, "client", c.ip.String(),
			"sni", c.tls.ConnectionState().ServerName, "reason", reason, "error", err.Error())
	}
	return err
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

// hstsValue is the Strict-Transport-Security value for max-age d ("" when
// d <= 0).
func hstsValue(d time.Duration) []byte {
	if d <= 0 {
		return nil
	}
	return []byte("max-age=" + strconv.FormatInt(int64(d/time.Second), 10))
}

var strHSTS = []byte("Strict-Transport-Security")

// isTLS reports whether the request came over TLS.
func (ex *exchange) isTLS() bool { return ex.cc != nil && ex.cc.tls != nil }
