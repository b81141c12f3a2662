package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits enforced by Validate.
const (
	MaxServersPerBackend = 256
	MaxWeight            = 256
	MinHeaderBytes       = 1 * KiB
	MaxHeaderBytesLimit  = 1 * MiB
	maxNameLen           = 128
)

// validator checks one Config, collecting every problem.
type validator struct {
	c *collector
}

// at reports a problem with key of the struct described by m.
// A value set by an Override is reported under its flag or variable, with
// no file position.
func (v *validator) at(m *meta, key, path, format string, args ...any) {
	if src := m.over[key]; src != "" {
		v.c.addFrom(src, Pos{}, "%s: %s", join(path, key), fmt.Sprintf(format, args...))
		return
	}
	v.c.add(m.pos(key), "%s: %s", join(path, key), fmt.Sprintf(format, args...))
}

// Validate checks c and returns every problem as Errors (nil if none).
// Positions come from the file c was decoded from; a Config built in code
// gets messages without positions. Validate does not modify c.
func (c *Config) Validate() error {
	v := &validator{c: &collector{file: c.File}}
	v.config(c)
	return v.c.errs.err()
}

func (v *validator) config(c *Config) {
	if c.m.bad {
		return // the file is not a mapping; already reported
	}
	v.listenAddr(&c.Admin.m, "listen", "admin", c.Admin.Listen)
	if d := c.Admin.StateDir; d != "" && !filepath.IsAbs(d) {
		v.at(&c.Admin.m, "state_dir", "admin", "must be an absolute path (or empty: nothing persisted), got %q", d)
	}
	v.admin(&c.Admin)
	v.oneOf(&c.Logging.m, "level", "logging", c.Logging.Level, "error", "warn", "info", "debug", "trace")
	v.oneOf(&c.Logging.m, "format", "logging", c.Logging.Format, "json", "text")
	if c.Logging.AccessLog == "" {
		v.at(&c.Logging.m, "access_log", "logging", "must be stdout, stderr, off or a file path")
	}
	v.positive(&c.m, "shutdown_timeout", "", c.ShutdownTimeout)
	v.atLeast(&c.m, "max_connections", "", c.MaxConnections, 1)
	if st := c.RateLimitStore; st != nil && !st.m.bad {
		v.rateLimitStore(st)
	}
	for i, r := range c.Resolvers {
		if _, err := ResolverAddr(r); err != nil {
			v.at(&c.m, fmt.Sprintf("resolvers[%d]", i), "", "%v", err)
		}
	}

	backends := map[string]int{}
	for i := range c.Backends {
		b := &c.Backends[i]
		path := fmt.Sprintf("backends[%d]", i)
		if b.m.bad {
			continue
		}
		if v.name(&b.m, path, b.Name, "backend"); b.Name != "" {
			if j, dup := backends[b.Name]; dup {
				v.at(&b.m, "name", path, "duplicate backend name %q (also backends[%d])", b.Name, j)
			} else {
				backends[b.Name] = i
			}
		}
		v.backend(b, path)
	}

	if len(c.Frontends) == 0 {
		v.c.add(c.m.pos("frontends"), "frontends: at least one frontend is required")
	}
	frontends := map[string]int{}
	listens := map[int][]listener{} // by port
	if h, p, ok := splitListen(c.Admin.Listen); ok {
		owner := describe(&c.Admin.m, "listen", "admin") // "admin.listen (--admin-listen)" when overridden
		switch {
		case c.Admin.m.over["listen"] != "":
		case c.Admin.m.has("listen"):
			owner += c.Admin.m.line("listen")
		case c.File != "":
			owner = "admin.listen (by default; set admin.listen to move the admin listener)"
		}
		listens[p] = append(listens[p], listener{host: h, owner: owner})
	}
	if g := c.Admin.GRPCListen; g != "" && v.listenAddr(&c.Admin.m, "grpc_listen", "admin", g) {
		v.claim(listens, &c.Admin.m, "grpc_listen", "admin", g, "admin.grpc_listen")
	}
	for i := range c.Frontends {
		f := &c.Frontends[i]
		path := fmt.Sprintf("frontends[%d]", i)
		if f.m.bad {
			continue
		}
		if v.name(&f.m, path, f.Name, "frontend") {
			if j, dup := frontends[f.Name]; dup {
				v.at(&f.m, "name", path, "duplicate frontend name %q (also frontends[%d])", f.Name, j)
			} else {
				frontends[f.Name] = i
			}
		}
		if v.listenAddr(&f.m, "listen", path, f.Listen) {
			owner := fmt.Sprintf("frontends[%d] (%s)", i, f.Name)
			if at, ok := f.m.keys["listen"]; ok {
				owner = fmt.Sprintf("frontends[%d] (%s, line %d)", i, f.Name, at.Line)
			}
			v.claim(listens, &f.m, "listen", path, f.Listen, owner)
		}
		if t := f.TLS; t != nil && !t.m.bad && t.RedirectFrom != "" && f.Mode == ModeHTTP {
			tp := join(path, "tls")
			if v.listenAddr(&t.m, "redirect_from", tp, t.RedirectFrom) {
				h, p, _ := splitListen(t.RedirectFrom)
				for _, l := range listens[p] {
					if l.host == h || l.host == "" || h == "" {
						v.at(&t.m, "redirect_from", tp, "address %s is already used by %s", t.RedirectFrom, l.owner)
						break
					}
				}
				listens[p] = append(listens[p], listener{host: h, owner: fmt.Sprintf("frontends[%d].tls.redirect_from (%s)", i, f.Name)})
			}
		}
		v.frontend(f, path, backends, c.Admin.StateDir)
	}
	v.alerts(c)
}

