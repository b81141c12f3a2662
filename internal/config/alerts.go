package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Alert is one alert rule (alerts[] in the file, contract §8): when the
// value named by When (and Resource) over Scope is at or above Threshold
// for For, the alert fires; it resolves when the value falls below
// ResolveBelow (default: Threshold).
type Alert struct {
	// Name identifies the rule (sluice_alerts_firing{alert}, events, the
	// API). Required, unique; letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// When is server_down | latency_p99 | error_rate | rate_limited |
	// resource. Required.
	When string `yaml:"when"`
	// Resource is what a `when: resource` rule watches: rss | fds | cpu |
	// connections. Required for resource, not allowed otherwise. (Extension:
	// the contract lists them under resource.)
	Resource string `yaml:"resource"`
	// Scope is what the rule watches: a frontend, a backend, a server
	// (backend + address) or, when empty, the whole process. Which scopes a
	// kind allows: see AlertKinds.
	Scope AlertScope `yaml:"scope"`
	// Threshold in the kind's unit (see AlertKinds): a duration ("250ms"),
	// a ratio ("0.05" or "5%"), a count ("10") or a size ("512MiB").
	// Required, except for server_down (default 1: one server down).
	Threshold string `yaml:"threshold"`
	// ResolveBelow: a firing alert resolves when the value falls below it
	// (hysteresis). Same unit; default Threshold; must not be above it.
	ResolveBelow string `yaml:"resolve_below"`
	// For: how long the value must stay at or above Threshold before the
	// alert fires. Default 0 (at the first evaluation); >= 0.
	For time.Duration `yaml:"for"`
	// Notify lists where firing and resolving are sent besides the process
	// log, the events and the metric. Default none.
	Notify []AlertNotify `yaml:"notify"`

	// ThresholdValue and ResolveValue are Threshold and ResolveBelow in the
	// kind's base unit (milliseconds, a fraction, a count, bytes), filled
	// by Parse.
	ThresholdValue float64 `yaml:"-"`
	ResolveValue   float64 `yaml:"-"`

	m meta
}

// AlertScope names what an alert watches; all empty = the process.
type AlertScope struct {
	Frontend string `yaml:"frontend"`
	Backend  string `yaml:"backend"`
	// Server is a server address of Backend, as written in its servers.
	Server string `yaml:"server"`

	m meta
}

// AlertNotify is one notification target.
type AlertNotify struct {
	// Webhook is an http or https URL that gets a JSON POST per firing and
	// per resolving. Required.
	Webhook string `yaml:"webhook"`
	// Timeout bounds one POST. Default 5s; > 0. (Extension.)
	Timeout time.Duration `yaml:"timeout"`
	// Retries after a failed POST (connection error, timeout, status other
	// than 2xx), with backoff from 1s doubling. Default 3; 0..10.
	// (Extension.)
	Retries int `yaml:"retries"`

	m meta
}

// Alert kinds (Alert.When) and resources (Alert.Resource).
const (
	AlertServerDown  = "server_down"
	AlertLatencyP99  = "latency_p99"
	AlertErrorRate   = "error_rate"
	AlertRateLimited = "rate_limited"
	AlertResource    = "resource"

	ResourceRSS         = "rss"
	ResourceFDs         = "fds"
	ResourceCPU         = "cpu"
	ResourceConnections = "connections"
)

// Alert limits and defaults.
const (
	MaxAlerts                 = 256
	MaxAlertNotify            = 8
	DefaultAlertWebhookTimout = 5 * time.Second
	DefaultAlertRetries       = 3
	MaxAlertRetries           = 10
)

// Threshold units.
const (
	UnitDuration = "duration" // base unit: milliseconds
	UnitRatio    = "ratio"    // a fraction: 0.05 (or 5%)
	UnitCount    = "count"
	UnitSize     = "size" // bytes
)

// AlertKind describes one kind of alert: the unit of its threshold and the
// scopes it allows. AlertKinds is the one table of them.
type AlertKind struct {
	Unit                               string
	Process, Frontend, Backend, Server bool
	// Meaning is one line for the documentation and error messages.
	Meaning string
}

