package l7

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// RouteExplanation is what a frontend's routing table decides for one
// request (Proxy.ExplainRoute): the client as the proxy sees it, each route
// tried and why it was passed over, and the backend.
type RouteExplanation struct {
	// Client is the client address after trusted_proxies: Peer, or the
	// right-most X-Forwarded-For address that is not a trusted proxy.
	Client netip.Addr
	// Trusted: Peer is a trusted proxy, so its X-Forwarded-For was read.
	Trusted bool
	// Routes are the routes tried, in order, up to and including the match.
	Routes []RouteCheck
	// Route is the matched route's name; "" when none matched.
	Route string
	// Backend is the matched route's backend, or the default backend when
	// none matched; nil means 404.
	Backend *Backend
}

// RouteCheck is one route's verdict.
type RouteCheck struct {
	Name    string
	Matched bool
	Reason  string // why it did not match
}

// ExplainRoute runs the routing of the running table on req from peer —
// the same matcher as the data path (compiledRoute.check), the same
// X-Forwarded-For rule (rightmostUntrusted) — and says why. req is a request
// as a client sends it: method, URI (origin-form with a Host header, or
// absolute-form), headers; its path is normalized as fasthttp normalizes it
// for the proxy. Nothing is counted. Cold path: it allocates.
func (p *Proxy) ExplainRoute(req *fasthttp.Request, peer netip.Addr) RouteExplanation {
	t := p.table.Load()
	ex := RouteExplanation{Client: peer, Trusted: t.trusted.Contains(peer)}
	if xff := req.Header.PeekBytes(hdrXFF); ex.Trusted && len(xff) > 0 {
		ex.Client = rightmostUntrusted(t, xff, peer)
	}
	host := hostWithoutPort(req.URI().Host())
	path, method := req.URI().Path(), req.Header.Method()
	for i := range t.routes {
		r := &t.routes[i]
		c := RouteCheck{Name: r.name}
		switch r.check(host, path, method) {
		case condMatch:
			c.Matched = true
			ex.Routes = append(ex.Routes, c)
			ex.Route, ex.Backend = r.name, r.backend
			return ex
		case condHost:
			want := string(r.host)
			if r.wildcard {
				want = "*" + want
			}
			c.Reason = fmt.Sprintf("host %q does not match %q", host, want)
		case condPath:
			c.Reason = fmt.Sprintf("path %q does not start with %q", path, r.prefix)
		case condMethod:
			ms := make([]string, len(r.methods))
			for j, m := range r.methods {
				ms[j] = string(m)
			}
			c.Reason = fmt.Sprintf("method %s is not one of %s", method, strings.Join(ms, ", "))
		}
		ex.Routes = append(ex.Routes, c)
	}
	ex.Backend = t.def
	return ex
}
