// Package guard screens a frontend's clients: it turns the frontend's access
// lists (access.allow / access.deny) and rate_limits rules (contract section
// 2a) into one immutable Guard that the tcp (l4) and http (l7) frontends ask
// before serving a connection or a request.
//
// Access lists: deny is checked first; when allow is set only its prefixes
// may connect (see package acl for the address rules: IPv4-mapped addresses
// are unmapped, zones ignored). A refused tcp client is closed, an http one
// gets 403; either way Options.Denied is incremented, once per refusal. On
// an http frontend with trusted_proxies, the requests a trusted proxy relays
// are judged one by one against the client its X-Forwarded-For names (l7
// calls AllowClient per request); any other peer is judged at connect.
//
// Rate limits: rules are evaluated in configuration order. A rule applies to
// a request when every match condition given holds (client_ip prefixes,
// path_prefix on the normalized path, methods, header). Each applying rule
// charges the request to its limit (GCRA, package ratelimit), and the first
// rule that is over its limit refuses the request: its Limited counter is
// incremented, later rules are neither consulted nor charged, and rules
// before it keep the charge. This is HAProxy's model (a tracked counter sees
// every request, including ones a later rule refuses), and it means a
// client hammering a narrow rule also uses up a broad rule listed before it;
// list narrow rules first when that matters. An http refusal is a 429 with
// Retry-After in whole seconds (at least 1); a tcp refusal closes the new
// connection.
//
// Keys: client_ip keeps one limit per client address (IPv4 and IPv4-mapped
// IPv6 share one), frontend one limit for everyone, header:NAME one limit per
// header value. As in nginx, where an empty key is not accounted, a request
// whose key header is absent or empty is not counted by that rule at all.
// A header condition likewise treats an empty value as absent. When a header
// occurs more than once, its first value is used. Header values compare
// exactly (case-sensitive); header names case-insensitively. The Cookie and
// Trailer headers are rebuilt by fasthttp when peeked and may allocate; every
// other header is read in place.
//
// A Guard is immutable after New and safe for concurrent use by any number of
// goroutines; its checks are lock-free and allocation-free. A nil *Guard
// admits everything.
package guard

import (
	"fmt"
	"net/netip"

	"github.com/sluicelb/sluice/acl"
	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// Counter is a monotonically increasing metric (VictoriaMetrics
// *metrics.Counter satisfies it). Inc must be safe for concurrent use.
// Where Options take a Counter, a nil interface means "not counted"; a typed
// nil pointer inside the interface is not nil and is called.
type Counter interface{ Inc() }

// RuleOptions configures one rate_limits rule.
type RuleOptions struct {
	// Name labels the rule (sluice_ratelimited_total{rule}) and errors.
	Name string
	// Key selects what is counted separately; the zero value is KeyClientIP.
	Key Key
	// Header is the header field name for KeyHeader; ignored otherwise.
	Header string
	// Rate is events (requests, or new tcp connections) per second; must be
	// positive (config.Rate.PerSecond).
	Rate float64
	// Burst is the number of events admitted at once from a fresh state;
	// < 1 means 1.
	Burst int
	// MaxKeys bounds the per-key table of client_ip and header rules;
	// 0 means ratelimit.DefaultMaxKeys. Memory is fixed at New.
	MaxKeys int
	// MatchClientIP, when non-empty, limits the rule to clients inside one
	// of these prefixes.
	MatchClientIP []netip.Prefix
	// MatchPathPrefix, when non-empty, limits the rule to requests whose
	// normalized, decoded path starts with it (byte prefix; must start with
	// '/'). http only.
	MatchPathPrefix string
	// MatchMethods, when non-empty, limits the rule to these methods. The
	// standard methods may be listed in any case; others (extension methods)
	// match exactly. http only.
	MatchMethods []string
	// MatchHeader, when non-empty, limits the rule to requests carrying this
	// header with a non-empty value equal to MatchHeaderValue, or with any
	// non-empty value when MatchHeaderValue is "". http only.
	MatchHeader      string
	MatchHeaderValue string
	// Limited is incremented for every event this rule refuses; nil is ok.
	Limited Counter
	// Shared makes the rule's limit one for every instance syncing it under
	// SharedID (ratelimit.Syncer, contract §9 rate_limit_store).
	Shared   bool
	SharedID string
}

// Options configures New. Slices are not retained.
type Options struct {
	// Allow and Deny are the access lists; both empty admits everyone.
	Allow, Deny []netip.Prefix
	// Denied is incremented for every client the access lists refuse
	// (sluice_denied_total{frontend}); nil is ok.
	Denied Counter
	// Rules are the rate_limits rules, in evaluation order.
	Rules []RuleOptions
	// Now is the clock in nanoseconds handed to the limits; nil means
	// ratelimit.Now. Tests inject a clock.
	Now func() int64
}

// Refusal is AdmitConn's verdict for a new tcp connection.
type Refusal uint8

const (
	// Admitted means the connection may proceed.
	Admitted Refusal = iota
	// RefuseDenied means the access lists refused the client.
	RefuseDenied
	// RefuseRateLimit means a rate_limits rule refused the connection.
	RefuseRateLimit
)

// String names r for logs ("admitted", "denied", "rate_limited").
func (r Refusal) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case RefuseDenied:
		return "denied"
	case RefuseRateLimit:
		return "rate_limited"
	}
	return fmt.Sprintf("Refusal(%d)", uint8(r))
}

