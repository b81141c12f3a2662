package config

import (
	"crypto/x509"
	"net/netip"
	"strings"
	"time"

	"github.com/sluicelb/sluice/certs"
)

// Config is the whole configuration file (contract §2 and §2a).
// The zero value is not useful: start from Defaults, or use Load/Parse.
type Config struct {
	// Admin is the admin listener (metrics, health, later API and UI).
	Admin Admin `yaml:"admin"`
	// Logging configures the process log and the access log.
	Logging Logging `yaml:"logging"`
	// ShutdownTimeout bounds a graceful stop. Default 30s; must be > 0.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxConnections caps client connections for the whole process.
	// Default 50000; must be >= 1.
	MaxConnections int `yaml:"max_connections"`
	// Frontends are the listeners. At least one is required.
	Frontends []Frontend `yaml:"frontends"`
	// Backends are the server pools that frontends and routes name.
	Backends []Backend `yaml:"backends"`
	// RateLimitStore, when set, shares every rate limit (frontend
	// rate_limits and backend rate_limit) between the instances that use
	// the same store (contract §9). Default nil: limits are per instance.
	RateLimitStore *RateLimitStore `yaml:"rate_limit_store"`
	// Resolvers are the DNS servers (IP:port, port default 53) that server
	// names are resolved with, at load and every dns_refresh. Default empty:
	// the system's resolver (/etc/resolv.conf). (Extension.)
	Resolvers []string `yaml:"resolvers"`
	// Alerts are alert rules (contract §8). Default none.
	Alerts []Alert `yaml:"alerts"`

	// File is the name given to Load or Parse (used in error messages).
	File string `yaml:"-"`
	// Raw is the file content as read, before ${VAR} expansion. Owned by
	// the Config; do not modify.
	Raw []byte `yaml:"-"`
	// SHA256 is the checksum of Raw (see Checksum).
	SHA256 [32]byte `yaml:"-"`

	m meta
}

// Admin is the admin listener.
type Admin struct {
	// Listen is host:port of the admin server. Default 127.0.0.1:9900.
	// SLUICE_ADMIN_LISTEN and --admin-listen override it.
	Listen string `yaml:"listen"`
	// Pprof mounts net/http/pprof under /debug/pprof/ on the admin
	// listener, behind the admin role. Default false. (Extension to the
	// contract.)
	Pprof bool `yaml:"pprof"`
	// StateDir is where persistent state lives (API keys, login sessions,
	// alert state, audit log: contract §8). Default "" = nothing is
	// persisted (API keys cannot be created, sessions end with the process,
	// the audit goes to the process log only); when set it must be an
	// absolute path, created 0700 at start. SLUICE_STATE_DIR and
	// --state-dir override it.
	StateDir string `yaml:"state_dir"`
	// TLS, when cert and key are both set, serves the admin listener over
	// TLS. Default: plain HTTP. Both files are read at load and at reload.
	TLS AdminTLS `yaml:"tls"`
	// GRPCListen is host:port of the gRPC control service. Default "" (off).
	GRPCListen string `yaml:"grpc_listen"`
	// Users may log in to the API and UI. Default none.
	Users []AdminUser `yaml:"users"`
	// ProtectMetrics puts GET /metrics behind a viewer credential. Default
	// false (open, like /healthz and /readyz).
	ProtectMetrics bool `yaml:"protect_metrics"`

	m meta
}

// AdminTLS is the admin listener's certificate: both or neither.
type AdminTLS struct {
	// Cert is a PEM certificate (chain) file. Default "".
	Cert string `yaml:"cert"`
	// Key is its PEM private key file. Default "".
	Key string `yaml:"key"`

	m meta
}

// Enabled reports whether the admin listener serves TLS.
func (t *AdminTLS) Enabled() bool { return t.Cert != "" && t.Key != "" }

// Admin roles (AdminUser.Role), lowest first.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// AdminUser is one user of the admin API and UI.
type AdminUser struct {
	// Name is the login name. Required, unique, letters, digits, '.', '_',
	// '-' and '@' only.
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash, as printed by `sluice hash-password`.
	// Required.
	PasswordHash string `yaml:"password_hash"`
	// Role is viewer | operator | admin. Required.
	Role string `yaml:"role"`

	m meta
}

