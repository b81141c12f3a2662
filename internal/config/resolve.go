package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Resolve bounds.
const (
	// ResolveTimeout bounds one host name lookup.
	ResolveTimeout = 5 * time.Second
	// resolveParallel bounds concurrent lookups.
	resolveParallel = 8
)

// lookupHost is the resolver; tests replace it.
var lookupHost = net.DefaultResolver.LookupHost

// Resolve looks up every server whose host is a DNS name and fills its
// Addrs (IP literals were filled by Parse). Each lookup has ResolveTimeout
// and ctx; at most 8 run at once; a name used by several servers is looked
// up once. Every failure is a positioned error naming the server, and
// Addrs of the failed servers stay empty. Resolve is called by the wiring
// after Load and on every reload; it is not safe to call concurrently with
// readers of the same Config.
func (c *Config) Resolve(ctx context.Context) error {
	type result struct {
		addrs []netip.Addr
		err   error
	}
	var hosts []string
	seenHost := map[string]bool{}
	for bi := range c.Backends {
		for si := range c.Backends[bi].Servers {
			if host, _, ok := nameHost(c.Backends[bi].Servers[si].Address); ok && !seenHost[host] {
				seenHost[host] = true
				hosts = append(hosts, host)
			}
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	out := make([]result, len(hosts)) // out[i] is written only by worker i
	var wg sync.WaitGroup
	sem := make(chan struct{}, resolveParallel)
	for i, host := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			lctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
			defer cancel()
			names, err := lookupHost(lctx, host)
			r := &out[i]
			r.err = err
			for _, n := range names {
				if a, err := netip.ParseAddr(n); err == nil {
					r.addrs = append(r.addrs, a.Unmap())
				}
			}
			if err == nil && len(r.addrs) == 0 {
				r.err = fmt.Errorf("no addresses found")
			}
		}()
	}
	wg.Wait()
	results := make(map[string]*result, len(hosts))
	for i, h := range hosts {
		results[h] = &out[i]
	}

	col := &collector{file: c.File}
	for bi := range c.Backends {
		b := &c.Backends[bi]
		for si := range b.Servers {
			s := &b.Servers[si]
			host, port, ok := nameHost(s.Address)
			if !ok {
				continue
			}
			r := results[host]
			if r.err != nil {
				col.add(s.m.pos("address"), "backends[%d].servers[%d].address: cannot resolve %q: %v", bi, si, host, r.err)
				s.Addrs = nil
				continue
			}
			s.Addrs = make([]netip.AddrPort, 0, len(r.addrs))
			seen := map[netip.Addr]bool{}
			for _, a := range r.addrs {
				if !seen[a] {
					seen[a] = true
					s.Addrs = append(s.Addrs, netip.AddrPortFrom(a, port))
				}
			}
		}
	}
	return col.errs.err()
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