// AlertKinds is keyed by When, or "resource:" + Resource.
var AlertKinds = map[string]AlertKind{
	AlertServerDown: {Unit: UnitCount, Process: true, Backend: true, Server: true,
		Meaning: "servers down (enabled, not draining, health not up)"},
	AlertLatencyP99: {Unit: UnitDuration, Process: true, Frontend: true, Backend: true, Server: true,
		Meaning: "99th percentile latency over the last minute (process: the highest frontend's)"},
	AlertErrorRate: {Unit: UnitRatio, Process: true, Frontend: true, Backend: true, Server: true,
		Meaning: "share of requests answered 5xx (server: of attempts that failed) over the last second"},
	AlertRateLimited: {Unit: UnitCount, Process: true, Frontend: true, Backend: true,
		Meaning: "requests (tcp: connections) refused by rate limits per second"},
	"resource:" + ResourceRSS: {Unit: UnitSize, Process: true, Meaning: "resident memory of the process"},
	"resource:" + ResourceFDs: {Unit: UnitCount, Process: true, Meaning: "open file descriptors of the process"},
	"resource:" + ResourceCPU: {Unit: UnitRatio, Process: true,
		Meaning: "CPU used by the process over the last second, as a fraction of one CPU (1.5 = one and a half)"},
	"resource:" + ResourceConnections: {Unit: UnitCount, Process: true, Frontend: true, Backend: true, Server: true,
		Meaning: "active client connections (backend, server: connections or requests in flight to it)"},
}

// KindKey is the AlertKinds key of a rule.
func (a *Alert) KindKey() string {
	if a.When == AlertResource {
		return "resource:" + a.Resource
	}
	return a.When
}

// ParseThreshold parses a threshold text in unit (UnitDuration, UnitRatio,
// UnitCount, UnitSize) and returns it in the base unit: milliseconds, a
// fraction, a count, bytes. Negative values are errors.
func ParseThreshold(unit, s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch unit {
	case UnitDuration:
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("invalid duration %q: use a Go duration like 250ms or 1.5s", s)
		}
		return float64(d) / float64(time.Millisecond), nil
	case UnitRatio:
		mult := 1.0
		if n, ok := strings.CutSuffix(s, "%"); ok {
			s, mult = strings.TrimSpace(n), 0.01
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Errorf("invalid ratio %q: use a fraction like 0.05 or a percentage like 5%%", s)
		}
		return f * mult, nil
	case UnitCount:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Errorf("invalid count %q: use a number like 10", s)
		}
		return f, nil
	case UnitSize:
		n, err := ParseSize(s)
		if err != nil {
			return 0, err
		}
		return float64(n), nil
	}
	return 0, fmt.Errorf("unknown unit %q", unit)
}

// setAlertDerived fills the parsed thresholds (validation reports bad ones).
func (a *Alert) setDerived() {
	k, ok := AlertKinds[a.KindKey()]
	if !ok {
		return
	}
	if a.Threshold == "" && a.When == AlertServerDown {
		a.Threshold = "1"
	}
	a.ThresholdValue, _ = ParseThreshold(k.Unit, a.Threshold)
	a.ResolveValue = a.ThresholdValue
	if a.ResolveBelow != "" {
		a.ResolveValue, _ = ParseThreshold(k.Unit, a.ResolveBelow)
	}
}

func (n *AlertNotify) setDefaults() {
	n.Timeout, n.Retries = DefaultAlertWebhookTimout, DefaultAlertRetries
}