// claim records the listen address addr (valid) for owner, reporting it
// at key when an earlier listener has the same port on an overlapping host.
func (v *validator) claim(listens map[int][]listener, m *meta, key, path, addr, owner string) {
	h, p, _ := splitListen(addr)
	for _, l := range listens[p] {
		if l.host == h || l.host == "" || h == "" {
			v.at(m, key, path, "address %s is already used by %s", addr, l.owner)
			break
		}
	}
	listens[p] = append(listens[p], listener{host: h, owner: owner})
}

type listener struct {
	host  string // "" = all interfaces
	owner string
}

// splitListen returns a listen address's normalized host ("" for all
// interfaces) and port.
func splitListen(s string) (string, int, bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.IsUnspecified() {
			return "", port, true
		}
		return a.Unmap().String(), port, true
	}
	return strings.ToLower(h), port, true
}

func (v *validator) frontend(f *Frontend, path string, backends map[string]int, stateDir string) {
	v.oneOf(&f.m, "mode", path, f.Mode, ModeHTTP, ModeTCP)
	v.atLeast(&f.m, "max_connections", path, f.MaxConnections, 1)
	tp := join(path, "timeouts")
	v.positive(&f.Timeouts.m, "client_header", tp, f.Timeouts.ClientHeader)
	v.positive(&f.Timeouts.m, "client_idle", tp, f.Timeouts.ClientIdle)
	v.positive(&f.Timeouts.m, "client_read", tp, f.Timeouts.ClientRead)
	v.positive(&f.Timeouts.m, "client_write", tp, f.Timeouts.ClientWrite)
	isTCP := f.Mode == ModeTCP
	tcpMode := "mode is tcp" + f.m.line("mode") // what a tcp-only conflict names

	lp := join(path, "limits")
	if isTCP && f.m.has("limits") {
		v.at(&f.m, "limits", path, "limits are only for http frontends; %s", tcpMode)
	} else {
		if h := f.Limits.MaxHeaderBytes; h < MinHeaderBytes || h > MaxHeaderBytesLimit {
			v.at(&f.Limits.m, "max_header_bytes", lp, "must be between %s and %s, got %s", MinHeaderBytes, MaxHeaderBytesLimit, h)
		}
		if f.Limits.MaxBodyBytes < 0 {
			v.at(&f.Limits.m, "max_body_bytes", lp, "must not be negative (0 = no limit)")
		}
	}

	if f.Backend != "" {
		if _, ok := backends[f.Backend]; !ok {
			v.at(&f.m, "backend", path, "unknown backend %q%s", f.Backend, known(backends))
		}
	} else if isTCP && len(f.Routes) == 0 {
		v.at(&f.m, "backend", path, "a tcp frontend needs a backend (or routes matching sni); %s", tcpMode)
	}
	if f.TLS != nil && !f.TLS.m.bad {
		if isTCP {
			v.at(&f.m, "tls", path, "TLS is terminated on http frontends only; a tcp frontend passes TLS through (route it by name with routes[].match.sni)")
		} else {
			v.frontendTLS(f.TLS, join(path, "tls"), stateDir)
		}
	}

	if isTCP {
		for i := range f.Routes {
			r := &f.Routes[i]
			if !r.m.bad {
				v.sniRoute(r, fmt.Sprintf("%s.routes[%d]", path, i), backends)
			}
		}
	}
	{
		routes := map[string]int{}
		for i := range f.Routes {
			r := &f.Routes[i]
			rp := fmt.Sprintf("%s.routes[%d]", path, i)
			if r.m.bad {
				continue
			}
			if v.name(&r.m, rp, r.Name, "route") {
				if j, dup := routes[r.Name]; dup {
					v.at(&r.m, "name", rp, "duplicate route name %q (also routes[%d])", r.Name, j)
				} else {
					routes[r.Name] = i
				}
			}
			if !isTCP {
				v.route(r, rp, backends)
			}
		}
	}

	if f.ProxyProtocol && len(f.TrustedProxies) == 0 {
		v.at(&f.m, "proxy_protocol", path, "needs trusted_proxies: the peers (load balancers) allowed to send a PROXY header")
	}

	rls := map[string]int{}
	for i := range f.RateLimits {
		rl := &f.RateLimits[i]
		rp := fmt.Sprintf("%s.rate_limits[%d]", path, i)
		if rl.m.bad {
			continue
		}
		if v.name(&rl.m, rp, rl.Name, "rate limit") {
			if j, dup := rls[rl.Name]; dup {
				v.at(&rl.m, "name", rp, "duplicate rate limit name %q (also rate_limits[%d])", rl.Name, j)
			} else {
				rls[rl.Name] = i
			}
		}
		v.rateLimit(rl, rp, isTCP, tcpMode)
	}
}

