package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicelb/sluice/internal/config"
)

// Servers found by DNS (contract §9). A server whose address is a host name
// stands for every A/AAAA record of the name (an SRV name: every address of
// its lowest-priority targets, with their ports and weights); each address
// is one balance.Server with the name's weight and health checks, kept by
// its dial address across changes. The names are resolved again every
// backends[].dns_refresh, and at once (at most once a second) when every
// address of a name is down. A changed answer goes through the one change
// path: the running configuration text is parsed and validated again with
// the same overrides, resolved with the answers just received, and applied
// with Apply — kept servers keep their state, new ones are probed before
// they get traffic (when active checks are on), removed ones drain.
//
// A lookup that fails keeps the addresses in use (a DNS outage does not take
// servers away); the failure is logged once until a lookup succeeds again.
//
// Labels: a server given by name is labelled "NAME@IP:PORT" (the address
// as written, '@', the address dialled) in metrics (server="app:8080@10.0.0.5:8080")
// and the access log; a server given by IP literal keeps its address.

// serverAddr is one address a configured server stands for.
type serverAddr struct {
	dial, label string
	weight      int
}

// expandServer lists the addresses of a configured server: one per
// resolved address (the address as written when it was not resolved).
func expandServer(s *config.Server) []serverAddr {
	if len(s.Addrs) == 0 {
		return []serverAddr{{s.Address, s.Address, s.Weight}}
	}
	named := config.IsName(s.Address)
	out := make([]serverAddr, 0, len(s.Addrs))
	for i, ap := range s.Addrs {
		w := s.Weight
		if s.AddrWeights != nil {
			w = s.AddrWeights[i]
		}
		sa := serverAddr{dial: ap.String(), weight: w}
		sa.label = sa.dial
		if named {
			sa.label = s.Address + "@" + sa.dial
		}
		out = append(out, sa)
	}
	return out
}

// dnsName is one resolvable server address of the running configuration.
type dnsName struct {
	address string
	refresh time.Duration
	current []config.Target // as applied
	servers []serverProbe   // its servers' health, for the failure trigger
}

type serverProbe interface{ Healthy() bool }

// dnsState is the refresher's memory (owned by its goroutine, except base,
// guarded by a.mu).
type dnsState struct {
	last   map[string]time.Time // address → last lookup
	failed map[string]bool      // address → the last lookup failed (logged)
	base   map[*config.Config]*config.Config
}

// dnsMinRetrigger bounds how often a failing name is looked up again.
const dnsMinRetrigger = time.Second

// dnsLoop re-resolves names until the App stops. It wakes every 100 ms to
// look at deadlines and health, so a refresh of d happens within d+100ms.
func (a *App) dnsLoop() {
	defer a.bg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	st := &dnsState{last: map[string]time.Time{}, failed: map[string]bool{}}
	for {
		select {
		case <-a.stopping:
			return
		case now := <-t.C:
			a.dnsCycle(st, now)
		}
	}
}

// dnsNames lists the names of the running configuration (under a.mu).
func (a *App) dnsNames() (*config.Config, []*dnsName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg := a.cfg
	if cfg == nil || a.stopped {
		return nil, nil
	}
	var out []*dnsName
	seen := map[string]*dnsName{}
	for bi := range cfg.Backends {
		b := &cfg.Backends[bi]
		rt := a.backends[b.Name]
		for si := range b.Servers {
			s := &b.Servers[si]
			if !config.IsName(s.Address) {
				continue
			}
			n := seen[s.Address]
			if n == nil {
				n = &dnsName{address: s.Address, refresh: b.DNSRefresh}
				for i, ap := range s.Addrs {
					w := -1
					if s.AddrWeights != nil {
						w = s.AddrWeights[i]
					}
					n.current = append(n.current, config.Target{Addr: ap, Weight: w})
				}
				seen[s.Address] = n
				out = append(out, n)
			}
			n.refresh = min(n.refresh, b.DNSRefresh)
			if rt != nil {
				for _, sa := range expandServer(s) {
					if srv := rt.servers[sa.dial]; srv != nil {
						n.servers = append(n.servers, srv)
					}
				}
			}
		}
	}
	return cfg, out
}

