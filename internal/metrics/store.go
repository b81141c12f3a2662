package metrics

import "sync/atomic"

// Series of the shared rate-limit store (contract §9, rate_limit_store).
const (
	NameStoreErrors    = "sluice_ratelimit_store_errors_total"
	NameStoreFallback  = "sluice_ratelimit_store_fallback"
	NameStoreInstances = "sluice_ratelimit_store_instances"
)

// Store holds the rate-limit store's series: the errors counter (every
// failed sync cycle), the fallback gauge (1 while limits are enforced
// locally as limit/N because the store is unreachable) and the live
// instance count last seen in the store. Methods are safe for concurrent
// use.
type Store struct {
	errors    *Counter
	fallback  atomic.Bool
	instances atomic.Int64
}

// RateLimitStore returns the store's series, creating them on the first
// call (so a process without a store exposes none).
func (r *Registry) RateLimitStore() *Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		return r.store
	}
	s := &Store{errors: r.process.NewCounter(NameStoreErrors)}
	r.process.NewGauge(NameStoreFallback, func() float64 { return b2f(s.fallback.Load()) })
	r.process.NewGauge(NameStoreInstances, func() float64 { return float64(s.instances.Load()) })
	r.store = s
	return s
}

// Error counts one failed sync cycle.
func (s *Store) Error() { s.errors.Inc() }

// SetFallback sets the fallback gauge.
func (s *Store) SetFallback(on bool) { s.fallback.Store(on) }

// SetInstances sets the live instance count.
func (s *Store) SetInstances(n int) { s.instances.Store(int64(n)) }
