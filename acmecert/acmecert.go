// Package acmecert obtains and renews certificates for a TLS frontend
// with ACME (RFC 8555), through github.com/caddyserver/certmagic — the
// library Caddy's automatic HTTPS is built on (see docs/tls.md for why
// it and not golang.org/x/crypto/acme/autocert). A Manager answers
// TLS-ALPN-01 challenges on the frontend's own listener (its
// GetCertificate, through certs.Server) and HTTP-01 challenges on the
// redirect_from listener (HandleHTTPChallenge); it keeps accounts, keys
// and certificates in a storage directory, obtains certificates at start
// (not at the first handshake) and renews them in the background.
package acmecert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Options configure a Manager. Two Managers with Equal options manage the
// same certificates (a reload keeps the running one).
type Options struct {
	// Email is the ACME account contact ("" = none).
	Email string
	// Domains are the names to obtain certificates for (lower case).
	Domains []string
	// Directory is the ACME directory URL.
	Directory string
	// Storage is the directory for accounts, keys and certificates.
	Storage string
	// RootCAs verify the directory's HTTPS certificate (nil: system).
	RootCAs *x509.CertPool
	// RootsID names RootCAs' content for Equal.
	RootsID [32]byte
	// HTTPPort is the port of the plain listener that answers HTTP-01
	// (redirect_from); 0 turns HTTP-01 off.
	HTTPPort int
	// TLSPort is the TLS listener's port, which answers TLS-ALPN-01.
	TLSPort int
	// Logger receives what happens (obtained, renewed, failed).
	Logger *slog.Logger

	// RenewCheckInterval is how often certificates are checked for renewal
	// (default certmagic's: 10 minutes); RenewalWindowRatio is the part of
	// a certificate's lifetime before its expiry in which it is renewed
	// (default 1/3). Tests shorten both.
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64
}

// Equal reports whether o and p manage the same certificates the same way.
func (o Options) Equal(p Options) bool {
	return o.Email == p.Email && slices.Equal(o.Domains, p.Domains) && o.Directory == p.Directory &&
		o.Storage == p.Storage && o.RootsID == p.RootsID && o.HTTPPort == p.HTTPPort && o.TLSPort == p.TLSPort &&
		o.RenewCheckInterval == p.RenewCheckInterval && o.RenewalWindowRatio == p.RenewalWindowRatio
}

// Manager manages the certificates of one frontend. It implements
// certs.Source. Safe for concurrent use.
type Manager struct {
	opts    Options
	cache   *certmagic.Cache
	cfg     *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	domains map[string]bool
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// New builds a Manager; Start begins obtaining certificates.
func New(o Options) (*Manager, error) {
	if len(o.Domains) == 0 {
		return nil, errors.New("acme: no domains")
	}
	if o.Storage == "" {
		return nil, errors.New("acme: no storage directory")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Manager{opts: o, domains: map[string]bool{}, log: o.Logger.With("acme", o.Directory)}
	for _, d := range o.Domains {
		m.domains[d] = true
	}
	zl := zap.New(&slogCore{log: m.log, level: zap.WarnLevel})
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		RenewCheckInterval: o.RenewCheckInterval,
		Logger:             zl,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		RenewalWindowRatio: o.RenewalWindowRatio,
		Storage:            &certmagic.FileStorage{Path: o.Storage},
		DefaultServerName:  o.Domains[0],
		Logger:             zl,
		OnEvent:            m.onEvent,
	})
	m.issuer = certmagic.NewACMEIssuer(m.cfg, certmagic.ACMEIssuer{
		CA:                   o.Directory,
		Email:                o.Email,
		Agreed:               true,
		DisableHTTPChallenge: o.HTTPPort == 0,
		AltHTTPPort:          o.HTTPPort,
		AltTLSALPNPort:       o.TLSPort,
		TrustedRoots:         o.RootCAs,
		Logger:               zl,
	})
	m.cfg.Issuers = []certmagic.Issuer{m.issuer}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Start loads the certificates in storage and obtains (in the background)
// those that are missing or due; renewal then runs until Stop.
func (m *Manager) Start() error {
	if err := m.cfg.ManageAsync(m.ctx, m.opts.Domains); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	return nil
}

// Stop ends renewal and any obtain in progress. It waits for the cache's
// maintenance goroutine.
func (m *Manager) Stop() {
	m.once.Do(func() {
		m.cancel()
		m.cache.Stop()
	})
}

// Options returns the options the Manager was built with.
func (m *Manager) Options() Options { return m.opts }

// Manages reports whether name is one of the Manager's domains.
func (m *Manager) Manages(name string) bool { return m.domains[name] }

// GetCertificate returns the certificate for hello: a TLS-ALPN-01
// challenge certificate when hello offers acme-tls/1, else the managed
// certificate for its name (or the first domain's).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.cfg.GetCertificate(hello)
}

// HandleHTTPChallenge answers an HTTP-01 challenge request and reports
// whether r was one.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return m.issuer.HandleHTTPChallenge(w, r)
}

// NotAfter returns the expiry of the certificate held for name.
func (m *Manager) NotAfter(name string) (time.Time, bool) {
	var best time.Time
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && c.Leaf.NotAfter.After(best) {
			best = c.Leaf.NotAfter
		}
	}
	return best, !best.IsZero()
}

// onEvent logs obtained, renewed and failed certificates.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	id, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		renewal, _ := data["renewal"].(bool)
		if renewal {
			m.log.Info("acme: certificate renewed", "domain", id)
		} else {
			m.log.Info("acme: certificate obtained", "domain", id)
		}
	case "cert_failed":
		renewal, _ := data["renewal"].(bool)
		err, _ := data["error"].(error)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		m.log.Error("acme: could not obtain a certificate", "domain", id, "renewal", renewal, "error", msg)
	}
	return nil
}

// NormalizeDomain lower-cases a domain and drops a trailing dot.
func NormalizeDomain(d string) string { return strings.TrimSuffix(strings.ToLower(d), ".") }