func (v *validator) route(r *Route, path string, backends map[string]int) {
	mp := join(path, "match")
	if h := r.Match.Host; h != "" && !validHostPattern(h) {
		v.at(&r.Match.m, "host", mp, "invalid host %q: want a host name like api.example.com or a leading wildcard like *.example.com", h)
	}
	v.pathPrefix(&r.Match.m, mp, r.Match.PathPrefix)
	v.methods(&r.Match.m, mp, r.Match.Methods)
	if r.Match.m.has("sni") {
		v.at(&r.Match.m, "sni", mp, "sni matches on tcp frontends only; an http route matches the Host with host")
	}
	if r.Backend == "" {
		v.at(&r.m, "backend", path, "a route needs a backend")
	} else if _, ok := backends[r.Backend]; !ok {
		v.at(&r.m, "backend", path, "unknown backend %q%s", r.Backend, known(backends))
	}
	v.headerRules(&r.RequestHeaders, join(path, "request_headers"))
	v.headerRules(&r.ResponseHeaders, join(path, "response_headers"))
}

// sniRoute checks a tcp frontend's route: it matches the ClientHello's
// server name and names a backend, nothing else.
func (v *validator) sniRoute(r *Route, path string, backends map[string]int) {
	mp := join(path, "match")
	for _, k := range []string{"host", "path_prefix", "methods"} {
		if r.Match.m.has(k) {
			v.at(&r.Match.m, k, mp, "a tcp route matches only sni (the TLS server name)")
		}
	}
	for _, k := range []string{"request_headers", "response_headers"} {
		if r.m.has(k) {
			v.at(&r.m, k, path, "headers are only for http routes")
		}
	}
	if len(r.Match.SNI) == 0 {
		v.at(&r.Match.m, "sni", mp, "a tcp route needs sni: a list of server names like [db1.example.com, \"*.example.org\"]")
	}
	for i, n := range r.Match.SNI {
		if !validHostPattern(n) {
			v.at(&r.Match.m, fmt.Sprintf("sni[%d]", i), mp, "invalid server name %q: want a host name like db1.example.com or a leading wildcard like *.example.com", n)
		}
	}
	if r.Backend == "" {
		v.at(&r.m, "backend", path, "a route needs a backend")
	} else if _, ok := backends[r.Backend]; !ok {
		v.at(&r.m, "backend", path, "unknown backend %q%s", r.Backend, known(backends))
	}
}

