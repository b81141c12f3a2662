package certs

import (
	"crypto/tls"
	"crypto/x509"
)

// ClientOptions configure TLS from sluice to a backend's servers.
type ClientOptions struct {
	// ServerName is sent as SNI and verified against the server's
	// certificate; "" uses each server's host (an IP address is then
	// verified against the certificate's IP SANs and sent as no SNI).
	ServerName string
	// RootCAs verify the servers' certificates; nil = the system pool.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any certificate (the caller warns).
	InsecureSkipVerify bool
}

// ClientConfig returns the *tls.Config for connections to the server at
// host (its address without the port). TLS 1.2 and 1.3 with Go's
// defaults, ALPN http/1.1, client session resumption (a cache per config).
func ClientConfig(o ClientOptions, host string) *tls.Config {
	name := o.ServerName
	if name == "" {
		name = host
	}
	return &tls.Config{
		ServerName:         name,
		RootCAs:            o.RootCAs,
		InsecureSkipVerify: o.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{ALPNHTTP11},
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
}