// RateLimitStore is where instances share rate-limit state.
type RateLimitStore struct {
	// Redis is the server's URL: redis://[user:password@]host:port[/db],
	// rediss:// for TLS, or unix:///path/to/socket. Required.
	Redis string `yaml:"redis"`
	// Sync is how often each instance reconciles its local allowances with
	// the store. Default 100ms; 10ms..10s.
	Sync time.Duration `yaml:"sync"`
	// Prefix starts every key sluice writes, so that several clusters can
	// share one Redis. Default "sluice".
	Prefix string `yaml:"prefix"`

	m meta
}

// Logging configures logs.
type Logging struct {
	// Level is error | warn | info | debug | trace. Default info.
	// SLUICE_LOG_LEVEL and --log-level override it.
	Level string `yaml:"level"`
	// Format of the process log: json | text. Default json.
	// SLUICE_LOG_FORMAT and --log-format override it.
	Format string `yaml:"format"`
	// AccessLog is stdout | stderr | off | a file path. Default stdout.
	// SLUICE_ACCESS_LOG and --access-log override it.
	AccessLog string `yaml:"access_log"`

	m meta
}

// Frontend modes.
const (
	ModeHTTP = "http"
	ModeTCP  = "tcp"
)

// Frontend is one listener.
type Frontend struct {
	// Name identifies the frontend in metrics and logs. Required, unique,
	// letters, digits, '.', '_' and '-' only.
	Name string `yaml:"name"`
	// Mode is http or tcp. Default http.
	Mode string `yaml:"mode"`
	// Listen is host:port (host may be empty for all interfaces). Required,
	// port 1..65535, unique across frontends and admin.listen.
	Listen string `yaml:"listen"`
	// MaxConnections caps this frontend's client connections: excess ones
	// are refused (tcp) or answered 503 (http). Default 10000; >= 1.
	MaxConnections int `yaml:"max_connections"`
	// Timeouts guard client-side waits.
	Timeouts FrontendTimeouts `yaml:"timeouts"`
	// Limits are request size limits (http only).
	Limits Limits `yaml:"limits"`
	// Routes are tried in order, first match wins. On a tcp frontend a
	// route matches the TLS ClientHello's server name (match.sni) and
	// nothing else (contract §7).
	Routes []Route `yaml:"routes"`
	// Backend is the backend name: for tcp the backend (required unless
	// routes are given; then it takes what no route matches, and without it
	// such a session is closed); for http the backend used when no route
	// matches (optional: no match → 404).
	Backend string `yaml:"backend"`
	// TLS, when set, terminates TLS on this http frontend (contract §7).
	// Default: none (plain HTTP).
	TLS *FrontendTLS `yaml:"tls"`
	// TrustedProxies are peers whose X-Forwarded-For names the client.
	// Default none.
	TrustedProxies CIDRs `yaml:"trusted_proxies"`
	// Access is the allow/deny list checked on connect.
	Access Access `yaml:"access"`
	// RateLimits are checked in order (http: requests; tcp: new connections).
	RateLimits []RateLimit `yaml:"rate_limits"`
	// ProxyProtocol makes the frontend read a PROXY protocol header (v1 or
	// v2) from peers in TrustedProxies, and take the client it names as the
	// client; a trusted peer without a header, and a header from any other
	// peer, are refused. Default false.
	ProxyProtocol bool `yaml:"proxy_protocol"`

	m meta
}

// IsHTTP reports whether the frontend is an L7 (http) frontend.
func (f *Frontend) IsHTTP() bool { return f.Mode == ModeHTTP }

// FrontendTimeouts are client-side timeouts. All must be > 0.
type FrontendTimeouts struct {
	// ClientHeader: the whole request head must arrive within it. Default 10s.
	ClientHeader time.Duration `yaml:"client_header"`
	// ClientIdle: http, the keep-alive idle time between requests (default
	// 60s); tcp, how long a session may sit idle in both directions (default
	// 1h: database pools and pub/sub subscribers sit idle for minutes).
	ClientIdle time.Duration `yaml:"client_idle"`
	// ClientRead: http, reading a request body. Default 30s.
	ClientRead time.Duration `yaml:"client_read"`
	// ClientWrite: http, writing a response. Default 30s.
	ClientWrite time.Duration `yaml:"client_write"`

	m meta
}

