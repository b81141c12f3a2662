package metrics

import (
	"sync"
	"sync/atomic"

	vm "github.com/VictoriaMetrics/metrics"
)

// Frontend holds the series labelled {frontend}: active connections, bytes
// in/out, access-list denials and rate-limit refusals per rule. Obtain it
// from Registry.Frontend. All hot-path methods are atomic, allocation-free
// and safe for concurrent use.
type Frontend struct {
	name     string
	set      *vm.Set
	active   atomic.Int64
	activeFn atomic.Pointer[func() int64]
	bytesIn  *Counter
	bytesOut *Counter
	denied   *Counter

	mu    sync.Mutex // guards rules and certs (configuration path only)
	rules map[string]*Counter

	tls   atomic.Pointer[tlsSeries]              // nil until EnableTLS
	certs map[string]*atomic.Pointer[CertExpiry] // expiry gauges by certificate name
}

func newFrontend(name string) *Frontend {
	f := &Frontend{name: name, set: vm.NewSet(), rules: make(map[string]*Counter)}
	f.set.NewGauge(seriesName(NameActiveConnections, "frontend", name), func() float64 {
		if fn := f.activeFn.Load(); fn != nil {
			return float64((*fn)())
		}
		return float64(f.active.Load())
	})
	f.bytesIn = f.set.NewCounter(seriesName(NameBytes, "frontend", name, "direction", "in"))
	f.bytesOut = f.set.NewCounter(seriesName(NameBytes, "frontend", name, "direction", "out"))
	f.denied = f.set.NewCounter(seriesName(NameDenied, "frontend", name))
	return f
}

// Name returns the frontend name (unescaped).
func (f *Frontend) Name() string { return f.name }

// ConnOpened counts one more open client connection (sluice_active_connections).
func (f *Frontend) ConnOpened() { f.active.Add(1) }

// ConnClosed counts one client connection closed; pair every ConnOpened with it.
func (f *Frontend) ConnClosed() { f.active.Add(-1) }

// Active returns the connection count kept by ConnOpened/ConnClosed.
func (f *Frontend) Active() int64 { return f.active.Load() }

// BindActive makes sluice_active_connections read fn at scrape time instead
// of the ConnOpened/ConnClosed count, for a proxy that already keeps its
// own count. nil restores the built-in count. fn must be safe for
// concurrent use.
func (f *Frontend) BindActive(fn func() int64) {
	if fn == nil {
		f.activeFn.Store(nil)
		return
	}
	f.activeFn.Store(&fn)
}

// AddBytes adds to sluice_bytes_total{direction="in"} (from clients) and
// {direction="out"} (to clients). Zero values cost one branch each.
func (f *Frontend) AddBytes(in, out int64) {
	if in > 0 {
		f.bytesIn.AddInt64(in)
	}
	if out > 0 {
		f.bytesOut.AddInt64(out)
	}
}

// BytesIn returns the sluice_bytes_total{direction="in"} counter.
func (f *Frontend) BytesIn() *Counter { return f.bytesIn }

// BytesOut returns the sluice_bytes_total{direction="out"} counter.
func (f *Frontend) BytesOut() *Counter { return f.bytesOut }

// Denied returns the sluice_denied_total counter (clients refused by the
// access list).
func (f *Frontend) Denied() *Counter { return f.denied }

// RateLimited returns the sluice_ratelimited_total{rule} counter for rule,
// creating it on first call. Configuration path only (locks, may allocate):
// resolve one counter per rule when building the limiter and keep it.
func (f *Frontend) RateLimited(rule string) *Counter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.rules[rule]; c != nil {
		return c
	}
	c := f.set.NewCounter(seriesName(NameRateLimited, "frontend", f.name, "rule", rule))
	f.rules[rule] = c
	return c
}

// RetainRules unregisters the sluice_ratelimited_total series of every rule
// not in keep (rules dropped by a reload).
func (f *Frontend) RetainRules(keep []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for rule := range f.rules {
		found := false
		for _, k := range keep {
			if k == rule {
				found = true
				break
			}
		}
		if !found {
			f.set.UnregisterMetric(seriesName(NameRateLimited, "frontend", f.name, "rule", rule))
			delete(f.rules, rule)
		}
	}
}
