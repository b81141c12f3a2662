package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluicelb/sluice/acmecert"
	"github.com/sluicelb/sluice/certs"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/metrics"
)

// TLS of http frontends (contract §7). A TLS frontend has one
// certs.Server for the life of its listener: a reload swaps its settings
// (certificates, min_version, ACME) in commit and never rebinds. Its
// redirect_from listener and ACME manager are kept across reloads that do
// not change them; ticket keys are the App's (one set, rotated by
// tickLoop, kept in state_dir).

// State files under admin.state_dir.
const (
	ticketKeyFile = "tls-ticket-keys"
	stickyKeyFile = "sticky.key"
)

// frontendTLS is the TLS side of a running http frontend.
type frontendTLS struct {
	srv      *certs.Server
	keys     *certs.TicketKeys
	acme     *acmecert.Manager // nil: no ACME
	redirect *redirectServer   // nil: no redirect_from
}

// tlsPlan is a frontend's TLS as a plan builds it.
type tlsPlan struct {
	settings    certs.Settings
	srv         *certs.Server // fresh frontends: built here; kept ones: the running one
	acme        *acmecert.Manager
	newACME     bool
	redirect    *redirectServer
	newRedirect bool
}

// secrets loads (or makes) the ticket keys and the sticky-cookie secret,
// from state_dir when it is set. Called once, at Start.
func (a *App) secrets(stateDir string) {
	file := func(name string) string {
		if stateDir == "" {
			return ""
		}
		return filepath.Join(stateDir, name)
	}
	keys, err := certs.NewTicketKeys(certs.TicketOptions{File: file(ticketKeyFile)}, time.Now())
	if err != nil {
		a.log.Warn("tls session ticket keys not kept across restarts", "error", err.Error())
	}
	a.tickets = keys
	if a.sticky, err = certs.Secret(file(stickyKeyFile)); err != nil {
		a.log.Warn("sticky-session cookies will not survive a restart", "error", err.Error())
	}
}

// planTLS builds the TLS of frontend f for the plan: the certificate store,
// the ACME manager (kept when unchanged), the redirect listener (kept when
// its address is unchanged, else bound). old may be nil.
func (pl *plan) planTLS(f *config.Frontend, old *frontendRT) (*tlsPlan, error) {
	a := pl.a
	t := f.TLS
	tp := &tlsPlan{}
	var pairs []*certs.Pair
	for _, c := range t.Certificates {
		pairs = append(pairs, c.Pair)
	}
	tp.settings = certs.Settings{Store: certs.NewStore(pairs), MinVersion: tls.VersionTLS12}
	if t.MinVersion == config.TLS13 {
		tp.settings.MinVersion = tls.VersionTLS13
	}
	var oldTLS *frontendTLS
	if old != nil {
		oldTLS = old.tls
	}
	if ac := t.ACME; ac != nil {
		o := acmecert.Options{Email: ac.Email, Domains: ac.Domains, Directory: ac.Directory,
			Storage: ac.StoragePath(pl.cfg.Admin.StateDir), RootCAs: ac.RootCAs, TLSPort: portOf(f.Listen),
			HTTPPort: portOf(t.RedirectFrom), Logger: a.log.With("frontend", f.Name),
			RootsID: ac.CASum, RenewCheckInterval: a.acmeRenewCheck, RenewalWindowRatio: a.acmeRenewRatio}
		if oldTLS != nil && oldTLS.acme != nil && oldTLS.acme.Options().Equal(o) {
			tp.acme = oldTLS.acme
		} else {
			m, err := acmecert.New(o)
			if err == nil {
				err = m.Start()
				if err != nil {
					m.Stop()
				}
			}
			if err != nil {
				return nil, fmt.Errorf("frontend %q: tls.acme: %w", f.Name, err)
			}
			tp.acme, tp.newACME = m, true
		}
		tp.settings.ACME = tp.acme
	}
	if addr := t.RedirectFrom; addr != "" {
		if oldTLS != nil && oldTLS.redirect != nil && oldTLS.redirect.addr == addr {
			tp.redirect = oldTLS.redirect
		} else {
			ln, err := a.listen(fmt.Sprintf("frontend %q: tls.redirect_from", f.Name), addr)
			if err != nil {
				return tp, err
			}
			tp.redirect, tp.newRedirect = newRedirectServer(addr, ln, f), true
		}
	}
	if oldTLS != nil && keeps(old, f) {
		tp.srv = oldTLS.srv
	} else {
		tp.srv = certs.NewServer(tp.settings)
	}
	return tp, nil
}

