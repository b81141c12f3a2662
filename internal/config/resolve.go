package config

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolve bounds.
const (
	// ResolveTimeout bounds one name's lookup (an SRV name's records and
	// their targets' addresses together).
	ResolveTimeout = 5 * time.Second
	// resolveParallel bounds concurrent lookups.
	resolveParallel = 8
)

// Resolver looks names up; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// systemResolver is used when the configuration names no resolvers; tests
// replace it.
var systemResolver Resolver = net.DefaultResolver

// NewResolver returns the resolver that the configuration asks for: the
// system's (/etc/resolv.conf) when Resolvers is empty, otherwise Go's DNS
// client sending every query to the listed servers, in order, each try
// bounded by 2 s. Resolvers must have been validated.
func (c *Config) NewResolver() Resolver {
	if len(c.Resolvers) == 0 {
		return systemResolver
	}
	servers := make([]string, 0, len(c.Resolvers))
	for _, r := range c.Resolvers {
		if ap, err := ResolverAddr(r); err == nil {
			servers = append(servers, ap.String())
		}
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: 2 * time.Second}
		var err error
		for _, s := range servers {
			var c net.Conn
			if c, err = d.DialContext(ctx, network, s); err == nil {
				return c, nil
			}
		}
		return nil, err
	}}
}

// Resolve is ResolveWith(ctx, c.NewResolver()).
func (c *Config) Resolve(ctx context.Context) error { return c.ResolveWith(ctx, c.NewResolver()) }

// Target is one address a server name resolved to, with its weight (-1:
// the server's own weight).
type Target struct {
	Addr   netip.AddrPort
	Weight int
}

// Lookup resolves one server address that is a name: a host:port name to
// its A and AAAA records (with that port), an SRV name to the addresses of
// the targets of its lowest-priority records (with their ports, and their
// weights scaled to 1..256). Duplicates are removed; the order is the
// resolver's. An answer without any address is an error.
func Lookup(ctx context.Context, r Resolver, address string) ([]Target, error) {
	if IsSRVName(address) {
		return lookupSRV(ctx, r, strings.TrimSuffix(address, "."))
	}
	host, port, ok := nameHost(address)
	if !ok {
		return nil, fmt.Errorf("%q is not a host name with a port", address)
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, a := range ips {
		out = appendTarget(out, Target{netip.AddrPortFrom(a.Unmap(), port), -1})
	}
	if len(out) == 0 {
		return nil, errors.New("no addresses found")
	}
	return out, nil
}

func appendTarget(ts []Target, t Target) []Target {
	for _, o := range ts {
		if o.Addr == t.Addr {
			return ts
		}
	}
	return append(ts, t)
}

// lookupSRV follows RFC 2782: only the lowest priority is used (sluice has
// no backup servers), "." means the service is not offered.
func lookupSRV(ctx context.Context, r Resolver, name string) ([]Target, error) {
	_, recs, err := r.LookupSRV(ctx, "", "", name)
	if err != nil {
		return nil, err
	}
	best := -1
	maxW := 0
	for _, s := range recs {
		if s.Target == "." || s.Target == "" || s.Port == 0 {
			continue
		}
		if best < 0 || int(s.Priority) < best {
			best, maxW = int(s.Priority), 0
		}
		if int(s.Priority) == best {
			maxW = max(maxW, int(s.Weight))
		}
	}
	var out []Target
	var errs []error
	for _, s := range recs {
		if s.Target == "." || s.Target == "" || s.Port == 0 || int(s.Priority) != best {
			continue
		}
		ips, err := r.LookupNetIP(ctx, "ip", strings.TrimSuffix(s.Target, "."))
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", s.Target, err))
			continue
		}
		w := srvWeight(int(s.Weight), maxW)
		for _, a := range ips {
			out = appendTarget(out, Target{netip.AddrPortFrom(a.Unmap(), s.Port), w})
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, errors.New("no SRV records with a target found")
	}
	return out, nil
}

// srvWeight maps an SRV weight (0..65535) to a server weight (1..256):
// unchanged when every weight fits, scaled to the largest otherwise. A
// weight of 0 ("very small chance", RFC 2782) becomes 1.
func srvWeight(w, maxW int) int {
	if maxW > MaxWeight {
		w = int(math.Round(float64(w) * MaxWeight / float64(maxW)))
	}
	return min(max(w, 1), MaxWeight)
}

// ResolveWith looks up every server whose address is a DNS or SRV name
// and fills its Addrs (and AddrWeights for SRV; IP literals were filled by
// Parse). Each name is looked up once, with ResolveTimeout and ctx, at most
// 8 at once. Every failure is a positioned error naming the server, and
// Addrs of the failed servers stay empty. Resolve is called by the wiring
// after Load, on every reload and by the dns_refresh cycle; it is not safe
// to call concurrently with readers of the same Config.
func (c *Config) ResolveWith(ctx context.Context, r Resolver) error {
	return c.ResolveFunc(ctx, func(ctx context.Context, address string) ([]Target, error) {
		return Lookup(ctx, r, address)
	})
}

// LookupFunc resolves one server address that is a name (see Lookup).
type LookupFunc func(ctx context.Context, address string) ([]Target, error)

// ResolveFunc is ResolveWith with the lookups done by f (the dns_refresh
// cycle answers from what it has just looked up).
func (c *Config) ResolveFunc(ctx context.Context, f LookupFunc) error {
	type result struct {
		ts  []Target
		err error
	}
	var names []string
	seen := map[string]bool{}
	for bi := range c.Backends {
		for si := range c.Backends[bi].Servers {
			if n := c.Backends[bi].Servers[si].Address; IsName(n) && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	out := make([]result, len(names)) // out[i] is written only by worker i
	var wg sync.WaitGroup
	sem := make(chan struct{}, resolveParallel)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			lctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
			defer cancel()
			out[i].ts, out[i].err = f(lctx, name)
		}()
	}
	wg.Wait()
	results := make(map[string]*result, len(names))
	for i, n := range names {
		results[n] = &out[i]
	}

	col := &collector{file: c.File}
	for bi := range c.Backends {
		b := &c.Backends[bi]
		for si := range b.Servers {
			s := &b.Servers[si]
			if !IsName(s.Address) {
				continue
			}
			res := results[s.Address]
			s.Addrs, s.AddrWeights = nil, nil
			if res.err != nil {
				col.add(s.m.pos("address"), "backends[%d].servers[%d].address: cannot resolve %q: %v", bi, si, s.Address, res.err)
				continue
			}
			s.Addrs = make([]netip.AddrPort, len(res.ts))
			for i, t := range res.ts {
				s.Addrs[i] = t.Addr
				if t.Weight >= 0 {
					if s.AddrWeights == nil {
						s.AddrWeights = make([]int, len(res.ts))
					}
					s.AddrWeights[i] = t.Weight
				}
			}
		}
	}
	return col.errs.err()
}

// IsName reports whether a server address must be resolved: a host:port
// whose host is a DNS name, or an SRV name.
func IsName(addr string) bool {
	_, _, ok := nameHost(addr)
	return ok || IsSRVName(addr)
}

// nameHost returns host and port of an address whose host is a DNS name
// (not an IP literal); ok is false otherwise.
func nameHost(addr string) (string, uint16, bool) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || h == "" {
		return "", 0, false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return "", 0, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, false
	}
	return h, uint16(port), true
}
