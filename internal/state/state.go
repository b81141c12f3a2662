// Package state holds the read-only views of a running Sluice that the admin
// API, the live stream, alerts, the gRPC service and the web UI read, and the
// change requests they make. internal/app produces the views and implements
// Control; internal/admin (and later the gRPC service) serves them. The JSON
// tags are the API's field names (docs/api.md): renaming one breaks clients.
//
// Ownership: every value handed out by Control is immutable after it was
// published (a new Snapshot or Stats is built and swapped, never edited), so
// readers may keep and share them without copying or locking.
//
// The package is a leaf: standard library only.
package state

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Control is what the admin API needs from the running process. Every
// method is safe for concurrent use and never takes the apply lock for
// reading (Snapshot, Stats, Events, Logs read atomically published data).
type Control interface {
	// Snapshot is the running configuration and its objects, published at
	// the end of every apply. Never nil once the process has started.
	Snapshot() *Snapshot
	// Stats is the latest once-a-second sample of the live counters.
	Stats() *Stats
	// Events returns up to limit events with ID > after, oldest first, from
	// a bounded ring (limit <= 0: all that are kept).
	Events(after uint64, limit int) []Event
	// Logs returns recent access-log entries matching f, newest first.
	Logs(f LogFilter) []LogEntry
	// Subscribe registers a live consumer of stats, events and log lines;
	// see Subscription.
	Subscribe(buffer int) *Subscription
	// Validate parses and validates a configuration text as a reload would
	// (without binding or resolving anything) and returns every error.
	Validate(text []byte) []ConfigError
	// Change applies one change through the single change path (edit the
	// configuration text, parse, validate, resolve, apply, write back). The
	// error is ErrNotFound, ErrConflict, ErrReadOnly, an *InvalidError, or
	// another error naming what failed.
	Change(ctx context.Context, c Change) (Result, error)
	// Explain answers which route, backend and server a request would get,
	// read-only (the balancer does not move).
	Explain(q ExplainQuery) (Explanation, error)
}

// Snapshot is the running configuration (immutable once published).
type Snapshot struct {
	Version    string     `json:"version"`
	Commit     string     `json:"commit"`
	GoVersion  string     `json:"go_version"`
	Started    time.Time  `json:"started"`
	ConfigFile string     `json:"config_file"`
	Checksum   string     `json:"config_checksum"`
	Generation uint64     `json:"generation"` // +1 at every successful apply
	LastReload Reload     `json:"last_reload"`
	Frontends  []Frontend `json:"frontends"`
	Backends   []Backend  `json:"backends"`
	// Text is the running configuration text as written in the file (before
	// ${VAR} expansion), what GET /api/v1/config answers.
	Text []byte `json:"-"`
}

// Reload describes the last attempt to change the configuration.
type Reload struct {
	Time    time.Time `json:"time"`
	Result  string    `json:"result"`            // success | failure
	Source  string    `json:"source"`            // start | signal | watch | api | grpc | upgrade
	Error   string    `json:"error,omitempty"`   // failure: the first error
	Changes string    `json:"changes,omitempty"` // success: the one-line summary
}

// Frontend is one configured frontend.
type Frontend struct {
	Name    string  `json:"name"`
	Mode    string  `json:"mode"` // http | tcp
	Listen  string  `json:"listen"`
	Backend string  `json:"backend,omitempty"` // tcp: the backend; http: when no route matches
	TLS     bool    `json:"tls"`
	Routes  []Route `json:"routes,omitempty"`
}