// Limits are http request limits.
type Limits struct {
	// MaxHeaderBytes caps the whole request head (over it: 431).
	// Default 64KiB; 1KiB..1MiB.
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// MaxBodyBytes caps a request body (over it: 413). Default 0 = no limit.
	MaxBodyBytes Size `yaml:"max_body_bytes"`

	m meta
}

// Route sends matching http requests to a backend.
type Route struct {
	// Name identifies the route in metrics and logs. Default "route-N"
	// (N = 1-based position in the list; "route-N-2"… when another route
	// is named "route-N"); unique within the frontend.
	Name string `yaml:"name"`
	// Match holds the conditions; every condition given must hold. An empty
	// Match matches every request.
	Match RouteMatch `yaml:"match"`
	// Backend is the backend name. Required.
	Backend string `yaml:"backend"`
	// RequestHeaders are applied to the request sent to the backend.
	RequestHeaders HeaderRules `yaml:"request_headers"`
	// ResponseHeaders are applied to the response sent to the client.
	ResponseHeaders HeaderRules `yaml:"response_headers"`

	m meta
}

// RouteMatch is the condition part of a route.
type RouteMatch struct {
	// Host is an exact host name or a leading wildcard "*.example.com"
	// (matches sub.example.com, not example.com). Stored lower-case.
	// Empty = any host.
	Host string `yaml:"host"`
	// PathPrefix must start with "/". Empty = any path.
	PathPrefix string `yaml:"path_prefix"`
	// Methods are upper-case method tokens. Empty = any method.
	Methods []string `yaml:"methods"`
	// SNI (tcp frontends only) lists server names, exact or "*.suffix",
	// one of which the TLS ClientHello must name. Stored lower-case.
	SNI []string `yaml:"sni"`

	m meta
}

// TLS versions (FrontendTLS.MinVersion).
const (
	TLS12 = "1.2"
	TLS13 = "1.3"
)

// FrontendTLS is TLS termination on an http frontend.
type FrontendTLS struct {
	// Certificates are chosen by the ClientHello's server name: exact, then
	// "*.suffix"; the first is the default (also for clients without SNI).
	// Each is loaded and checked when the configuration is (readable, key
	// matches, chain parses, not expired). Required unless ACME is set.
	Certificates []Certificate `yaml:"certificates"`
	// MinVersion is "1.2" or "1.3". Default "1.2".
	MinVersion string `yaml:"min_version"`
	// RedirectFrom, if set, is a plain-HTTP listen address that answers
	// every request with 308 to https:// (path and query kept) and ACME
	// HTTP-01 challenges. Default "" (none).
	RedirectFrom string `yaml:"redirect_from"`
	// HSTS > 0 adds Strict-Transport-Security: max-age=<seconds> to every
	// response. Default 0 (none).
	HSTS time.Duration `yaml:"hsts"`
	// ACME, if set, obtains and renews certificates automatically.
	ACME *ACME `yaml:"acme"`

	m meta
}

// Certificate is a certificate chain file and its key file (PEM).
type Certificate struct {
	// Cert is the chain, leaf first. Required.
	Cert string `yaml:"cert"`
	// Key is the private key (unencrypted). Required.
	Key string `yaml:"key"`

	// Pair is the loaded, checked certificate (set by Load/Parse).
	Pair *certs.Pair `yaml:"-"`

	m meta
}

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACME configures automatic certificates (RFC 8555).
type ACME struct {
	// Email is the account contact. Default "" (none).
	Email string `yaml:"email"`
	// Domains are the names to obtain certificates for (no wildcards:
	// HTTP-01 and TLS-ALPN-01 cannot prove them). Required.
	Domains []string `yaml:"domains"`
	// Directory is the ACME directory URL. Default DefaultACMEDirectory.
	Directory string `yaml:"directory"`
	// Storage is where accounts, keys and certificates are kept. Default
	// admin.state_dir + "/acme"; one of the two is required.
	Storage string `yaml:"storage"`
	// CA, if set, is a PEM file of the CA that signs the directory's own
	// HTTPS certificate (a private ACME server); default: system roots.
	// (Extension.)
	CA string `yaml:"ca"`

	// RootCAs is CA loaded, CASum the file's SHA-256 (set by Load/Parse);
	// nil = system roots.
	RootCAs *x509.CertPool `yaml:"-"`
	CASum   [32]byte       `yaml:"-"`

	m meta
}