// Guard is one frontend's compiled access lists and rate limits. Immutable
// after New; all methods are lock-free, allocation-free and safe for
// concurrent use. A nil *Guard admits everything.
type Guard struct {
	list   *acl.List // nil: no access lists
	denied Counter
	rules  []rule  // all rules, in order (AllowRequest)
	conn   []*rule // rules that can apply to a connection (AdmitConn)
	now    func() int64
}

// New compiles o into a Guard. Errors name the offending rule or list.
func New(o Options) (*Guard, error) {
	g := &Guard{denied: o.Denied, now: o.Now}
	if g.now == nil {
		g.now = ratelimit.Now
	}
	if len(o.Allow) > 0 || len(o.Deny) > 0 {
		l, err := acl.New(o.Allow, o.Deny)
		if err != nil {
			return nil, fmt.Errorf("guard: access: %w", err)
		}
		g.list = l
	}
	g.rules = make([]rule, 0, len(o.Rules))
	for i := range o.Rules {
		r, err := compileRule(&o.Rules[i])
		if err != nil {
			return nil, fmt.Errorf("guard: rate_limits[%d] %q: %w", i, o.Rules[i].Name, err)
		}
		g.rules = append(g.rules, *r)
	}
	for i := range g.rules {
		if !g.rules[i].httpOnly {
			g.conn = append(g.conn, &g.rules[i])
		}
	}
	return g, nil
}

// Rules returns the rate-limit rules of g in evaluation order (for a
// ratelimit.Syncer); nil for a nil Guard.
func (g *Guard) Rules() []*ratelimit.Rule {
	if g == nil {
		return nil
	}
	rs := make([]*ratelimit.Rule, len(g.rules))
	for i := range g.rules {
		rs[i] = g.rules[i].lim
	}
	return rs
}

// AllowClient reports whether the access lists admit client, and
// increments Denied when they do not. l7 asks it once per connection about
// the peer (or the client a PROXY protocol header names), or, for the
// requests a trusted proxy relays, once per request about the client
// X-Forwarded-For names. It does not consult the rate limits (l7 calls
// AllowRequest per request for those).
func (g *Guard) AllowClient(client netip.Addr) bool {
	if g == nil || g.list == nil || g.list.Allowed(client) {
		return true
	}
	if g.denied != nil {
		g.denied.Inc()
	}
	return false
}

// AllowRequest applies the rate_limits rules to one http request from client
// (the client address after trusted proxies). It does not consult the access
// lists (see AllowClient). When refused, retryAfter is the Retry-After value in
// whole seconds (≥ 1) and the refusing rule's Limited counter was
// incremented; when admitted it is 0. An invalid (zero) client address is
// one key for client_ip rules and matches no client_ip condition. req is only
// read, except for
// fasthttp's internal key buffer and lazy URI parsing; the caller owns it.
func (g *Guard) AllowRequest(req *fasthttp.Request, client netip.Addr) (ok bool, retryAfter int) {
	if g == nil || len(g.rules) == 0 {
		return true, 0
	}
	var now int64
	timed := false
	for i := range g.rules {
		r := &g.rules[i]
		if !r.matchRequest(req, client) {
			continue
		}
		h, counted := r.requestKey(req, client)
		if !counted {
			continue
		}
		if !timed {
			now, timed = g.now(), true
		}
		if ok, wait := r.lim.Allow(h, now); !ok {
			if r.limited != nil {
				r.limited.Inc()
			}
			return false, int(ratelimit.RetryAfterSeconds(wait))
		}
	}
	return true, 0
}

// AdmitConn decides a new tcp connection from client: the access lists first
// (RefuseDenied, counting Denied), then, in order, every rule that can apply
// to a connection (key client_ip or frontend, at most a client_ip condition)
// with the same charging as AllowRequest (RefuseRateLimit, counting the
// rule's Limited). Rules with a header key or an http-only condition never
// apply to a connection and are skipped; configuration validation is
// expected to reject them on tcp frontends.
func (g *Guard) AdmitConn(client netip.Addr) Refusal {
	if g == nil {
		return Admitted
	}
	if g.list != nil && !g.list.Allowed(client) {
		if g.denied != nil {
			g.denied.Inc()
		}
		return RefuseDenied
	}
	if len(g.conn) == 0 {
		return Admitted
	}
	var now int64
	timed := false
	for _, r := range g.conn {
		if r.ip != nil && !r.ip.Allowed(client) {
			continue
		}
		var h uint64
		if r.key == KeyClientIP {
			h = ratelimit.HashIP(client)
		}
		if !timed {
			now, timed = g.now(), true
		}
		if ok, _ := r.lim.Allow(h, now); !ok {
			if r.limited != nil {
				r.limited.Inc()
			}
			return RefuseRateLimit
		}
	}
	return Admitted
}