// alerts validates the alert rules against the backends and frontends.
func (v *validator) alerts(c *Config) {
	if n := len(c.Alerts); n > MaxAlerts {
		v.at(&c.m, "alerts", "", "%d alert rules is more than the limit of %d", n, MaxAlerts)
	}
	names := map[string]int{}
	for i := range c.Alerts {
		a := &c.Alerts[i]
		path := fmt.Sprintf("alerts[%d]", i)
		if a.m.bad {
			continue
		}
		if v.name(&a.m, path, a.Name, "alert rule") {
			if j, dup := names[a.Name]; dup {
				v.at(&a.m, "name", path, "duplicate alert name %q (also alerts[%d])", a.Name, j)
			} else {
				names[a.Name] = i
			}
		}
		if !v.oneOf(&a.m, "when", path, a.When, AlertServerDown, AlertLatencyP99, AlertErrorRate, AlertRateLimited, AlertResource) {
			continue
		}
		if a.When == AlertResource {
			if a.Resource == "" {
				v.at(&a.m, "when", path, "resource needs resource: rss, fds, cpu or connections")
				continue
			}
			if !v.oneOf(&a.m, "resource", path, a.Resource, ResourceRSS, ResourceFDs, ResourceCPU, ResourceConnections) {
				continue
			}
		} else if a.Resource != "" {
			v.at(&a.m, "resource", path, "only applies to when: resource")
		}
		k := AlertKinds[a.KindKey()]
		v.alertScope(c, a, k, path)
		th, thOK := 0.0, false
		switch {
		case a.Threshold == "":
			v.at(&a.m, "threshold", path, "a threshold is required (%s: %s)", k.Unit, k.Meaning)
		default:
			var err error
			if th, err = ParseThreshold(k.Unit, a.Threshold); err != nil {
				v.at(&a.m, "threshold", path, "%v", err)
			}
			thOK = err == nil
		}
		if a.ResolveBelow != "" {
			rb, err := ParseThreshold(k.Unit, a.ResolveBelow)
			switch {
			case err != nil:
				v.at(&a.m, "resolve_below", path, "%v", err)
			case thOK && rb > th:
				v.at(&a.m, "resolve_below", path, "must not be above threshold (%s), got %s", a.Threshold, a.ResolveBelow)
			}
		}
		v.nonNegative(&a.m, "for", path, a.For)
		if n := len(a.Notify); n > MaxAlertNotify {
			v.at(&a.m, "notify", path, "%d targets is more than the limit of %d", n, MaxAlertNotify)
		}
		for j := range a.Notify {
			n := &a.Notify[j]
			np := fmt.Sprintf("%s.notify[%d]", path, j)
			if n.m.bad {
				continue
			}
			if u, err := url.Parse(n.Webhook); n.Webhook == "" {
				v.at(&n.m, "webhook", np, "a webhook URL is required")
			} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.at(&n.m, "webhook", np, "must be an http or https URL, got %q", n.Webhook)
			}
			v.positive(&n.m, "timeout", np, n.Timeout)
			if v.atLeast(&n.m, "retries", np, n.Retries, 0) && n.Retries > MaxAlertRetries {
				v.at(&n.m, "retries", np, "must be at most %d, got %d", MaxAlertRetries, n.Retries)
			}
		}
	}
}

// alertScope checks that the scope names what exists and suits the kind.
func (v *validator) alertScope(c *Config, a *Alert, k AlertKind, path string) {
	s := &a.Scope
	sp := join(path, "scope")
	kind := a.When
	if a.When == AlertResource {
		kind = "resource " + a.Resource
	}
	switch {
	case s.Frontend != "" && (s.Backend != "" || s.Server != ""):
		v.at(&s.m, "frontend", sp, "a scope is a frontend, a backend or a server (backend + address), not several")
	case s.Server != "" && s.Backend == "":
		v.at(&s.m, "server", sp, "a server scope needs its backend too")
	case s.Frontend != "":
		if !k.Frontend {
			v.at(&s.m, "frontend", sp, "%s cannot watch a frontend", kind)
		} else if c.frontend(s.Frontend) == nil {
			v.at(&s.m, "frontend", sp, "unknown frontend %q", s.Frontend)
		}
	case s.Server != "":
		b := c.backend(s.Backend)
		switch {
		case !k.Server:
			v.at(&s.m, "server", sp, "%s cannot watch a server", kind)
		case b == nil:
			v.at(&s.m, "backend", sp, "unknown backend %q", s.Backend)
		case b.server(s.Server) == nil:
			v.at(&s.m, "server", sp, "backend %q has no server %s", s.Backend, s.Server)
		}
	case s.Backend != "":
		if !k.Backend {
			v.at(&s.m, "backend", sp, "%s cannot watch a backend", kind)
		} else if c.backend(s.Backend) == nil {
			v.at(&s.m, "backend", sp, "unknown backend %q", s.Backend)
		}
	case !k.Process:
		v.at(&a.m, "scope", path, "%s needs a scope", kind)
	}
}

func (c *Config) frontend(name string) *Frontend {
	for i := range c.Frontends {
		if c.Frontends[i].Name == name {
			return &c.Frontends[i]
		}
	}
	return nil
}

func (c *Config) backend(name string) *Backend {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}

// server finds a server by address, as written or as the same IP:port
// written differently.
func (b *Backend) server(addr string) *Server {
	key := serverKey(addr)
	for i := range b.Servers {
		if serverKey(b.Servers[i].Address) == key {
			return &b.Servers[i]
		}
	}
	return nil
}