func (v *validator) frontendTLS(t *FrontendTLS, path, stateDir string) {
	if len(t.Certificates) == 0 && t.ACME == nil {
		v.at(&t.m, "certificates", path, "TLS needs certificates ({cert, key} files) or acme")
	}
	for i := range t.Certificates {
		c := &t.Certificates[i]
		cp := fmt.Sprintf("%s.certificates[%d]", path, i)
		if c.m.bad {
			continue
		}
		if c.Cert == "" {
			v.at(&c.m, "cert", cp, "a certificate file (PEM) is required")
		}
		if c.Key == "" {
			v.at(&c.m, "key", cp, "a key file (PEM) is required")
		}
	}
	v.oneOf(&t.m, "min_version", path, t.MinVersion, TLS12, TLS13)
	v.nonNegative(&t.m, "hsts", path, t.HSTS)
	if a := t.ACME; a != nil && !a.m.bad {
		ap := join(path, "acme")
		if len(a.Domains) == 0 {
			v.at(&a.m, "domains", ap, "acme needs domains: the names to obtain certificates for")
		}
		for i, d := range a.Domains {
			switch {
			case strings.HasPrefix(d, "*."):
				v.at(&a.m, fmt.Sprintf("domains[%d]", i), ap, "wildcard %q cannot be obtained with HTTP-01 or TLS-ALPN-01 (they need DNS-01): list the names, or give a certificate file", d)
			case !validHostname(d) || !strings.Contains(d, ".") && d != "localhost":
				v.at(&a.m, fmt.Sprintf("domains[%d]", i), ap, "invalid domain %q: want a DNS name like example.com", d)
			}
		}
		if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\r\n<>")) {
			v.at(&a.m, "email", ap, "invalid email %q", a.Email)
		}
		if u, err := url.Parse(a.Directory); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.at(&a.m, "directory", ap, "want the URL of an ACME directory, like %s", DefaultACMEDirectory)
		}
		if a.Storage == "" && stateDir == "" {
			v.at(&a.m, "storage", ap, "acme keeps accounts and certificates on disk: set admin.state_dir (they go to state_dir/acme) or acme.storage")
		} else if a.Storage != "" && !filepath.IsAbs(a.Storage) {
			v.at(&a.m, "storage", ap, "must be an absolute path, got %q", a.Storage)
		}
	}
}

func (v *validator) backendTLS(t *BackendTLS, path string) {
	if t.m.bad {
		return
	}
	if !t.Enabled {
		for _, k := range []string{"server_name", "ca", "insecure_skip_verify"} {
			if t.m.has(k) {
				v.at(&t.m, k, path, "TLS to the servers is off: add enabled: true")
				return
			}
		}
		return
	}
	if n := t.ServerName; n != "" && !validHostname(n) {
		v.at(&t.m, "server_name", path, "invalid server name %q: want a host name like app.internal", n)
	}
	if t.CA != "" && t.InsecureSkipVerify {
		v.at(&t.m, "insecure_skip_verify", path, "skips the verification ca is for: use one or the other")
	}
}

func (v *validator) sticky(s *Sticky, path string) {
	if s.m.bad {
		return
	}
	if !validToken(s.Cookie) {
		v.at(&s.m, "cookie", path, "invalid cookie name %q: use letters, digits and !#$%%&'*+-.^_`|~", s.Cookie)
	}
	v.nonNegative(&s.m, "ttl", path, s.TTL)
}

func (v *validator) headerRules(h *HeaderRules, path string) {
	sp := join(path, "set")
	seen := map[string]bool{}
	for i := range h.Set {
		hd := &h.Set[i]
		lower := strings.ToLower(hd.Name)
		switch {
		case !validToken(hd.Name):
			v.c.add(hd.m.pos("name"), "%s: invalid header name %q", sp, hd.Name)
		case seen[lower]:
			v.c.add(hd.m.pos("name"), "%s: header %q is set twice", sp, hd.Name)
		}
		seen[lower] = true
		if !validHeaderValue(hd.Value) {
			v.c.add(hd.m.pos("value"), "%s: header value must not contain control characters (CR, LF, NUL)", join(sp, hd.Name))
		}
	}
	for i, name := range h.Remove {
		if !validToken(name) {
			v.at(&h.m, fmt.Sprintf("remove[%d]", i), path, "invalid header name %q", name)
		}
	}
}