// StoragePath returns Storage, or stateDir/acme.
func (a *ACME) StoragePath(stateDir string) string {
	if a.Storage != "" || stateDir == "" {
		return a.Storage
	}
	return strings.TrimSuffix(stateDir, "/") + "/acme"
}

// HeaderRules edits headers: Remove is applied first, then Set.
type HeaderRules struct {
	// Set replaces (or adds) each header, in file order.
	Set HeaderSet `yaml:"set"`
	// Remove deletes each named header (case-insensitive).
	Remove []string `yaml:"remove"`

	m meta
}

// HeaderSet is a YAML mapping of header name to value, kept in file order.
type HeaderSet []Header

// Header is a header name and value. In a rate limit match, Value empty
// means "header present with any value".
type Header struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`

	m meta
}

// Access is an allow/deny list. Deny is checked first; when Allow is
// non-empty only matching clients may connect. Default: both empty (all
// allowed).
type Access struct {
	Allow CIDRs `yaml:"allow"`
	Deny  CIDRs `yaml:"deny"`

	m meta
}

// Rate limit keys (RateLimit.Key); "header:NAME" is the third form.
const (
	KeyClientIP     = "client_ip"
	KeyFrontend     = "frontend"
	KeyHeaderPrefix = "header:"
)

// RateLimit is a token bucket rule of a frontend.
type RateLimit struct {
	// Name identifies the rule (metric label "rule"). Default
	// "rate-limit-N" (1-based; "rate-limit-N-2"… when another rule is so
	// named); unique within the frontend.
	Name string `yaml:"name"`
	// Key is client_ip | frontend | "header:NAME". Default client_ip.
	// A header key is http only.
	Key string `yaml:"key"`
	// Rate is the refill rate, "N/s", "N/m" or "N/h". Required, > 0.
	Rate Rate `yaml:"rate"`
	// Burst is the bucket size. Default max(1, ceil(rate per second)); >= 1.
	Burst int `yaml:"burst"`
	// Match restricts the rule; every condition given must hold.
	// Only ClientIP is allowed on tcp frontends.
	Match RateLimitMatch `yaml:"match"`

	m meta
}

// HeaderKey returns NAME for a "header:NAME" key, else "".
func (r *RateLimit) HeaderKey() string {
	if name, ok := strings.CutPrefix(r.Key, KeyHeaderPrefix); ok {
		return name
	}
	return ""
}

// RateLimitMatch restricts a rate limit rule. Empty fields match everything.
type RateLimitMatch struct {
	ClientIP   CIDRs    `yaml:"client_ip"`
	PathPrefix string   `yaml:"path_prefix"`
	Methods    []string `yaml:"methods"`
	// Header, when non-nil, requires the header (with Value, if non-empty).
	Header *Header `yaml:"header"`

	m meta
}

// Balancing algorithms (Backend.Algorithm); same names as balance.ParseAlgorithm.
const (
	AlgRoundRobin         = "round_robin"
	AlgWeightedRoundRobin = "weighted_round_robin"
	AlgLeastConnections   = "least_connections"
	AlgIPHash             = "ip_hash"
)

// Backend is a pool of servers.
type Backend struct {
	// Name is required, unique, letters, digits, '.', '_' and '-' only.
	Name string `yaml:"name"`
	// Algorithm is round_robin | weighted_round_robin | least_connections |
	// ip_hash. Default round_robin, or ip_hash when HashBalanceFactor is
	// written.
	Algorithm string `yaml:"algorithm"`
	// Timeouts are backend-side timeouts.
	Timeouts BackendTimeouts `yaml:"timeouts"`
	// MaxConnectionsPerServer caps connections (tcp) or in-flight requests
	// (http) per server. Default 0 = unlimited.
	MaxConnectionsPerServer int `yaml:"max_connections_per_server"`
	// DrainTimeout: a removed server keeps its connections this long.
	// Default 30s; 0 closes them at once.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Servers: 0..256 entries, unique addresses. A backend with no servers
	// is valid: http answers 503 and tcp refuses until one is added (by a
	// reload or the admin API). Default none.
	Servers []Server `yaml:"servers"`
	// Health configures active and passive checks.
	Health Health `yaml:"health"`
	// RateLimit, when non-nil, limits the whole backend across frontends.
	RateLimit *BackendRateLimit `yaml:"rate_limit"`
	// SlowStart ramps a server that comes (back) up from little to full
	// share over this duration. Default 0 = off. (Extension.)
	SlowStart time.Duration `yaml:"slow_start"`
	// DNSRefresh is how often servers given by a DNS name are resolved
	// again (also at once when all of a name's addresses fail). Default
	// 30s; at least 100ms.
	DNSRefresh time.Duration `yaml:"dns_refresh"`
	// TLS configures TLS from sluice to the servers (connections of http
	// frontends, WebSocket tunnels and health checks; tcp frontends pass
	// bytes through untouched). Default: off.
	TLS BackendTLS `yaml:"tls"`
	// Sticky, when set, pins an http client to a server by cookie. Default:
	// none.
	Sticky *Sticky `yaml:"sticky"`
	// HashBalanceFactor bounds the load of an ip_hash server to factor ×
	// the average ("consistent hashing with bounded loads"). Default 0 =
	// off; when set must be > 1 and Algorithm must be ip_hash. (Extension.)
	HashBalanceFactor float64 `yaml:"hash_balance_factor"`

	m meta
}

// BackendTLS is TLS to a backend's servers.
type BackendTLS struct {
	// Enabled turns TLS on. Default false.
	Enabled bool `yaml:"enabled"`
	// ServerName is sent as SNI and verified; default "" = each server's
	// host as written in its address.
	ServerName string `yaml:"server_name"`
	// CA is a PEM file of the CAs that sign the servers' certificates;
	// default "" = the system pool.
	CA string `yaml:"ca"`
	// InsecureSkipVerify accepts any server certificate (a warning is
	// logged at start and reload). Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`

	// RootCAs is CA loaded, CASum the SHA-256 of the file (set by
	// Load/Parse): two blocks are the same when Same says so.
	RootCAs *x509.CertPool `yaml:"-"`
	CASum   [32]byte       `yaml:"-"`

	m meta
}

