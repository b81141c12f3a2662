package config

import (
	"net/netip"
	"strconv"
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
	DefaultClientIdleTimeout      = 60 * time.Second
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

	DefaultHealthPath                = "/health"
	DefaultHealthExpectStatus        = 200
	DefaultHealthInterval            = 2 * time.Second
	DefaultHealthTimeout             = 1 * time.Second
	DefaultHealthyThreshold          = 2
	DefaultUnhealthyThreshold        = 3
	DefaultPassiveUnhealthyThreshold = 5
	DefaultPassiveCooldown           = 10 * time.Second
	DefaultHealthSendProxy           = SendProxyAuto
	DefaultDNSRefresh                = 30 * time.Second

	DefaultRateLimitSync   = 100 * time.Millisecond
	DefaultRateLimitPrefix = "sluice"
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
		ExpectStatus:       DefaultHealthExpectStatus,
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

func (s *Server) setDefaults() {
	s.Weight, s.Enabled, s.Drain = DefaultWeight, DefaultServerEnabled, DefaultServerDrain
}

// setDerived fills defaults that depend on other values or on the list
// position: route and rate limit names, bursts. It also normalizes route
// hosts to lower case and fills Server.Addrs for IP literals.
func (c *Config) setDerived() {
	for fi := range c.Frontends {
		f := &c.Frontends[fi]
		for i := range f.Routes {
			r := &f.Routes[i]
			if r.Name == "" && !r.m.has("name") {
				r.Name = "route-" + strconv.Itoa(i+1)
			}
			r.Match.Host = asciiLower(r.Match.Host)
		}
		for i := range f.RateLimits {
			rl := &f.RateLimits[i]
			if rl.Name == "" && !rl.m.has("name") {
				rl.Name = "rate-limit-" + strconv.Itoa(i+1)
			}
			if rl.Burst == 0 && !rl.m.has("burst") {
				rl.Burst = rl.Rate.DefaultBurst()
			}
		}
	}
	for bi := range c.Backends {
		b := &c.Backends[bi]
		if b.RateLimit != nil && b.RateLimit.Burst == 0 && !b.RateLimit.m.has("burst") {
			b.RateLimit.Burst = b.RateLimit.Rate.DefaultBurst()
		}
		for i := range b.Servers {
			s := &b.Servers[i]
			if ap, ok := addrPortOf(s.Address); ok && len(s.Addrs) == 0 {
				s.Addrs = []netip.AddrPort{ap}
			}
		}
	}
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