func (v *validator) rateLimit(rl *RateLimit, path string, isTCP bool, tcpMode string) {
	switch {
	case rl.Key == KeyClientIP || rl.Key == KeyFrontend:
	case strings.HasPrefix(rl.Key, KeyHeaderPrefix):
		if !validToken(rl.HeaderKey()) {
			v.at(&rl.m, "key", path, "invalid header name %q in key %q", rl.HeaderKey(), rl.Key)
		} else if isTCP {
			v.at(&rl.m, "key", path, "a header key is only for http frontends (use client_ip or frontend); %s", tcpMode)
		}
	default:
		v.at(&rl.m, "key", path, "unknown key %q: want client_ip, frontend or header:NAME", rl.Key)
	}
	v.rateBurst(&rl.m, path, rl.Rate, rl.Burst)
	mp := join(path, "match")
	mm := &rl.Match
	if isTCP {
		for _, k := range []string{"path_prefix", "methods", "header"} {
			if mm.m.has(k) {
				v.at(&mm.m, k, mp, "only client_ip can be matched on a tcp frontend; %s", tcpMode)
			}
		}
		return
	}
	v.pathPrefix(&mm.m, mp, mm.PathPrefix)
	v.methods(&mm.m, mp, mm.Methods)
	if h := mm.Header; h != nil && !h.m.bad {
		hp := join(mp, "header")
		if h.Name == "" {
			v.at(&h.m, "name", hp, "a header match needs a name")
		} else if !validToken(h.Name) {
			v.at(&h.m, "name", hp, "invalid header name %q", h.Name)
		}
		if !validHeaderValue(h.Value) {
			v.at(&h.m, "value", hp, "header value must not contain control characters (CR, LF, NUL)")
		}
	}
}

func (v *validator) rateBurst(m *meta, path string, r Rate, burst int) {
	if r.PerSecond <= 0 {
		v.at(m, "rate", path, "a rate is required, like 100/s, 20/m or 1000/h")
	}
	if burst < 1 {
		v.at(m, "burst", path, "must be at least 1")
	}
}

func (v *validator) backend(b *Backend, path string) {
	v.oneOf(&b.m, "algorithm", path, b.Algorithm, AlgRoundRobin, AlgWeightedRoundRobin, AlgLeastConnections, AlgIPHash)
	tp := join(path, "timeouts")
	v.positive(&b.Timeouts.m, "connect", tp, b.Timeouts.Connect)
	v.positive(&b.Timeouts.m, "response", tp, b.Timeouts.Response)
	v.positive(&b.Timeouts.m, "idle", tp, b.Timeouts.Idle)
	v.atLeast(&b.m, "max_connections_per_server", path, b.MaxConnectionsPerServer, 0)
	v.nonNegative(&b.m, "drain_timeout", path, b.DrainTimeout)
	v.nonNegative(&b.m, "slow_start", path, b.SlowStart)
	if b.DNSRefresh < minDNSRefresh {
		v.at(&b.m, "dns_refresh", path, "must be at least %s, got %s", minDNSRefresh, b.DNSRefresh)
	}
	if f := b.HashBalanceFactor; f != 0 {
		if !(f > 1) || f > 1e6 {
			v.at(&b.m, "hash_balance_factor", path, "must be greater than 1 (like 1.25), or 0 to turn it off")
		} else if b.Algorithm != AlgIPHash {
			v.at(&b.m, "hash_balance_factor", path, "only applies to algorithm ip_hash; algorithm is %s%s", b.Algorithm, b.m.line("algorithm"))
		}
	}
	v.servers(b, path)
	v.backendTLS(&b.TLS, join(path, "tls"))
	if b.Sticky != nil {
		v.sticky(b.Sticky, join(path, "sticky"))
	}
	v.health(&b.Health, join(path, "health"))
	if b.RateLimit != nil {
		v.rateBurst(&b.RateLimit.m, join(path, "rate_limit"), b.RateLimit.Rate, b.RateLimit.Burst)
	}
}

