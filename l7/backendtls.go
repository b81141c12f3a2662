package l7

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"github.com/sluicelb/sluice/certs"
)

// TLSOptions configure TLS from the proxy to a backend's servers: the
// pooled connections and WebSocket tunnels alike (contract §7
// backends[].tls). The zero value is plain TCP.
type TLSOptions struct {
	// Enabled turns TLS on.
	Enabled bool
	// ServerName is sent as SNI and verified; "" = each server's host.
	ServerName string
	// RootCAs verify the servers; nil = the system pool.
	RootCAs *x509.CertPool
	// RootsID names RootCAs' content (the CA file's SHA-256): two options
	// with equal IDs are the same even when their pools are two loads of
	// one file. Zero with RootCAs nil.
	RootsID [32]byte
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool
}

// Equal reports whether o and p configure the same backend (the pool's
// content compared by RootsID, not by pointer), so that a reload keeps the
// pools and their connections when nothing changed.
func (o BackendOptions) Equal(p BackendOptions) bool {
	o.TLS.RootCAs, p.TLS.RootCAs = nil, nil
	return o == p
}

// clientConfig returns the *tls.Config for the server at addr, nil when TLS
// is off. One per upstream: its session cache resumes TLS sessions.
func (o *TLSOptions) clientConfig(addr string) *tls.Config {
	if !o.Enabled {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return certs.ClientConfig(certs.ClientOptions{ServerName: o.ServerName, RootCAs: o.RootCAs,
		InsecureSkipVerify: o.InsecureSkipVerify}, host)
}

// tlsDialError is a TLS handshake with a server that failed (certificate
// not trusted, wrong name, no common version…): like a refused connect,
// nothing was sent (classify: FailConnect).
type tlsDialError struct{ err error }

func (e *tlsDialError) Error() string { return "tls handshake with the server: " + e.err.Error() }
func (e *tlsDialError) Unwrap() error { return e.err }

// dialServer dials addr and, when cfg is set, completes a TLS handshake,
// all within timeout. It returns the raw TCP connection (for socket-level
// checks) and the one to speak through (the TLS connection, or raw).
// A failure is a *dialError.
func dialServer(d *net.Dialer, addr string, cfg *tls.Config, timeout time.Duration) (raw, conn net.Conn, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err = d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, &dialError{err}
	}
	if cfg == nil {
		return raw, raw, nil
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, nil, &dialError{&tlsDialError{err}}
	}
	return raw, tc, nil
}
