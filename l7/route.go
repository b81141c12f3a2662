package l7

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/sluicelb/sluice/acl"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
)

// compiledRoute is a Route prepared for allocation-free matching.
type compiledRoute struct {
	name       string
	host       []byte // lower-case exact host, or the suffix (".example.com") when wildcard
	wildcard   bool
	prefix     []byte
	methods    [][]byte // empty: any
	backend    *Backend
	reqHeaders headerOps
	resHeaders headerOps
}

// table is the immutable routing state of a Proxy, swapped as a whole by
// Update (atomic.Pointer), so a request sees one consistent version.
type table struct {
	frontend string
	routes   []compiledRoute
	def      *Backend
	trusted  *acl.Trusted // nil: no trusted proxies
	timeouts Timeouts
	limits   Limits
	observer Observer
	guard    Guard
	global   *gate.Gate
	// proxyProtocol: read PROXY protocol headers (Options.ProxyProtocol).
	proxyProtocol bool
	tlsObs        TLSObserver
	hsts          []byte // Strict-Transport-Security value (TLS frontends), nil = none
	// tunnel is the engine session options of upgraded connections,
	// made on first use.
	tunnel atomic.Pointer[engine.SessionOptions]
}

// compileTable validates opts (already defaulted) and builds a table. Errors
// name the route and the field concerned.
func compileTable(opts *Options) (*table, error) {
	t := &table{
		frontend: opts.Frontend,
		def:      opts.Default,
		timeouts: opts.Timeouts,
		limits:   opts.Limits,
		observer: opts.Observer,
		guard:    opts.Guard,
		global:   opts.Global,

		proxyProtocol: opts.ProxyProtocol,
		tlsObs:        opts.TLSObserver,
		hsts:          hstsValue(opts.HSTS),
	}
	if len(opts.TrustedProxies) > 0 {
		tr, err := acl.NewTrusted(opts.TrustedProxies)
		if err != nil {
			return nil, fmt.Errorf("frontend %q: %w", opts.Frontend, err)
		}
		t.trusted = tr
	}
	for i := range opts.Routes {
		r := &opts.Routes[i]
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		cr, err := compileRoute(r, name)
		if err != nil {
			return nil, fmt.Errorf("frontend %q: route %q: %w", opts.Frontend, name, err)
		}
		t.routes = append(t.routes, cr)
	}
	return t, nil
}

func compileRoute(r *Route, name string) (compiledRoute, error) {
	cr := compiledRoute{name: name, backend: r.Backend}
	if r.Backend == nil {
		return cr, fmt.Errorf("no backend")
	}
	h := strings.ToLower(strings.TrimSuffix(r.Host, "."))
	if strings.HasPrefix(h, "*.") {
		cr.wildcard = true
		h = h[1:] // keep the dot: ".example.com"
	}
	check := h
	if cr.wildcard {
		check = h[1:]
	}
	if r.Host != "" && !validHostPattern(check) {
		return cr, fmt.Errorf("match.host %q: want a host name or \"*.\" followed by one", r.Host)
	}
	cr.host = []byte(h)
	if r.PathPrefix != "" && r.PathPrefix[0] != '/' {
		return cr, fmt.Errorf("match.path_prefix %q: must start with \"/\"", r.PathPrefix)
	}
	cr.prefix = []byte(r.PathPrefix)
	for _, m := range r.Methods {
		if !isToken([]byte(m)) {
			return cr, fmt.Errorf("match.methods: %q is not a method token", m)
		}
		cr.methods = append(cr.methods, []byte(m))
	}
	var err error
	if cr.reqHeaders, err = compileHeaderOps(&r.RequestHeaders, "request_headers"); err != nil {
		return cr, err
	}
	if cr.resHeaders, err = compileHeaderOps(&r.ResponseHeaders, "response_headers"); err != nil {
		return cr, err
	}
	return cr, nil
}

// validHostPattern accepts DNS-ish names, IPv4 literals and bracketed IPv6.
func validHostPattern(h string) bool {
	if h == "" {
		return false
	}
	if h[0] == '[' {
		_, err := netip.ParseAddr(strings.Trim(h, "[]"))
		return err == nil && h[len(h)-1] == ']'
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// match returns the first route matching host, path and method, or nil.
// host is the URI host as fasthttp parsed it (ctx.Host()); its port is
// ignored. It allocates nothing.
func (t *table) match(host, path, method []byte) *compiledRoute {
	host = hostWithoutPort(host)
	for i := range t.routes {
		if r := &t.routes[i]; r.check(host, path, method) == condMatch {
			return r
		}
	}
	return nil
}

// Route conditions, as check names the first one a request fails.
const (
	condMatch = iota // every condition holds
	condHost
	condPath
	condMethod
)

// check returns the first condition of r that a request fails, or
// condMatch; host has no port. It is the one rule of routing: match uses it
// on the data path, explainRoutes to say why a route was passed over.
func (r *compiledRoute) check(host, path, method []byte) int {
	if len(r.host) > 0 {
		if r.wildcard {
			if len(host) <= len(r.host) || !asciiEqualFoldBytes(host[len(host)-len(r.host):], r.host) {
				return condHost
			}
		} else if !asciiEqualFoldBytes(host, r.host) {
			return condHost
		}
	}
	if len(r.prefix) > 0 && !hasPrefix(path, r.prefix) {
		return condPath
	}
	if len(r.methods) > 0 && !methodIn(method, r.methods) {
		return condMethod
	}
	return condMatch
}

func methodIn(m []byte, list [][]byte) bool {
	for _, x := range list {
		if string(x) == string(m) {
			return true
		}
	}
	return false
}

func hasPrefix(b, p []byte) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == string(p)
}

// hostWithoutPort strips ":port" and one trailing dot from a host.
func hostWithoutPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i := range h {
			if h[i] == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			h = h[:i]
			break
		}
		if h[i] < '0' || h[i] > '9' {
			break
		}
	}
	if n := len(h); n > 1 && h[n-1] == '.' {
		h = h[:n-1]
	}
	return h
}
