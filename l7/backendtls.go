package l7

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"github.com/sluicelb/sluice/certs"
	"github.com/sluicelb/sluice/engine"
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

// dialTLS completes the TLS handshake with a server on the new connection
// raw (bounded by deadline) and bridges it to a socket pair whose loop end
// it returns; the request goes through tc first when head is not empty. A
// failed handshake is a failed connect (nothing was sent).
func dialTLS(raw *net.TCPConn, cfg *tls.Config, deadline time.Time, head []byte, writeTO time.Duration) (engine.Stream, bool, error) {
	tc := tls.Client(raw, cfg)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = raw.Close()
		return nil, false, err
	}
	sent := false
	if len(head) > 0 {
		_ = raw.SetWriteDeadline(time.Now().Add(writeTO))
		if _, err := tc.Write(head); err != nil {
			_ = raw.Close()
			return nil, false, err
		}
		_ = raw.SetWriteDeadline(time.Time{})
		sent = true
	}
	end, err := startBridge(tc, raw, writeTO)
	if err != nil {
		_ = raw.Close()
		return nil, false, err
	}
	return end, sent, nil
}
