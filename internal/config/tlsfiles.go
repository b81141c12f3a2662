package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluicelb/sluice/certs"
)

// now is the clock certificate expiry is checked against (tests set it).
var now = time.Now

// loadTLSFiles reads and checks every certificate, key and CA file the
// configuration names (certs.LoadPair, certs.LoadCA) and keeps what it
// loaded in the Config, so that what was checked is what is served. A
// problem is reported at the key naming the file, with the file's name.
func (c *Config) loadTLSFiles(col *collector) {
	t := now()
	for fi := range c.Frontends {
		f := &c.Frontends[fi]
		if f.TLS == nil || f.TLS.m.bad || f.Mode != ModeHTTP {
			continue
		}
		tp := fmt.Sprintf("frontends[%d].tls", fi)
		for i := range f.TLS.Certificates {
			ce := &f.TLS.Certificates[i]
			if ce.m.bad || ce.Cert == "" || ce.Key == "" {
				continue
			}
			p, err := certs.LoadPair(ce.Cert, ce.Key, t)
			if err != nil {
				key := "cert"
				var fe *certs.FileError
				if errors.As(err, &fe) && fe.Key {
					key = "key"
				}
				col.add(ce.m.pos(key), "%s.certificates[%d].%s: %v", tp, i, key, err)
				continue
			}
			ce.Pair = p
		}
		if a := f.TLS.ACME; a != nil && !a.m.bad && a.CA != "" {
			pool, sum, err := certs.LoadCA(a.CA)
			if err != nil {
				col.add(a.m.pos("ca"), "%s.acme.ca: %v", tp, err)
				continue
			}
			a.RootCAs, a.CASum = pool, sum
		}
	}
	for bi := range c.Backends {
		bt := &c.Backends[bi].TLS
		if bt.m.bad || !bt.Enabled || bt.CA == "" {
			continue
		}
		pool, sum, err := certs.LoadCA(bt.CA)
		if err != nil {
			col.add(bt.m.pos("ca"), "backends[%d].tls.ca: %v", bi, err)
			continue
		}
		bt.RootCAs, bt.CASum = pool, sum
	}
}

// ExpiringCertificates returns the certificates loaded from files that
// expire within certs.ExpiryWarning of at, with the frontend naming each:
// start-up and every reload log a warning for each.
func (c *Config) ExpiringCertificates(at time.Time) (frontends []string, pairs []*certs.Pair) {
	for fi := range c.Frontends {
		f := &c.Frontends[fi]
		if f.TLS == nil {
			continue
		}
		for _, ce := range f.TLS.Certificates {
			if ce.Pair != nil && ce.Pair.NotAfter.Sub(at) < certs.ExpiryWarning {
				frontends, pairs = append(frontends, f.Name), append(pairs, ce.Pair)
			}
		}
	}
	return frontends, pairs
}