// Same reports whether b and o configure the same TLS (the CA file's
// content included), so that pooled connections can be kept.
func (b *BackendTLS) Same(o *BackendTLS) bool {
	return b.Enabled == o.Enabled && b.ServerName == o.ServerName && b.CA == o.CA &&
		b.InsecureSkipVerify == o.InsecureSkipVerify && b.CASum == o.CASum
}

// DefaultStickyCookie is the default sticky-session cookie name.
const DefaultStickyCookie = "SLUICE_STICKY"

// Sticky pins a client to a server with a cookie (http frontends).
type Sticky struct {
	// Cookie is the cookie name. Default SLUICE_STICKY.
	Cookie string `yaml:"cookie"`
	// TTL is the cookie's Max-Age; 0 = a session cookie (until the browser
	// closes). Default 0.
	TTL time.Duration `yaml:"ttl"`

	m meta
}

// BackendTimeouts are backend-side timeouts. All must be > 0.
type BackendTimeouts struct {
	// Connect bounds dialing a server. Default 2s.
	Connect time.Duration `yaml:"connect"`
	// Response: http, until the response head arrives. Default 30s.
	Response time.Duration `yaml:"response"`
	// Idle: pooled idle backend connections are closed after it. Default
	// 1s: below the keep-alive timeout of common servers (Gunicorn 2s,
	// Node.js and Apache 5s), so that sluice, not the server, closes them.
	Idle time.Duration `yaml:"idle"`

	m meta
}

// Server is one upstream server.
type Server struct {
	// Address is host:port as written; it is the server's identity across
	// reloads. Host is an IP literal or a DNS name; port 1..65535. A name
	// "_service._proto.name" without a port is looked up as an SRV record.
	Address string `yaml:"address"`
	// Weight is 0..256, used by weighted_round_robin. Default 1. Servers
	// found through SRV take the records' weights instead.
	Weight int `yaml:"weight"`
	// Enabled: false takes the server out of rotation (no new connections;
	// existing ones finish). Operator state, written by the admin API.
	// Default true. (Extension.)
	Enabled bool `yaml:"enabled"`
	// Drain: true lets the server finish its connections but gives it no
	// new ones. Operator state, written by the admin API. Default false.
	// (Extension.)
	Drain bool `yaml:"drain"`
	// SendProxy makes sluice start every connection to the server with a
	// PROXY protocol header naming the client: "v1" (text) or "v2"
	// (binary). Default "" (none).
	SendProxy string `yaml:"send_proxy"`

	// Addrs are the addresses to dial. Parse fills it for IP literals;
	// Resolve fills it for host names and SRV names (all addresses found,
	// in the resolver's order, duplicates removed). Empty until then.
	Addrs []netip.AddrPort `yaml:"-"`
	// AddrWeights, when not nil, is the weight of each Addrs entry (SRV
	// records); nil means Weight for all.
	AddrWeights []int `yaml:"-"`

	m meta
}

