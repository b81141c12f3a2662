package alert

import (
	"math"
	"strconv"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// Kinds of rules, as the configuration's kind table names them (When, or
// "resource:" + Resource).
const (
	ServerDown  = "server_down"
	LatencyP99  = "latency_p99"
	ErrorRate   = "error_rate"
	RateLimited = "rate_limited"
	RSS         = "resource:rss"
	FDs         = "resource:fds"
	CPU         = "resource:cpu"
	Connections = "resource:connections"
)

// Units of a kind's value (for the text shown beside it).
const (
	UnitDuration = "duration" // milliseconds
	UnitRatio    = "ratio"    // a fraction
	UnitCount    = "count"
	UnitSize     = "size" // bytes
)

// Rule is one alert rule as the Engine evaluates it. internal/app builds
// it from the configuration (which parsed and validated the thresholds).
type Rule struct {
	// View is the rule as written (name, kind, scope, thresholds as text):
	// what the API shows and the webhooks carry.
	View state.AlertRule
	// Kind is one of the kinds above; Unit its unit.
	Kind, Unit string
	// Threshold and Resolve are in the unit's base (ms, fraction, count,
	// bytes): fire at or above Threshold (held For), resolve below Resolve.
	Threshold, Resolve float64
	For                time.Duration
	Webhooks           []Webhook
}

// Webhook is one notification target.
type Webhook struct {
	URL     string
	Timeout time.Duration // one POST; <= 0: 5s
	Retries int           // after the first try; < 0: 0
}

// Name is the rule's name.
func (r *Rule) Name() string { return r.View.Name }

// identity is what must stay the same for a rule's state to carry over a
// change (reload, API edit, upgrade): its kind and scope. A new threshold
// keeps the state; the next evaluation decides.
func (r *Rule) identity() string {
	s := r.View.Scope
	return r.Kind + "|" + s.Frontend + "|" + s.Backend + "|" + s.Server
}

// value reads the rule's value from s; prev is the sample before s (nil
// for none) for values that need a difference. ok is false when the scope
// has no data in s (why says so).
func (r *Rule) value(s, prev *state.Stats) (v float64, ok bool, why string) {
	sc := r.View.Scope
	switch r.Kind {
	case ServerDown:
		n, found := 0, sc.Backend == ""
		for i := range s.Backends {
			b := &s.Backends[i]
			if sc.Backend != "" && b.Name != sc.Backend {
				continue
			}
			found = found || sc.Server == ""
			for j := range b.Servers {
				x := &b.Servers[j]
				if sc.Server != "" && !sameAddr(x.Address, sc.Server) {
					continue
				}
				found = true
				if x.Enabled && !x.Draining && !x.Removed && x.Health != state.HealthUp {
					n++
				}
			}
		}
		if !found {
			return 0, false, "no data for " + scopeText(sc)
		}
		return float64(n), true, ""
	case RSS:
		return float64(s.Process.RSSBytes), true, ""
	case FDs:
		return float64(s.Process.OpenFDs), true, ""
	case CPU:
		return s.Process.CPUPercent / 100, true, ""
	}
	// Kinds read per frontend, backend, server or the process.
	switch {
	case sc.Frontend != "":
		f := findFrontend(s, sc.Frontend)
		if f == nil {
			break
		}
		switch r.Kind {
		case LatencyP99:
			return f.P99Ms, true, ""
		case ErrorRate:
			return f.ErrorRate, true, ""
		case RateLimited:
			return f.RateLimitedPerSec, true, ""
		case Connections:
			return float64(f.ActiveConnections), true, ""
		}
	case sc.Server != "":
		x := findServer(s, sc.Backend, sc.Server)
		if x == nil {
			break
		}
		switch r.Kind {
		case LatencyP99:
			return x.P99Ms, true, ""
		case ErrorRate:
			return serverErrorRate(x, s, prev, sc), true, ""
		case Connections:
			return float64(x.ActiveConnections), true, ""
		}
	case sc.Backend != "":
		b := findBackend(s, sc.Backend)
		if b == nil {
			break
		}
		switch r.Kind {
		case LatencyP99:
			return b.P99Ms, true, ""
		case ErrorRate:
			return b.ErrorRate, true, ""
		case RateLimited:
			return b.RateLimitedPerSec, true, ""
		case Connections:
			return float64(b.ActiveConnections), true, ""
		}
	default: // the process
		switch r.Kind {
		case LatencyP99:
			m := 0.0
			for i := range s.Frontends {
				m = max(m, s.Frontends[i].P99Ms)
			}
			return m, true, ""
		case ErrorRate:
			var req, errs float64
			for i := range s.Frontends {
				f := &s.Frontends[i]
				req += f.RequestsPerSec
				errs += f.RequestsPerSec * f.ErrorRate
			}
			if req == 0 {
				return 0, true, ""
			}
			return errs / req, true, ""
		case RateLimited:
			n := 0.0
			for i := range s.Frontends {
				n += s.Frontends[i].RateLimitedPerSec
			}
			for i := range s.Backends {
				n += s.Backends[i].RateLimitedPerSec
			}
			return n, true, ""
		case Connections:
			return float64(s.Process.ActiveConnections), true, ""
		}
	}
	return 0, false, "no data for " + scopeText(sc)
}

// serverErrorRate is the share of a server's attempts that failed between
// prev and s (0 without traffic or without a previous sample).
func serverErrorRate(x *state.ServerStats, s, prev *state.Stats, sc state.AlertScope) float64 {
	if prev == nil {
		return 0
	}
	p := findServer(prev, sc.Backend, sc.Server)
	dt := s.Time.Sub(prev.Time).Seconds()
	if p == nil || dt <= 0 || x.Failures < p.Failures {
		return 0
	}
	req := x.RequestsPerSec * dt
	if req < 1 {
		return 0
	}
	return min(1, float64(x.Failures-p.Failures)/req)
}

func findFrontend(s *state.Stats, name string) *state.FrontendStats {
	for i := range s.Frontends {
		if s.Frontends[i].Name == name {
			return &s.Frontends[i]
		}
	}
	return nil
}

func findBackend(s *state.Stats, name string) *state.BackendStats {
	for i := range s.Backends {
		if s.Backends[i].Name == name {
			return &s.Backends[i]
		}
	}
	return nil
}

func findServer(s *state.Stats, backend, addr string) *state.ServerStats {
	b := findBackend(s, backend)
	if b == nil {
		return nil
	}
	for i := range b.Servers {
		if sameAddr(b.Servers[i].Address, addr) {
			return &b.Servers[i]
		}
	}
	return nil
}

// scopeText names a scope in messages: "backend api", "server 10.0.0.1:80
// of backend api", "frontend web", "the process".
func scopeText(sc state.AlertScope) string {
	switch {
	case sc.Frontend != "":
		return "frontend " + sc.Frontend
	case sc.Server != "":
		return "server " + sc.Server + " of backend " + sc.Backend
	case sc.Backend != "":
		return "backend " + sc.Backend
	}
	return "the process"
}

// Text renders v in unit as a threshold would be written: "312ms",
// "0.071", "3", "1.5GiB".
func Text(unit string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch unit {
	case UnitDuration:
		d := time.Duration(v * float64(time.Millisecond))
		switch {
		case d >= time.Second:
			d = d.Round(10 * time.Millisecond)
		case d >= time.Millisecond:
			d = d.Round(time.Millisecond)
		default:
			d = d.Round(time.Microsecond)
		}
		return d.String()
	case UnitSize:
		for _, u := range []struct {
			name string
			n    float64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if v >= u.n {
				return strconv.FormatFloat(v/u.n, 'f', 1, 64) + u.name
			}
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
