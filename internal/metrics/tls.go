package metrics

import (
	"math"
	"sync/atomic"
	"time"
)

// TLS metric names (contract §7).
const (
	NameTLSHandshakes        = "sluice_tls_handshakes_total"
	NameTLSHandshakeFailures = "sluice_tls_handshake_failures_total"
	NameTLSCertExpiry        = "sluice_tls_certificate_expiry_seconds"
)

func init() {
	familyInfo[NameTLSHandshakes] = [2]string{"counter", "TLS handshakes completed on a frontend, by whether the session was resumed."}
	familyInfo[NameTLSHandshakeFailures] = [2]string{"counter", "TLS handshakes that failed on a frontend, by reason (timeout, closed, not_tls, client_alert, version, cipher, alpn, certificate, other)."}
	familyInfo[NameTLSCertExpiry] = [2]string{"gauge", "Seconds until a frontend's certificate expires (negative once expired; NaN while an ACME certificate is not obtained yet), by certificate name."}
}

// tlsSeries are a TLS frontend's handshake counters, created by EnableTLS.
type tlsSeries struct {
	full, resumed *Counter
	failures      map[string]*Counter
	other         *Counter
}

// EnableTLS creates the handshake series of the frontend (at 0) for the
// given failure reasons (the last one, "other", also takes unknown ones).
// Configuration path; calling it again is harmless.
func (f *Frontend) EnableTLS(reasons []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tls.Load() != nil {
		return
	}
	s := &tlsSeries{failures: map[string]*Counter{}}
	s.full = f.set.NewCounter(seriesName(NameTLSHandshakes, "frontend", f.name, "resumed", "false"))
	s.resumed = f.set.NewCounter(seriesName(NameTLSHandshakes, "frontend", f.name, "resumed", "true"))
	for _, r := range reasons {
		c := f.set.NewCounter(seriesName(NameTLSHandshakeFailures, "frontend", f.name, "reason", r))
		s.failures[r] = c
		s.other = c
	}
	f.tls.Store(s)
}

// TLSHandshake counts a completed handshake (sluice_tls_handshakes_total).
// Allocation-free; a no-op before EnableTLS.
func (f *Frontend) TLSHandshake(resumed bool) {
	s := f.tls.Load()
	switch {
	case s == nil:
	case resumed:
		s.resumed.Inc()
	default:
		s.full.Inc()
	}
}

// TLSHandshakeFailed counts a failed handshake by reason
// (sluice_tls_handshake_failures_total). A no-op before EnableTLS.
func (f *Frontend) TLSHandshakeFailed(reason string) {
	s := f.tls.Load()
	if s == nil {
		return
	}
	if c := s.failures[reason]; c != nil {
		c.Inc()
	} else if s.other != nil {
		s.other.Inc()
	}
}

// CertExpiry gives the expiry of a certificate by name; ok false while it
// is not known (an ACME certificate not obtained yet).
type CertExpiry func() (notAfter time.Time, ok bool)

// SetCertificates makes sluice_tls_certificate_expiry_seconds{frontend,name}
// show exactly the given certificates (series of names no longer given are
// removed). Configuration path.
func (f *Frontend) SetCertificates(certs map[string]CertExpiry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.certs == nil {
		f.certs = map[string]*atomic.Pointer[CertExpiry]{}
	}
	for name, p := range f.certs {
		if _, ok := certs[name]; !ok {
			f.set.UnregisterMetric(seriesName(NameTLSCertExpiry, "frontend", f.name, "name", name))
			delete(f.certs, name)
			_ = p
		}
	}
	for name, fn := range certs {
		p := f.certs[name]
		if p == nil {
			p = &atomic.Pointer[CertExpiry]{}
			f.certs[name] = p
			f.set.NewGauge(seriesName(NameTLSCertExpiry, "frontend", f.name, "name", name), func() float64 {
				at, ok := (*p.Load())()
				if !ok {
					return math.NaN()
				}
				return math.Round(time.Until(at).Seconds())
			})
		}
		fn := fn
		p.Store(&fn)
	}
}
