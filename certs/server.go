package certs

import (
	"crypto/tls"
	"errors"
	"slices"
	"sync/atomic"
)

// ALPN protocol names.
const (
	ALPNHTTP11 = "http/1.1"
	ALPNACME   = "acme-tls/1" // RFC 8737 TLS-ALPN-01 challenges
)

// Source supplies certificates that are not in files: ACME.
type Source interface {
	// Manages reports whether the source has (or is obtaining) a
	// certificate for name.
	Manages(name string) bool
	// GetCertificate returns the certificate for hello (a TLS-ALPN-01
	// challenge certificate when hello offers acme-tls/1).
	GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Settings are what a reload may change on a Server.
type Settings struct {
	// Store holds the certificates from files; may be empty when ACME
	// supplies every certificate.
	Store *Store
	// ACME, if not nil, supplies certificates for its names and answers
	// TLS-ALPN-01 challenges.
	ACME Source
	// MinVersion is tls.VersionTLS12 (default when 0) or tls.VersionTLS13.
	MinVersion uint16
}

// ErrNoCertificate is the handshake error when no certificate is
// configured for a name and there is no default.
var ErrNoCertificate = errors.New("no certificate for this server name")

// Server is the TLS side of one frontend: one long-lived *tls.Config
// (Config) for the life of the listener, whose GetCertificate reads the
// current Settings through an atomic pointer. Swap installs new Settings
// (a reload): handshakes from then on use them; connections already
// established are not touched, and the listener is never rebound.
// Session ticket keys are set on Config by TicketKeys. Safe for concurrent
// use.
type Server struct {
	base *tls.Config // min TLS 1.2; tickets keys are set here
	v13  *tls.Config // served instead while MinVersion is 1.3 (no own keys: base's are used)
	acme *tls.Config // for acme-tls/1 hellos
	cur  atomic.Pointer[Settings]
}

// NewServer returns a Server with settings s. The protocols offered by
// ALPN are http/1.1 (and acme-tls/1 to ACME challenges only).
func NewServer(s Settings) *Server {
	srv := &Server{}
	srv.base = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{ALPNHTTP11},
		GetCertificate:     srv.getCertificate,
		GetConfigForClient: srv.configForClient,
	}
	srv.v13 = &tls.Config{
		MinVersion:     tls.VersionTLS13,
		NextProtos:     []string{ALPNHTTP11},
		GetCertificate: srv.getCertificate,
	}
	srv.acme = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{ALPNACME},
		GetCertificate: srv.getCertificate,
	}
	srv.Swap(s)
	return srv
}

// Config is the frontend's *tls.Config: give it to tls.Server for every
// accepted connection. It must not be modified.
func (srv *Server) Config() *tls.Config { return srv.base }

// Swap installs s for handshakes that start from now on.
func (srv *Server) Swap(s Settings) {
	if s.MinVersion == 0 {
		s.MinVersion = tls.VersionTLS12
	}
	srv.cur.Store(&s)
}

// Settings returns the current settings.
func (srv *Server) Settings() Settings { return *srv.cur.Load() }

func (srv *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	s := srv.cur.Load()
	if s.ACME != nil && slices.Contains(hello.SupportedProtos, ALPNACME) {
		return srv.acme, nil
	}
	if s.MinVersion >= tls.VersionTLS13 {
		return srv.v13, nil
	}
	return nil, nil // base
}

// getCertificate: a TLS-ALPN-01 challenge → ACME; a name a file
// certificate covers → it; a name ACME manages → ACME; else the default
// file certificate; else ACME's answer (its default name).
func (srv *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := srv.cur.Load()
	if s.ACME != nil && slices.Contains(hello.SupportedProtos, ALPNACME) {
		return s.ACME.GetCertificate(hello)
	}
	if c := s.Store.Match(hello.ServerName); c != nil {
		return c, nil
	}
	if s.ACME != nil && (hello.ServerName != "" && s.ACME.Manages(lower(hello.ServerName)) || s.Store.Len() == 0) {
		return s.ACME.GetCertificate(hello)
	}
	if c := s.Store.Select(hello.ServerName); c != nil {
		return c, nil
	}
	return nil, ErrNoCertificate
}