// Route is one configured route (http: host/path/methods; tcp: SNI).
type Route struct {
	Name       string   `json:"name,omitempty"`
	Host       string   `json:"host,omitempty"`
	PathPrefix string   `json:"path_prefix,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	SNI        []string `json:"sni,omitempty"`
	Backend    string   `json:"backend"`
}

// Backend is one configured backend.
type Backend struct {
	Name        string   `json:"name"`
	Algorithm   string   `json:"algorithm"`
	HealthCheck string   `json:"health_check"` // tcp | http | none
	Servers     []Server `json:"servers"`
}

// Server is one configured server; operator state (weight, enabled, drain)
// is configuration, kept in the file so reloads and restarts keep it.
type Server struct {
	Address string `json:"address"`
	Weight  int    `json:"weight"`
	Enabled bool   `json:"enabled"`
	Drain   bool   `json:"drain"`
}

// Stats is one sample of the live counters (immutable once published).
// Rates are per second over the last sample interval; latencies are over
// the last minute.
type Stats struct {
	Time      time.Time       `json:"time"`
	Frontends []FrontendStats `json:"frontends"`
	Backends  []BackendStats  `json:"backends"`
	Process   ProcessStats    `json:"process"`
}

// FrontendStats are one frontend's live numbers.
type FrontendStats struct {
	Name              string  `json:"name"`
	ActiveConnections int64   `json:"active_connections"`
	RequestsPerSec    float64 `json:"requests_per_sec"`
	ErrorRate         float64 `json:"error_rate"` // share of 5xx answers (http), 0..1
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	RateLimitedPerSec float64 `json:"rate_limited_per_sec"` // requests (tcp: connections) refused by its rate limits
	BytesInPerSec     float64 `json:"bytes_in_per_sec"`
	BytesOutPerSec    float64 `json:"bytes_out_per_sec"`
	Requests          uint64  `json:"requests_total"` // http requests or tcp sessions
}

// BackendStats are one backend's live numbers and its servers'.
type BackendStats struct {
	Name              string        `json:"name"`
	ActiveConnections int64         `json:"active_connections"`
	RequestsPerSec    float64       `json:"requests_per_sec"`
	ErrorRate         float64       `json:"error_rate"`
	P50Ms             float64       `json:"p50_ms"`
	P99Ms             float64       `json:"p99_ms"`
	RateLimitedPerSec float64       `json:"rate_limited_per_sec"` // refused by the backend's rate_limit
	Servers           []ServerStats `json:"servers"`
}

// Server health states as the API names them.
const (
	HealthUp       = "up"
	HealthDown     = "down"
	HealthHalfOpen = "half_open" // passively ejected, one trial request allowed
	HealthDamped   = "damped"    // held out by flap damping
)

// ServerStats are one server's live state and numbers.
type ServerStats struct {
	Address           string  `json:"address"`
	Health            string  `json:"health"`     // up | down | half_open | damped
	ActiveUp          bool    `json:"active_up"`  // the active checks' view
	PassiveUp         bool    `json:"passive_up"` // the passive checks' view
	Enabled           bool    `json:"enabled"`
	Draining          bool    `json:"draining"` // operator drain, or removed and finishing
	Removed           bool    `json:"removed"`  // removed from the configuration, still draining
	Weight            int     `json:"weight"`   // effective (slow start included)
	ActiveConnections int64   `json:"active_connections"`
	RequestsPerSec    float64 `json:"requests_per_sec"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	Failures          uint64  `json:"failures_total"`
	Reason            string  `json:"reason,omitempty"` // why it is down (the last transition's reason)
	// DampedUntil is when flap damping trusts the server again (Health
	// "damped" only).
	DampedUntil time.Time `json:"damped_until,omitzero"`
	// UpRatio is the share of the last hour (or of its time in the
	// process, if shorter) the server spent up, 0..1.
	UpRatio float64 `json:"up_ratio_1h"`
}

// HealthTransition is one entry of a server's health history (the last
// 100 per server): GET /api/v1/backends/{name} serves them per server.
type HealthTransition struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"` // active | passive | operator | damping
	State  string    `json:"state"`  // up | down | half_open | damped | …
	Reason string    `json:"reason"` // "active check: status 503", "5 consecutive failures on live traffic: 5xx"
}

// ProcessStats are whole-process numbers (also what resource alerts read).
type ProcessStats struct {
	Uptime            float64 `json:"uptime_seconds"`
	RSSBytes          int64   `json:"rss_bytes"`
	OpenFDs           int64   `json:"open_fds"`
	CPUPercent        float64 `json:"cpu_percent"` // of one CPU, over the last sample
	ActiveConnections int64   `json:"active_connections"`
	Goroutines        int     `json:"goroutines"`
}

// Event types.
const (
	EventHealth = "health" // a server changed state (source and reason say why)
	EventReload = "reload" // a reload was applied or refused
	EventConfig = "config" // a change through the API (who, what)
	EventAlert  = "alert"  // an alert fired or resolved
)

