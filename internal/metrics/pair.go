package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Mode selects which per-pair series Registry.Pair creates up front.
type Mode uint8

const (
	// ModeHTTP creates sluice_request_duration_seconds for the pair.
	ModeHTTP Mode = iota
	// ModeTCP creates sluice_tcp_sessions_total for the pair.
	ModeTCP
)

// maxCode bounds the per-code counter table: codes 1..999 get their own
// series; 0, negative and larger codes share code="other".
const maxCode = 1000

// DurationBuckets are the `le` upper bounds (seconds) of
// sluice_request_duration_seconds: 100µs to 10s.
var DurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Pair holds the series labelled {frontend, backend}: requests by status
// code, the request-duration histogram and TCP sessions. Obtain it from
// Registry.Pair. Hot-path methods are safe for concurrent use and
// allocation-free; Code locks only the first time a status code is seen.
type Pair struct {
	set        *vm.Set
	codePrefix string // `sluice_requests_total{frontend="f",backend="b",code="`
	frontend   string
	backend    string

	mu       sync.Mutex // guards creation of lazily made series
	codes    [maxCode]atomic.Pointer[Counter]
	duration atomic.Pointer[vm.PrometheusHistogram]
	sessions atomic.Pointer[Counter]
}

func newPair(frontend, backend string) *Pair {
	p := &Pair{set: vm.NewSet(), frontend: frontend, backend: backend}
	n := seriesName(NameRequests, "frontend", frontend, "backend", backend)
	p.codePrefix = n[:len(n)-1] + `,code="`
	return p
}

func (p *Pair) ensure(m Mode) {
	switch m {
	case ModeHTTP:
		p.durationSlow()
	case ModeTCP:
		p.sessionsSlow()
	}
}

// Request counts one answered HTTP request with status code and records
// its duration d: Code(code).Inc() plus ObserveDuration(d).
func (p *Pair) Request(code int, d time.Duration) {
	p.Code(code).Inc()
	p.ObserveDuration(d)
}

// Code returns the sluice_requests_total counter for status code, creating
// the series on first use of that code (that first call locks and
// allocates; every later call is one atomic load). Codes outside 1..999
// are counted as code="other".
func (p *Pair) Code(code int) *Counter {
	if code <= 0 || code >= maxCode {
		code = 0
	}
	if c := p.codes[code].Load(); c != nil {
		return c
	}
	return p.codeSlow(code)
}

func (p *Pair) codeSlow(code int) *Counter {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.codes[code].Load(); c != nil {
		return c
	}
	c := p.set.GetOrCreateCounter(p.codePrefix + codeLabel(code) + `"}`)
	p.codes[code].Store(c)
	return c
}

// ObserveDuration records d in sluice_request_duration_seconds (negative
// durations are ignored).
func (p *Pair) ObserveDuration(d time.Duration) {
	h := p.duration.Load()
	if h == nil {
		h = p.durationSlow()
	}
	h.Update(d.Seconds())
}

func (p *Pair) durationSlow() *vm.PrometheusHistogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.duration.Load(); h != nil {
		return h
	}
	h := p.set.GetOrCreatePrometheusHistogramExt(
		seriesName(NameRequestDuration, "frontend", p.frontend, "backend", p.backend), DurationBuckets)
	p.duration.Store(h)
	return h
}

// TCPSession counts one proxied TCP session in sluice_tcp_sessions_total.
func (p *Pair) TCPSession() { p.Sessions().Inc() }

// Sessions returns the sluice_tcp_sessions_total counter of the pair.
func (p *Pair) Sessions() *Counter {
	if c := p.sessions.Load(); c != nil {
		return c
	}
	return p.sessionsSlow()
}

func (p *Pair) sessionsSlow() *Counter {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.sessions.Load(); c != nil {
		return c
	}
	c := p.set.GetOrCreateCounter(seriesName(NameTCPSessions, "frontend", p.frontend, "backend", p.backend))
	p.sessions.Store(c)
	return c
}
