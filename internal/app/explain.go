package app

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/guard"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/internal/state"
	"github.com/sluicelb/sluice/l4"
	"github.com/sluicelb/sluice/l7"
	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// Explain answers which route, backend and server a request would get on
// the running frontend q.Frontend, and why (state.Explanation): the access
// lists, each route tried, the rate limits, each server's eligibility and
// the server the algorithm would pick now. Every rule is asked of its one
// owner — l7's route matcher and X-Forwarded-For rule, guard's access lists
// and rate-limit conditions, balance's Peek — in a read-only mode: no
// balancer position moves, no limit is charged, no denial is counted.
// api-core's state.Control.Explain calls it. Unknown frontend:
// state.ErrNotFound; a bad client_ip or method: another error.
func (a *App) Explain(q state.ExplainQuery) (state.Explanation, error) {
	a.mu.Lock()
	rt := a.frontends[q.Frontend]
	var fe *explainFrontend
	if rt != nil {
		fe = &explainFrontend{cfg: rt.cfg, http: rt.http, guard: rt.guard, backends: map[string]*explainBackend{}}
		for name, b := range a.backends {
			fe.backends[name] = &explainBackend{name: name, bal: b.bal, rate: b.rate}
		}
	}
	a.mu.Unlock()
	if fe == nil {
		return state.Explanation{}, fmt.Errorf("%w: no frontend named %q", state.ErrNotFound, q.Frontend)
	}
	return fe.explain(q)
}

// ExplainConfig is Explain against a configuration that is not running
// (`sluice explain -c FILE`): the same objects are built from cfg without
// binding or dialing anything. Every server is taken as up (no health check
// has run); enabled: false and drain: true from the file are honoured.
func ExplainConfig(cfg *config.Config, q state.ExplainQuery) (state.Explanation, error) {
	var f *config.Frontend
	for i := range cfg.Frontends {
		if cfg.Frontends[i].Name == q.Frontend {
			f = &cfg.Frontends[i]
		}
	}
	if f == nil {
		return state.Explanation{}, fmt.Errorf("%w: no frontend named %q", state.ErrNotFound, q.Frontend)
	}
	fe := &explainFrontend{cfg: *f, backends: map[string]*explainBackend{}}
	l7s := map[string]*l7.Backend{}
	for i := range cfg.Backends {
		c := &cfg.Backends[i]
		opts, err := balanceOptions(c)
		if err != nil {
			return state.Explanation{}, err
		}
		var servers []*balance.Server
		for j := range c.Servers {
			s := &c.Servers[j]
			for _, sa := range expandServer(s) { // every address of a name (dns.go)
				srv := balance.NewServer(c.Name, sa.dial, sa.weight)
				srv.SetEnabled(s.Enabled)
				srv.SetDraining(s.Drain)
				servers = append(servers, srv)
			}
		}
		b := &explainBackend{name: c.Name, bal: balance.New(opts, servers)}
		if rl := c.RateLimit; rl != nil {
			if b.rate, err = ratelimit.NewRule(ratelimit.RuleOptions{Name: c.Name, Rate: rl.Rate.PerSecond, Burst: rl.Burst}); err != nil {
				return state.Explanation{}, err
			}
		}
		fe.backends[c.Name] = b
		if l7s[c.Name], err = l7.NewBackend(l7Options(c, b.rate, [32]byte{}), b.bal); err != nil {
			return state.Explanation{}, err
		}
	}
	g, err := buildGuard(f, metrics.NewRegistry().Frontend(f.Name), false)
	if err != nil {
		return state.Explanation{}, err
	}
	fe.guard = g
	if f.IsHTTP() {
		o := l7.Options{Frontend: f.Name, TrustedProxies: f.TrustedProxies, Logger: slog.New(slog.DiscardHandler),
			Routes: l7Routes(f, func(name string) *l7.Backend { return l7s[name] })}
		if f.Backend != "" {
			o.Default = l7s[f.Backend]
		}
		if fe.http, err = l7.New(o); err != nil {
			return state.Explanation{}, err
		}
	}
	return fe.explain(q)
}

// explainFrontend is what explain reads of one frontend, running or not.
type explainFrontend struct {
	cfg      config.Frontend
	http     *l7.Proxy    // http frontends
	guard    *guard.Guard // nil: no access lists, no rate limits
	backends map[string]*explainBackend
}

type explainBackend struct {
	name string
	bal  *balance.Balancer
	rate *ratelimit.Rule
}