// Event is one entry of the events ring.
type Event struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Severity string    `json:"severity"` // info | warn | error
	Message  string    `json:"message"`
	Frontend string    `json:"frontend,omitempty"`
	Backend  string    `json:"backend,omitempty"`
	Server   string    `json:"server,omitempty"`
	Source   string    `json:"source,omitempty"` // health: active | passive | operator
	Reason   string    `json:"reason,omitempty"` // e.g. "connect refused", "status 503", "5 consecutive 5xx"
	Actor    string    `json:"actor,omitempty"`  // config: who
	Alert    string    `json:"alert,omitempty"`
	State    string    `json:"state,omitempty"` // health: up | down | …; alert: firing | resolved
}

// LogEntry is one access-log entry (HTTP request or TCP session), with the
// access log's field names.
type LogEntry struct {
	ID         uint64    `json:"id"`
	Time       time.Time `json:"ts"`
	Frontend   string    `json:"frontend"`
	Mode       string    `json:"mode,omitempty"` // "tcp" for sessions
	ClientIP   string    `json:"client_ip"`
	Method     string    `json:"method,omitempty"`
	Host       string    `json:"host,omitempty"`
	Path       string    `json:"path,omitempty"`
	Backend    string    `json:"backend"`
	Server     string    `json:"server"`
	Status     int       `json:"status,omitempty"`
	DurationMs float64   `json:"duration_ms"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
	Close      string    `json:"close,omitempty"`
}

// LogFilter selects log entries; empty fields match everything.
type LogFilter struct {
	Frontend string
	Backend  string
	Status   string // "503", or a class "5xx"
	ClientIP string // an address or a prefix (10.0.0.0/8)
	Q        string // substring of the path (or host)
	Limit    int    // <= 0: 100; capped at the ring size
}

// Subscription is a live consumer registered by Control.Subscribe. C carries
// stats (once a second), events and log lines as they happen. The producer
// never blocks: when C is full the subscription is dropped (C is closed and
// Dropped reports true). Close unregisters it; it is safe to call twice.
type Subscription struct {
	C       <-chan Item
	Dropped func() bool
	Close   func()
	// SetFilter selects what C carries from now on (a stream client's
	// subscribe message); until it is called, C carries everything. Items
	// filtered out never reach C, so they cannot fill it. Safe to call at
	// any time, from any goroutine.
	SetFilter func(StreamFilter)
}

// StreamFilter selects the items of a Subscription.
type StreamFilter struct {
	Stats  bool      `json:"stats"`
	Events bool      `json:"events"`
	Logs   bool      `json:"logs"`
	Log    LogFilter `json:"-"` // which log lines (Limit is ignored); an invalid filter passes none
}

// Item is one message of a Subscription; exactly one pointer is set. A
// producer that batches log lines (internal/live's hub, one batch per 50 ms
// tick) sets Logs; Log is one line from a producer that does not.
type Item struct {
	Stats *Stats
	Event *Event
	Log   *LogEntry
	Logs  *LogBatch
}

// LogBatch is the access-log lines of one producer tick that match one log
// filter, oldest first. The producer builds it once and hands the same
// batch to every subscriber whose filter is Filter, so it is read-only for
// consumers; Encode lets them share one encoding of it too.
type LogBatch struct {
	Filter  LogFilter // the filter the entries matched (Limit 0)
	Entries []LogEntry

	once sync.Once
	enc  []byte
	err  error
}

// Encode returns enc(b), computed once per batch however many consumers
// call it, concurrently or not; the result is shared and must not be
// modified. Every caller must pass the same encoding (one consumer kind
// per process encodes batches: the admin stream's frame).
func (b *LogBatch) Encode(enc func(*LogBatch) ([]byte, error)) ([]byte, error) {
	b.once.Do(func() { b.enc, b.err = enc(b) })
	return b.enc, b.err
}

// Actor is who asked for a change (for the audit log and events).
type Actor struct {
	Name   string `json:"name"`   // user name or API key name
	Role   string `json:"role"`   // viewer | operator | admin
	Via    string `json:"via"`    // session | key | grpc | signal | watch
	Remote string `json:"remote"` // client address
}

// Change operations.
const (
	OpPatchServer  = "patch_server"  // Server.Weight/Enabled/Drain of Backend/Address
	OpAddServer    = "add_server"    // Server (Address required) to Backend
	OpRemoveServer = "remove_server" // Backend/Address; it drains first
	OpPutConfig    = "put_config"    // replace the whole text with Text
	OpReload       = "reload"        // re-read the file, as SIGHUP
	OpAddAlert     = "add_alert"     // Alert (Name unique) appended to alerts
	OpSetAlert     = "set_alert"     // the rule named Alert.Name replaced by Alert
	OpRemoveAlert  = "remove_alert"  // the rule named Alert.Name removed
)

// ServerSpec carries the fields of a server change; nil means unchanged
// (patch) or the default (add).
type ServerSpec struct {
	Address string `json:"address,omitempty"`
	Weight  *int   `json:"weight,omitempty"`
	Enabled *bool  `json:"enabled,omitempty"`
	Drain   *bool  `json:"drain,omitempty"`
}

// Change is one change request.
type Change struct {
	Op      string
	Backend string
	Address string
	Server  ServerSpec
	Text    []byte     // OpPutConfig
	Alert   *AlertRule // OpAddAlert, OpSetAlert, OpRemoveAlert (Name only)
	DryRun  bool       // validate and diff only; nothing is applied or written
	Actor   Actor
}

// Result is the outcome of a Change.
type Result struct {
	Applied bool     `json:"applied"`
	DryRun  bool     `json:"dry_run"`
	Changes []string `json:"changes"` // the semantic diff in operator terms, one line each
	// Persisted says where the change was kept: "file" (written back),
	// "overlay" (the file is read-only: state_dir overlay, re-applied at
	// start), or "" (nothing to persist: dry run, reload).
	Persisted string   `json:"persisted,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Checksum  string   `json:"config_checksum,omitempty"` // of the text now running
}