func (v *validator) servers(b *Backend, path string) {
	// No servers is valid: the backend answers 503 (tcp: refuses) until
	// one is added.
	if n := len(b.Servers); n > MaxServersPerBackend {
		v.at(&b.m, "servers", path, "%d servers is more than the limit of %d per backend", n, MaxServersPerBackend)
	}
	seen := map[string]int{}
	weightSum := 0
	for i := range b.Servers {
		s := &b.Servers[i]
		sp := fmt.Sprintf("%s.servers[%d]", path, i)
		if s.m.bad {
			continue
		}
		if s.Address == "" {
			v.at(&s.m, "address", sp, "an address (host:port) is required")
		} else if IsSRVName(s.Address) {
			key := strings.ToLower(strings.TrimSuffix(s.Address, "."))
			if j, dup := seen[key]; dup {
				v.at(&s.m, "address", sp, "duplicate server %s (also servers[%d])", s.Address, j)
			}
			seen[key] = i
		} else if msg := checkHostPort(s.Address, true); msg != "" {
			v.at(&s.m, "address", sp, "%s", msg)
		} else {
			key := serverKey(s.Address)
			if j, dup := seen[key]; dup {
				v.at(&s.m, "address", sp, "duplicate server %s (also servers[%d])", s.Address, j)
			}
			seen[key] = i
		}
		if sp2 := s.SendProxy; sp2 != "" && sp2 != "v1" && sp2 != "v2" {
			v.at(&s.m, "send_proxy", sp, "unknown value %q: want v1 or v2 (or no send_proxy key)", sp2)
		}
		if s.Weight < 0 || s.Weight > MaxWeight {
			v.at(&s.m, "weight", sp, "must be between 0 and %d, got %d", MaxWeight, s.Weight)
		} else {
			weightSum += s.Weight
		}
	}
	if b.Algorithm == AlgWeightedRoundRobin && len(b.Servers) > 0 && weightSum == 0 {
		v.at(&b.m, "servers", path, "algorithm weighted_round_robin%s needs at least one server with a weight above 0 (the default weight is 1)",
			b.m.line("algorithm"))
	}
}

// serverKey is a server address in a form where the same IP:port written
// differently compares equal (host names: case-insensitive).
func serverKey(addr string) string {
	if ap, ok := addrPortOf(addr); ok {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return strings.ToLower(addr)
}

func (v *validator) health(h *Health, path string) {
	a := &h.Active
	ap := join(path, "active")
	if v.oneOf(&a.m, "type", ap, a.Type, HealthTCP, HealthHTTP, HealthNone) && a.Type != HealthNone {
		okI := v.positive(&a.m, "interval", ap, a.Interval)
		okT := v.positive(&a.m, "timeout", ap, a.Timeout)
		// Each defaults to fit the other (setDerived): only two written
		// values can get here.
		if okI && okT && a.Timeout > a.Interval {
			v.at(&a.m, "timeout", ap, "timeout %s%s must not be longer than interval %s%s",
				a.Timeout, a.m.line("timeout"), a.Interval, a.m.line("interval"))
		}
		v.atLeast(&a.m, "healthy_threshold", ap, a.HealthyThreshold, 1)
		v.atLeast(&a.m, "unhealthy_threshold", ap, a.UnhealthyThreshold, 1)
		v.oneOf(&a.m, "send_proxy", ap, a.SendProxy, SendProxyAuto, SendProxyNone, "v1", "v2")
		if a.Type == HealthHTTP {
			if !strings.HasPrefix(a.Path, "/") || !validPath(a.Path) {
				v.at(&a.m, "path", ap, "must start with / and contain no spaces or control characters, got %q", a.Path)
			}
			v.expectStatus(a, ap) // a decoded list is valid; this checks one built in code
		}
	}
	p := &h.Passive
	pp := join(path, "passive")
	if v.atLeast(&p.m, "unhealthy_threshold", pp, p.UnhealthyThreshold, 0) && p.UnhealthyThreshold > 0 {
		v.positive(&p.m, "cooldown", pp, p.Cooldown)
	}
	if f := h.Flap; f != nil {
		fp := join(path, "flap")
		if v.atLeast(&f.m, "max_transitions", fp, f.MaxTransitions, 1) && f.MaxTransitions > MaxFlapTransitions {
			v.at(&f.m, "max_transitions", fp, "must be at most %d, got %d", MaxFlapTransitions, f.MaxTransitions)
		}
		v.positive(&f.m, "window", fp, f.Window)
		if v.positive(&f.m, "penalty", fp, f.Penalty) && f.MaxPenalty < f.Penalty {
			v.at(&f.m, "max_penalty", fp, "must not be shorter than penalty (%s), got %s", f.Penalty, f.MaxPenalty)
		}
	}
}

// Rate-limit store bounds.
const (
	minStoreSync  = 10 * time.Millisecond
	maxStoreSync  = 10 * time.Second
	minDNSRefresh = 100 * time.Millisecond
)

func (v *validator) rateLimitStore(st *RateLimitStore) {
	const path = "rate_limit_store"
	if st.Redis == "" {
		v.at(&st.m, "redis", path, "a Redis URL is required, like redis://127.0.0.1:6379/0")
	} else if u, err := url.Parse(st.Redis); err != nil {
		v.at(&st.m, "redis", path, "invalid URL: %v", err)
	} else {
		switch u.Scheme {
		case "redis", "rediss":
			if u.Host == "" {
				v.at(&st.m, "redis", path, "the URL needs a host, like redis://127.0.0.1:6379/0")
			}
		case "unix":
			if u.Path == "" {
				v.at(&st.m, "redis", path, "a unix URL needs a socket path, like unix:///run/redis.sock")
			}
		default:
			v.at(&st.m, "redis", path, "unknown scheme %q: want redis://, rediss:// or unix://", u.Scheme)
		}
	}
	if st.Sync < minStoreSync || st.Sync > maxStoreSync {
		v.at(&st.m, "sync", path, "must be between %s and %s, got %s", minStoreSync, maxStoreSync, st.Sync)
	}
	if st.Prefix == "" || !validPath(st.Prefix) {
		v.at(&st.m, "prefix", path, "must be a non-empty key prefix without spaces or control characters, got %q", st.Prefix)
	}
}

func (v *validator) expectStatus(a *ActiveHealth, path string) {
	if len(a.ExpectStatus) == 0 {
		v.at(&a.m, "expect_status", path, "needs at least one status code or class")
	}
	for _, r := range a.ExpectStatus {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			v.at(&a.m, "expect_status", path, "must be HTTP statuses within 100..599, got %d-%d", r.Lo, r.Hi)
		}
	}
}