// abandon undoes what planTLS built.
func (tp *tlsPlan) abandon() {
	if tp == nil {
		return
	}
	if tp.newACME {
		tp.acme.Stop()
	}
	if tp.newRedirect {
		_ = tp.redirect.ln.Close()
	}
}

// commitTLS makes tp the TLS of rt (kept or fresh); old is the frontend rt
// replaces (nil when kept or new). What old had and tp did not keep is
// stopped.
func (a *App) commitTLS(rt *frontendRT, tp *tlsPlan, f *config.Frontend, old *frontendRT) {
	prev := rt.tls
	if old != nil {
		prev = old.tls
	}
	if tp == nil { // no TLS any more
		rt.tls = nil
		if prev != nil && old == nil {
			prev.stop(context.Background())
		}
		return
	}
	tp.srv.Swap(tp.settings)
	next := &frontendTLS{srv: tp.srv, keys: a.tickets, acme: tp.acme, redirect: tp.redirect}
	if prev == nil || prev.srv != tp.srv {
		a.tickets.Attach(tp.srv.Config())
	}
	if tp.redirect != nil {
		tp.redirect.set(f, tp.acme)
		if tp.newRedirect {
			tp.redirect.start()
		}
	}
	if prev != nil {
		// What the next TLS keeps is no longer prev's to stop.
		if prev.acme == tp.acme {
			prev.acme = nil
		}
		if prev.redirect == tp.redirect {
			prev.redirect = nil
		}
		if prev.srv == tp.srv {
			prev.srv = nil
		}
		if old == nil { // kept frontend: stop what was replaced now
			prev.stop(context.Background())
		}
	}
	rt.tls = next
	rt.met.EnableTLS(certs.Reasons)
	rt.met.SetCertificates(certExpiries(f, tp.acme))
}

// stop ends what t still owns: the redirect listener (requests in flight
// finish until ctx), the ACME manager, the ticket-key subscription.
func (t *frontendTLS) stop(ctx context.Context) {
	if t == nil {
		return
	}
	if t.redirect != nil {
		t.redirect.stop(ctx)
	}
	if t.acme != nil {
		t.acme.Stop()
	}
	if t.srv != nil && t.keys != nil {
		t.keys.Detach(t.srv.Config())
	}
}

// certExpiries lists the certificates of f for the expiry metric.
func certExpiries(f *config.Frontend, m *acmecert.Manager) map[string]metrics.CertExpiry {
	out := map[string]metrics.CertExpiry{}
	for _, c := range f.TLS.Certificates {
		if p := c.Pair; p != nil {
			at := p.NotAfter
			if _, dup := out[p.Name()]; !dup {
				out[p.Name()] = func() (time.Time, bool) { return at, true }
			}
		}
	}
	if m != nil {
		for _, d := range f.TLS.ACME.Domains {
			out[d] = func() (time.Time, bool) { return m.NotAfter(d) }
		}
	}
	return out
}

// warnTLS logs, at start and at every reload, certificates that expire
// within 14 days and backends that skip certificate verification.
func (a *App) warnTLS(cfg *config.Config) {
	now := time.Now()
	fes, pairs := cfg.ExpiringCertificates(now)
	for i, p := range pairs {
		a.log.Warn("certificate expires soon", "frontend", fes[i], "name", p.Name(), "file", p.CertFile,
			"not_after", p.NotAfter.UTC().Format(time.RFC3339), "in", p.NotAfter.Sub(now).Round(time.Minute).String())
	}
	for _, b := range cfg.Backends {
		if b.TLS.Enabled && b.TLS.InsecureSkipVerify {
			a.log.Warn("tls.insecure_skip_verify: the servers' certificates are not verified", "backend", b.Name)
		}
	}
}

// tlsClient is the template *tls.Config of health checks of a backend
// with TLS (nil when off); ServerName "" = each server's host.
func tlsClient(c *config.Backend) *tls.Config {
	if !c.TLS.Enabled {
		return nil
	}
	return certs.ClientConfig(certs.ClientOptions{ServerName: c.TLS.ServerName, RootCAs: c.TLS.RootCAs,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify}, "")
}

func portOf(addr string) int {
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