// ConfigError is one validation error of a configuration text.
type ConfigError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// Errors returned by Control.Change.
var (
	ErrNotFound = errors.New("not found")                            // no such backend or server
	ErrConflict = errors.New("conflict")                             // e.g. server exists, or a value comes from ${VAR}
	ErrReadOnly = errors.New("configuration cannot be changed here") // no file to write and no state_dir
)

// InvalidError is a change that would make the configuration invalid.
type InvalidError struct{ Errors []ConfigError }

func (e *InvalidError) Error() string {
	if len(e.Errors) == 0 {
		return "invalid configuration"
	}
	return "invalid configuration: " + e.Errors[0].Message
}

// ExplainQuery is a request to explain (GET /api/v1/explain, sluice explain).
type ExplainQuery struct {
	Frontend string `json:"frontend"`
	Method   string `json:"method"`
	Host     string `json:"host"`
	Path     string `json:"path"`
	ClientIP string `json:"client_ip"`
	SNI      string `json:"sni,omitempty"` // tcp frontends with SNI routes
	// Headers are request header fields (name → value) the request would
	// carry: X-Forwarded-For (read when client_ip is a trusted proxy), a
	// rate limit's key or match header. Optional.
	Headers map[string]string `json:"headers,omitempty"`
}

// Explanation answers an ExplainQuery.
type Explanation struct {
	Frontend string        `json:"frontend"`
	Mode     string        `json:"mode"`
	ClientIP string        `json:"client_ip"` // the client as the frontend sees it
	Access   string        `json:"access"`    // "allowed", or why it is denied
	Routes   []RouteCheck  `json:"routes"`    // every route tried, in order, up to the match
	Route    string        `json:"route"`     // the matched route's name (or index), "" for the default backend
	Backend  string        `json:"backend"`   // "" when none: Status says what the client gets
	Servers  []ServerCheck `json:"servers"`
	Pick     string        `json:"pick"`             // the server the algorithm would pick now, "" for none
	Status   int           `json:"status,omitempty"` // what the client would get without a backend (403, 404, 503)
	Reason   string        `json:"reason,omitempty"` // one sentence
}

// RouteCheck says whether one route matched and why not.
type RouteCheck struct {
	Name    string `json:"name"`
	Matched bool   `json:"matched"`
	Reason  string `json:"reason,omitempty"` // e.g. `host "a.example" does not match "api.example.com"`
}

// ServerCheck says whether one server could be picked and why not.
type ServerCheck struct {
	Address  string `json:"address"`
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason,omitempty"` // down, draining, disabled, at max connections, rate-limited, damped
}
