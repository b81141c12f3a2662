package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// All defaults, in one place. Each is repeated in the doc comment of its
// field in types.go; TestDefaults pins both.
const (
	DefaultAdminListen     = "127.0.0.1:9900"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
	DefaultAccessLog       = "stdout"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxConnections  = 50000

	DefaultFrontendMode           = ModeHTTP
	DefaultFrontendMaxConnections = 10000
	DefaultClientHeaderTimeout    = 10 * time.Second
	DefaultClientIdleTimeout      = 60 * time.Second // http: keep-alive idle time
	DefaultTCPClientIdleTimeout   = time.Hour        // tcp: an idle session (database pools, subscribers)
	DefaultClientReadTimeout      = 30 * time.Second
	DefaultClientWriteTimeout     = 30 * time.Second
	DefaultMaxHeaderBytes         = 64 * KiB
	DefaultMaxBodyBytes           = 0
	DefaultRateLimitKey           = KeyClientIP

	DefaultAlgorithm       = AlgRoundRobin
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResponseTimeout = 30 * time.Second
	DefaultIdleTimeout     = time.Second // below servers' own keep-alive timeouts (Gunicorn 2s, Node.js and Apache 5s)
	DefaultDrainTimeout    = 30 * time.Second
	DefaultWeight          = 1
	DefaultServerEnabled   = true
	DefaultServerDrain     = false

	DefaultTLSMinVersion = TLS12

	DefaultHealthPath                = "/health"
	DefaultHealthInterval            = 2 * time.Second
	DefaultHealthTimeout             = 1 * time.Second
	DefaultHealthyThreshold          = 2
	DefaultUnhealthyThreshold        = 3
	DefaultPassiveUnhealthyThreshold = 5
	DefaultPassiveCooldown           = 10 * time.Second
	DefaultHealthSendProxy           = SendProxyAuto
	DefaultDNSRefresh                = 30 * time.Second

	DefaultRateLimitSync      = 100 * time.Millisecond
	DefaultRateLimitPrefix    = "sluice"
	DefaultFlapMaxTransitions = 4
	DefaultFlapWindow         = time.Minute
	DefaultFlapPenalty        = 30 * time.Second
	DefaultFlapMaxPenalty     = 10 * time.Minute
	MaxFlapTransitions        = 1000
)

// Defaults returns a Config holding every top-level default and no
// frontends or backends. Elements of lists get their defaults when decoded
// (see DefaultFrontend, DefaultBackend, DefaultServer, ...).
func Defaults() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	c.Admin = Admin{Listen: DefaultAdminListen}
	c.Logging = Logging{Level: DefaultLogLevel, Format: DefaultLogFormat, AccessLog: DefaultAccessLog}
	c.ShutdownTimeout = DefaultShutdownTimeout
	c.MaxConnections = DefaultMaxConnections
}

// DefaultFrontend returns a frontend with every default and no name/listen.
func DefaultFrontend() Frontend {
	var f Frontend
	f.setDefaults()
	return f
}

func (f *Frontend) setDefaults() {
	*f = Frontend{
		Mode:           DefaultFrontendMode,
		MaxConnections: DefaultFrontendMaxConnections,
		Timeouts: FrontendTimeouts{
			ClientHeader: DefaultClientHeaderTimeout,
			ClientIdle:   DefaultClientIdleTimeout,
			ClientRead:   DefaultClientReadTimeout,
			ClientWrite:  DefaultClientWriteTimeout,
		},
		Limits: Limits{MaxHeaderBytes: DefaultMaxHeaderBytes, MaxBodyBytes: DefaultMaxBodyBytes},
		m:      f.m,
	}
}

func (r *RateLimit) setDefaults() { r.Key = DefaultRateLimitKey }

func (t *FrontendTLS) setDefaults() { t.MinVersion = DefaultTLSMinVersion }

func (a *ACME) setDefaults() { a.Directory = DefaultACMEDirectory }

func (s *Sticky) setDefaults() { s.Cookie = DefaultStickyCookie }

// DefaultBackend returns a backend with every default and no name/servers.
func DefaultBackend() Backend {
	var b Backend
	b.setDefaults()
	return b
}

func (b *Backend) setDefaults() {
	*b = Backend{
		Algorithm: DefaultAlgorithm,
		Timeouts: BackendTimeouts{
			Connect:  DefaultConnectTimeout,
			Response: DefaultResponseTimeout,
			Idle:     DefaultIdleTimeout,
		},
		DrainTimeout: DefaultDrainTimeout,
		DNSRefresh:   DefaultDNSRefresh,
		Health: Health{
			Active: DefaultActiveHealth(HealthNone),
			Passive: PassiveHealth{
				UnhealthyThreshold: DefaultPassiveUnhealthyThreshold,
				Cooldown:           DefaultPassiveCooldown,
			},
		},
		m: b.m,
	}
}

// DefaultActiveHealth returns active-check defaults with the given type.
// A backend without an `active` block gets type none; a block without a
// type gets tcp.
func DefaultActiveHealth(typ string) ActiveHealth {
	return ActiveHealth{
		Type:               typ,
		Path:               DefaultHealthPath,
		ExpectStatus:       DefaultExpectStatus(),
		Interval:           DefaultHealthInterval,
		Timeout:            DefaultHealthTimeout,
		HealthyThreshold:   DefaultHealthyThreshold,
		UnhealthyThreshold: DefaultUnhealthyThreshold,
		SendProxy:          DefaultHealthSendProxy,
	}
}

