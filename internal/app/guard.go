package app

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/guard"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/l4"
)

// buildGuard turns a frontend's access lists and rate_limits into a
// guard.Guard; nil when the frontend has neither.
// shared makes every rule one limit for all instances (rate_limit_store).
func buildGuard(f *config.Frontend, fe *metrics.Frontend, shared bool) (*guard.Guard, error) {
	if len(f.Access.Allow) == 0 && len(f.Access.Deny) == 0 && len(f.RateLimits) == 0 {
		return nil, nil
	}
	o := guard.Options{Allow: f.Access.Allow, Deny: f.Access.Deny, Denied: fe.Denied()}
	for i := range f.RateLimits {
		r := &f.RateLimits[i]
		key, header := guard.KeyClientIP, "" // validated by internal/config
		if r.Key == config.KeyFrontend {
			key = guard.KeyFrontend
		} else if name := r.HeaderKey(); name != "" {
			key, header = guard.KeyHeader, name
		}
		ro := guard.RuleOptions{
			Name: r.Name, Key: key, Header: header, Rate: r.Rate.PerSecond, Burst: r.Burst,
			MatchClientIP: r.Match.ClientIP, MatchPathPrefix: r.Match.PathPrefix,
			MatchMethods: r.Match.Methods, Limited: fe.RateLimited(r.Name),
			Shared: shared, SharedID: frontendRuleID(f.Name, r.Name),
		}
		if h := r.Match.Header; h != nil {
			ro.MatchHeader, ro.MatchHeaderValue = h.Name, h.Value
		}
		o.Rules = append(o.Rules, ro)
	}
	g, err := guard.New(o)
	if err != nil {
		return nil, fmt.Errorf("frontend %q: %w", f.Name, err)
	}
	return g, nil
}

// guardKey is a canonical text of what buildGuard reads, so that a reload
// that does not change a frontend's rules keeps its guard (and the state of
// its rate limits).
func guardKey(f *config.Frontend, shared bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v|%v|%v", shared, f.Access.Allow, f.Access.Deny)
	for _, r := range f.RateLimits {
		fmt.Fprintf(&b, "|%s,%s,%g,%d,%v,%s,%v", r.Name, r.Key, r.Rate.PerSecond, r.Burst,
			r.Match.ClientIP, r.Match.PathPrefix, r.Match.Methods)
		if h := r.Match.Header; h != nil {
			fmt.Fprintf(&b, ",%s=%s", h.Name, h.Value)
		}
	}
	return b.String()
}

// tcpAdmit adapts a guard to l4's admission check.
func tcpAdmit(g *guard.Guard) l4.Admit {
	if g == nil {
		return func(netip.Addr) l4.Refusal { return 0 }
	}
	return func(ip netip.Addr) l4.Refusal {
		switch g.AdmitConn(ip) {
		case guard.RefuseDenied:
			return l4.RefusedAccess
		case guard.RefuseRateLimit:
			return l4.RefusedRateLimit
		}
		return 0
	}
}