// Health holds both kinds of health checking.
type Health struct {
	Active  ActiveHealth  `yaml:"active"`
	Passive PassiveHealth `yaml:"passive"`
	// Flap, when non-nil, turns flap damping on: a server whose health
	// changes state more than MaxTransitions times within Window is held
	// out for Penalty (doubling per repeat, up to MaxPenalty) before it is
	// trusted again. Default nil = off (contract §8).
	Flap *FlapHealth `yaml:"flap"`

	m meta
}

// Active health check types.
const (
	HealthNone = "none"
	HealthTCP  = "tcp"
	HealthHTTP = "http"
)

// ActiveHealth configures probes. When the `active` block is absent, Type
// is none; when it is given without a type, Type is http if path or
// expect_status is written, else tcp.
type ActiveHealth struct {
	// Type is tcp | http | none.
	Type string `yaml:"type"`
	// Path is the http probe path. Default /health; must start with "/".
	Path string `yaml:"path"`
	// ExpectStatus are the http statuses a healthy server answers: a code
	// (204), a class ("2xx") or a list of either ([200, 301]). Default any
	// 2xx or 3xx (HAProxy, Traefik).
	ExpectStatus StatusCodes `yaml:"expect_status"`
	// Interval between probes. Default 2s, or Timeout when only a longer
	// Timeout is written; > 0.
	Interval time.Duration `yaml:"interval"`
	// Timeout of one probe. Default 1s, or Interval when only a shorter
	// Interval is written; > 0 and not longer than Interval.
	Timeout time.Duration `yaml:"timeout"`
	// HealthyThreshold: consecutive successes to come back. Default 2; >= 1.
	HealthyThreshold int `yaml:"healthy_threshold"`
	// UnhealthyThreshold: consecutive failures to be taken out. Default 3; >= 1.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
	// SendProxy is the PROXY protocol header a probe starts with: auto (the
	// server's send_proxy version, none when it has none), none, v1 or v2.
	// A probe's header names no client (v1 "PROXY UNKNOWN", v2 LOCAL), as
	// HAProxy's checks send. Default auto.
	SendProxy string `yaml:"send_proxy"`

	m meta
}

// Probe PROXY protocol settings (ActiveHealth.SendProxy).
const (
	SendProxyAuto = "auto"
	SendProxyNone = "none"
)

// PassiveHealth ejects servers that fail on real traffic. On by default.
type PassiveHealth struct {
	// UnhealthyThreshold: consecutive failures (connect error, timeout, 5xx)
	// that eject a server. Default 5; 0 turns passive checks off.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
	// Cooldown: how long an ejected server rests. Default 10s; > 0.
	Cooldown time.Duration `yaml:"cooldown"`

	m meta
}

// FlapHealth configures flap damping (health.flap). Every field has a
// default when the block is present.
type FlapHealth struct {
	// MaxTransitions: more state changes than this within Window damp the
	// server. Default 4; 1..1000.
	MaxTransitions int `yaml:"max_transitions"`
	// Window over which transitions are counted. Default 1m; > 0.
	Window time.Duration `yaml:"window"`
	// Penalty: how long the first damping holds the server out; doubled by
	// each repeat. Default 30s; > 0.
	Penalty time.Duration `yaml:"penalty"`
	// MaxPenalty caps the penalty (and is how long a server must stay
	// trusted for its penalty to start again from Penalty). Default 10m
	// (or Penalty, if longer); >= Penalty.
	MaxPenalty time.Duration `yaml:"max_penalty"`

	m meta
}

// BackendRateLimit limits a whole backend, all frontends together.
type BackendRateLimit struct {
	// Rate is "N/s", "N/m" or "N/h". Required, > 0.
	Rate Rate `yaml:"rate"`
	// Burst default max(1, ceil(rate per second)); >= 1.
	Burst int `yaml:"burst"`

	m meta
}