func (r *RateLimitStore) setDefaults() {
	*r = RateLimitStore{Sync: DefaultRateLimitSync, Prefix: DefaultRateLimitPrefix, m: r.m}
}

func (a *ActiveHealth) setDefaults() { *a = DefaultActiveHealth(HealthTCP) }

// DefaultExpectStatus is the default health.active.expect_status: any 2xx or
// 3xx, as HAProxy and Traefik accept (a health endpoint answering 204, or a
// redirect such as Django's trailing slash, is healthy).
func DefaultExpectStatus() StatusCodes { return StatusCodes{{200, 299}, {300, 399}} }

func (f *FlapHealth) setDefaults() {
	f.MaxTransitions, f.Window = DefaultFlapMaxTransitions, DefaultFlapWindow
	f.Penalty, f.MaxPenalty = DefaultFlapPenalty, DefaultFlapMaxPenalty
}

func (s *Server) setDefaults() {
	s.Weight, s.Enabled, s.Drain = DefaultWeight, DefaultServerEnabled, DefaultServerDrain
}

// setDerived fills the defaults that depend on other keys or on the list
// position, so that a default never contradicts what the user wrote (only
// two written values can conflict; Validate then names both):
//   - frontends[].timeouts.client_idle: 60s for http (keep-alive), 1h for
//     tcp (an idle database or pub/sub session);
//   - route and rate limit names: "route-N", "rate-limit-N", skipping names
//     the user gave to other entries;
//   - burst: max(1, ceil(rate per second));
//   - backends[].algorithm: ip_hash when hash_balance_factor is written;
//   - health.active.type: http when path or expect_status is written;
//   - health.active.timeout: min(1s, interval) when only interval is
//     written; health.active.interval: max(2s, timeout) when only timeout is.
//
// It also normalizes route hosts to lower case and fills Server.Addrs for
// IP literals. A key's value counts as written when the file has the key
// (meta); a Config built in code has no meta and is left as built.
func (c *Config) setDerived() {
	for fi := range c.Frontends {
		f := &c.Frontends[fi]
		if f.Mode == ModeTCP && !f.Timeouts.m.has("client_idle") {
			f.Timeouts.ClientIdle = DefaultTCPClientIdleTimeout
		}
		taken := map[string]bool{}
		for i := range f.Routes {
			if f.Routes[i].m.has("name") {
				taken[f.Routes[i].Name] = true
			}
		}
		for i := range f.Routes {
			r := &f.Routes[i]
			if r.Name == "" && !r.m.has("name") {
				r.Name = freeName("route-"+strconv.Itoa(i+1), taken)
			}
			r.Match.Host = asciiLower(r.Match.Host)
			for j, n := range r.Match.SNI {
				r.Match.SNI[j] = strings.TrimSuffix(asciiLower(n), ".")
			}
		}
		if t := f.TLS; t != nil && t.ACME != nil {
			for j, d := range t.ACME.Domains {
				t.ACME.Domains[j] = strings.TrimSuffix(asciiLower(d), ".")
			}
		}
		taken = map[string]bool{}
		for i := range f.RateLimits {
			if f.RateLimits[i].m.has("name") {
				taken[f.RateLimits[i].Name] = true
			}
		}
		for i := range f.RateLimits {
			rl := &f.RateLimits[i]
			if rl.Name == "" && !rl.m.has("name") {
				rl.Name = freeName("rate-limit-"+strconv.Itoa(i+1), taken)
			}
			if rl.Burst == 0 && !rl.m.has("burst") {
				rl.Burst = rl.Rate.DefaultBurst()
			}
		}
	}
	for bi := range c.Backends {
		b := &c.Backends[bi]
		if f := b.Health.Flap; f != nil && !f.m.has("max_penalty") && f.MaxPenalty < f.Penalty {
			f.MaxPenalty = f.Penalty // a long penalty alone is not an error
		}
		if b.RateLimit != nil && b.RateLimit.Burst == 0 && !b.RateLimit.m.has("burst") {
			b.RateLimit.Burst = b.RateLimit.Rate.DefaultBurst()
		}
		if b.m.has("hash_balance_factor") && b.HashBalanceFactor != 0 && !b.m.has("algorithm") {
			b.Algorithm = AlgIPHash
		}
		a := &b.Health.Active
		if !a.m.has("type") && (a.m.has("path") || a.m.has("expect_status")) {
			a.Type = HealthHTTP
		}
		switch {
		case a.m.has("interval") && !a.m.has("timeout") && a.Interval > 0:
			a.Timeout = min(DefaultHealthTimeout, a.Interval)
		case a.m.has("timeout") && !a.m.has("interval") && a.Timeout > 0:
			a.Interval = max(DefaultHealthInterval, a.Timeout)
		}
		for i := range b.Servers {
			s := &b.Servers[i]
			if ap, ok := addrPortOf(s.Address); ok && len(s.Addrs) == 0 {
				s.Addrs = []netip.AddrPort{ap}
			}
		}
	}
	for i := range c.Alerts {
		c.Alerts[i].setDerived()
	}
}

// freeName returns name, or name-2, name-3… when taken has it, and marks
// the result taken.
func freeName(name string, taken map[string]bool) string {
	n := name
	for k := 2; taken[n]; k++ {
		n = name + "-" + strconv.Itoa(k)
	}
	taken[n] = true
	return n
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