// Small checks. Each returns true when the value is fine.

func (v *validator) oneOf(m *meta, key, path, val string, allowed ...string) bool {
	for _, a := range allowed {
		if val == a {
			return true
		}
	}
	v.at(m, key, path, "unknown value %q: want %s", val, strings.Join(allowed, ", "))
	return false
}

func (v *validator) positive(m *meta, key, path string, d time.Duration) bool {
	if d <= 0 {
		v.at(m, key, path, "must be greater than 0, got %s", d)
		return false
	}
	return true
}

func (v *validator) nonNegative(m *meta, key, path string, d time.Duration) {
	if d < 0 {
		v.at(m, key, path, "must not be negative, got %s", d)
	}
}

func (v *validator) atLeast(m *meta, key, path string, n, lo int) bool {
	if n < lo {
		v.at(m, key, path, "must be at least %d, got %d", lo, n)
		return false
	}
	return true
}

func (v *validator) name(m *meta, path, name, what string) bool {
	switch {
	case name == "":
		v.at(m, "name", path, "a %s needs a name", what)
	case !validName(name):
		v.at(m, "name", path, "invalid name %q: use letters, digits, '.', '_' and '-' (at most %d)", name, maxNameLen)
	default:
		return true
	}
	return false
}

func (v *validator) listenAddr(m *meta, key, path, addr string) bool {
	if addr == "" {
		v.at(m, key, path, "a listen address (host:port) is required")
		return false
	}
	if msg := checkHostPort(addr, false); msg != "" {
		v.at(m, key, path, "%s", msg)
		return false
	}
	return true
}

func (v *validator) pathPrefix(m *meta, path, p string) {
	if p != "" && (!strings.HasPrefix(p, "/") || !validPath(p)) {
		v.at(m, "path_prefix", path, "must start with / and contain no spaces or control characters, got %q", p)
	}
}

func (v *validator) methods(m *meta, path string, methods []string) {
	for i, meth := range methods {
		if !validToken(meth) || strings.ToUpper(meth) != meth {
			v.at(m, fmt.Sprintf("methods[%d]", i), path, "invalid method %q: want an upper-case token like GET or POST", meth)
		}
	}
}

// known lists the defined backend names for an "unknown backend" message.
func known(set map[string]int) string {
	if len(set) == 0 {
		return " (no backends are defined)"
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return "; defined backends: " + strings.Join(names, ", ")
}