func allDown(ss []serverProbe) bool {
	if len(ss) == 0 {
		return false
	}
	for _, s := range ss {
		if s.Healthy() {
			return false
		}
	}
	return true
}

// dnsCycle looks up the names that are due, and applies the configuration
// again when an answer changed.
func (a *App) dnsCycle(st *dnsState, now time.Time) {
	cfg, names := a.dnsNames()
	if cfg == nil {
		return
	}
	answers := map[string][]config.Target{}
	changed := false
	var why []string
	for _, n := range names {
		last, seen := st.last[n.address]
		due := !seen || now.Sub(last) >= n.refresh
		failing := seen && now.Sub(last) >= dnsMinRetrigger && allDown(n.servers)
		if !seen {
			st.last[n.address] = now // resolved at load: first refresh one interval later
			continue
		}
		if !due && !failing {
			continue
		}
		st.last[n.address] = now
		ctx, cancel := context.WithTimeout(context.Background(), config.ResolveTimeout)
		ts, err := config.Lookup(ctx, cfg.NewResolver(), n.address)
		cancel()
		if err != nil {
			if !st.failed[n.address] {
				st.failed[n.address] = true
				a.log.Warn("dns refresh failed: keeping the addresses in use", "server", n.address, "error", err.Error())
			}
			continue
		}
		if st.failed[n.address] {
			delete(st.failed, n.address)
			a.log.Info("dns refresh works again", "server", n.address)
		}
		answers[n.address] = ts
		if !sameTargets(ts, n.current) {
			changed = true
			reason := "refresh"
			if failing {
				reason = "all addresses down"
			}
			why = append(why, fmt.Sprintf("%s (%s): %s → %s", n.address, reason, targetList(n.current), targetList(ts)))
		}
	}
	if !changed {
		return
	}
	if err := a.applyResolved(cfg, names, answers); err != nil {
		a.log.Error("dns refresh not applied", "changes", strings.Join(why, "; "), "error", err.Error())
		return
	}
	a.log.Info("servers re-resolved", "changes", strings.Join(why, "; "))
}

// applyResolved builds the next configuration from the running one's text
// (validated again, with the same overrides), resolved with answers (the
// addresses in use for names not looked up now), and applies it unless
// another configuration was applied meanwhile.
func (a *App) applyResolved(base *config.Config, names []*dnsName, answers map[string][]config.Target) error {
	next, err := config.ParseWith(base.File, base.Raw, a.opts.Overrides)
	if err != nil {
		return err
	}
	current := map[string][]config.Target{}
	for _, n := range names {
		current[n.address] = n.current
	}
	err = next.ResolveFunc(context.Background(), func(_ context.Context, address string) ([]config.Target, error) {
		if ts, ok := answers[address]; ok {
			return ts, nil
		}
		if ts := current[address]; len(ts) > 0 {
			return ts, nil
		}
		return nil, fmt.Errorf("no addresses in use")
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.dnsBase == nil {
		a.dnsBase = map[*config.Config]*config.Config{}
	}
	a.dnsBase[next] = base
	a.mu.Unlock()
	_, err = a.Apply(next)
	return err
}

// checkReresolved refuses a re-resolved configuration whose base is no
// longer the running one (a reload won the race). Called by apply with
// a.mu held.
func (a *App) checkReresolved(cfg *config.Config) error {
	base, ok := a.dnsBase[cfg]
	if !ok {
		return nil
	}
	delete(a.dnsBase, cfg)
	if base != a.cfg {
		return fmt.Errorf("the configuration changed meanwhile; the next refresh resolves it")
	}
	return nil
}

func sameTargets(a, b []config.Target) bool {
	norm := func(ts []config.Target) []string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = fmt.Sprintf("%s/%d", t.Addr, t.Weight)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

func targetList(ts []config.Target) string {
	if len(ts) == 0 {
		return "none"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Addr.String()
		if t.Weight >= 0 {
			parts[i] += fmt.Sprintf("(w%d)", t.Weight)
		}
	}
	return strings.Join(parts, ",")
}