// explain follows the data path's order: access lists, (http) routing and
// the client behind trusted proxies, rate limits, the backend's rate
// limit, then the server. Status and Reason give the first refusal; the
// later parts are still filled where they can be (which backend and
// servers the request would meet).
func (fe *explainFrontend) explain(q state.ExplainQuery) (state.Explanation, error) {
	f := &fe.cfg
	ex := state.Explanation{Frontend: f.Name, Mode: f.Mode, Access: "allowed", Routes: []state.RouteCheck{}, Servers: []state.ServerCheck{}}
	var peer netip.Addr
	if q.ClientIP != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(q.ClientIP))
		if err != nil {
			return ex, fmt.Errorf("client_ip %q is not an IP address", q.ClientIP)
		}
		peer = a.Unmap()
	}
	refuse := func(status int, reason string) {
		if ex.Status == 0 && ex.Reason == "" {
			ex.Status, ex.Reason = status, reason
		}
	}
	client := peer
	backend := f.Backend
	if !f.IsHTTP() {
		if len(f.Routes) > 0 {
			backend = explainSNI(f, q.Host, &ex)
			if backend == "" {
				refuse(0, "the connection is closed: no route matches the server name and the frontend has no default backend")
			}
		}
		refusal, checks := fe.guard.ExplainConn(peer)
		switch refusal {
		case guard.RefuseDenied:
			ex.Access = "denied: the access lists refuse " + addrText(peer)
			refuse(0, "the connection is closed: the access lists refuse "+addrText(peer))
		case guard.RefuseRateLimit:
			last := checks[len(checks)-1]
			refuse(0, "the connection is closed: rate limit "+last.Rule+" is over its limit")
		}
	} else {
		if fe.http == nil {
			return ex, fmt.Errorf("frontend %q is not running", f.Name)
		}
		req, err := explainRequest(q)
		if err != nil {
			return ex, err
		}
		re := fe.http.ExplainRoute(req, peer)
		client = re.Client
		// As the data path: a peer that is not a trusted proxy is judged
		// itself; a trusted proxy's request by the client it names.
		if !fe.guard.Admits(client) {
			ex.Access = "denied: the access lists refuse " + addrText(client)
			refuse(403, "403: the access lists refuse "+addrText(client))
		}
		for _, c := range re.Routes {
			ex.Routes = append(ex.Routes, state.RouteCheck{Name: c.Name, Matched: c.Matched, Reason: c.Reason})
		}
		ex.Route, backend = re.Route, ""
		if re.Backend != nil {
			backend = re.Backend.Name()
		}
		if backend == "" {
			refuse(404, "404: no route matches and the frontend has no default backend")
		}
		if checks, ok, ra := fe.guard.ExplainRequest(req, client); !ok {
			refuse(429, fmt.Sprintf("429: rate limit %s is over its limit (Retry-After: %d)", checks[len(checks)-1].Rule, ra))
		}
	}
	ex.ClientIP = addrText(client)
	if backend == "" {
		return ex, nil
	}
	ex.Backend = backend
	b := fe.backends[backend]
	if b == nil {
		return ex, fmt.Errorf("backend %q is not running", backend)
	}
	if b.rate != nil {
		if ok, wait := b.rate.Peek(0, ratelimit.Now()); !ok {
			refuse(429, fmt.Sprintf("429: backend %s's rate_limit is over its limit (Retry-After: %d)", backend, ratelimit.RetryAfterSeconds(wait)))
		}
	}
	pick, servers := b.bal.Explain(balance.KeyIP(client))
	for _, e := range servers {
		c := state.ServerCheck{Address: e.Server.Addr(), Eligible: e.Why == 0}
		switch {
		case e.Why != 0:
			c.Reason = e.Why.String()
		case e.Trial:
			c.Reason = "half-open: the next request gets its one trial"
		}
		ex.Servers = append(ex.Servers, c)
	}
	switch {
	case pick == nil && f.IsHTTP():
		refuse(503, "503: no server of backend "+backend+" can take the request now")
	case pick == nil:
		refuse(0, "the connection is closed: no server of backend "+backend+" can take it now")
	case ex.Status == 0 && ex.Reason == "":
		ex.Pick = pick.Addr()
	}
	return ex, nil
}

// explainSNI matches a tcp frontend's routes against host taken as the
// ClientHello's server name, records each route's verdict in ex, and
// returns the backend the session would reach ("" = closed).
func explainSNI(f *config.Frontend, host string, ex *state.Explanation) string {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	for i := range f.Routes {
		r := &f.Routes[i]
		if ex.Route != "" {
			ex.Routes = append(ex.Routes, state.RouteCheck{Name: r.Name, Reason: "not tried: an earlier route matched"})
			continue
		}
		for _, n := range r.Match.SNI {
			if name != "" && l4.MatchName(n, name) {
				ex.Route = r.Name
				ex.Routes = append(ex.Routes, state.RouteCheck{Name: r.Name, Matched: true, Reason: "sni " + name + " matches " + n})
				break
			}
		}
		if ex.Route != r.Name {
			why := "sni " + name + " is not in " + strings.Join(r.Match.SNI, ", ")
			if name == "" {
				why = "no server name (host) given: the session has no SNI"
			}
			ex.Routes = append(ex.Routes, state.RouteCheck{Name: r.Name, Reason: why})
		}
	}
	for i := range f.Routes {
		if f.Routes[i].Name == ex.Route {
			return f.Routes[i].Backend
		}
	}
	return f.Backend
}

// explainRequest builds the request a client would send for q.
func explainRequest(q state.ExplainQuery) (*fasthttp.Request, error) {
	req := &fasthttp.Request{}
	method := q.Method
	if method == "" {
		method = fasthttp.MethodGet
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c)) {
			return nil, fmt.Errorf("method %q is not a token", q.Method)
		}
	}
	path := q.Path
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		return nil, fmt.Errorf("path %q does not start with /", q.Path)
	}
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost(q.Host)
	for k, v := range q.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
