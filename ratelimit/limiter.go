// Package ratelimit owns Sluice's rate limits: the per-frontend rate_limits
// rules (keyed by client_ip, frontend or header:NAME) and the per-backend
// rate_limit, as configured in contract section 2a.
//
// The algorithm is GCRA (the generic cell rate algorithm, ITU-T I.371; the
// "virtual scheduling" form): each limit stores one int64, the theoretical
// arrival time (TAT) of the next event. With emission interval T = 1/rate and
// tolerance τ = burst·T, an event at time now is admitted when
// max(TAT, now) + T − now ≤ τ, and then TAT becomes max(TAT, now) + T.
// A fresh limit therefore admits exactly burst events at once and then one
// every T; over any window of length D at most burst + D·rate events are
// admitted. Denied events do not change the state.
//
// Time is passed in by the caller as non-negative int64 nanoseconds from a
// fixed origin, ideally monotonic (use Now, or an injected clock in tests).
// Callers on different goroutines may pass slightly out-of-order times: the
// bound above still holds, a late caller is only more likely to be denied.
// Limits never read the clock themselves, never lock and never allocate.
//
// Limiter is one limit (frontend- or backend-wide); Table holds one limit per
// key in a bounded, lock-free hash table; Rule wraps either for the caller.
package ratelimit

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// maxSpan bounds interval+tolerance so that now+span never overflows int64 for
// any now up to 2^62 ns (146 years), which covers UnixNano and Now.
const maxSpan = int64(1) << 61

// params is the immutable GCRA configuration shared by Limiter and Table.
type params struct {
	interval  int64 // T, ns per event, ≥ 1
	tolerance int64 // τ = burst·T
}

func newParams(rate float64, burst int) (params, error) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate <= 0 {
		return params{}, fmt.Errorf("ratelimit: rate must be a positive number of events per second, got %v", rate)
	}
	if burst < 1 {
		burst = 1
	}
	iv := math.Round(1e9 / rate)
	if iv < 1 {
		iv = 1 // rates above 1e9/s are clamped to one event per nanosecond
	}
	if iv*float64(burst+1) > float64(maxSpan) {
		return params{}, fmt.Errorf("ratelimit: rate %v/s with burst %d spans more than %v", rate, burst, time.Duration(maxSpan))
	}
	return params{interval: int64(iv), tolerance: int64(iv) * int64(burst)}, nil
}

// step is GCRA for stored state tat at time now: the new state when the
// event is admitted, or the wait until it would be.
func (p params) step(tat, now int64) (next int64, ok bool, wait int64) {
	if tat < now {
		tat = now
	}
	next = tat + p.interval
	if w := next - now - p.tolerance; w > 0 {
		return 0, false, w
	}
	return next, true, 0
}

// Limiter is a single GCRA limit shared by all callers (key "frontend", or a
// backend's rate_limit). Allow is lock-free (a CAS loop on one atomic int64),
// allocation-free and safe for concurrent use. A Limiter must not be copied
// after first use; create it with NewLimiter.
type Limiter struct {
	_      noCopy
	tat    atomic.Int64
	p      params
	shared *sharedState // nil: a local limit (see Shared)
	sync   slotSyncs    // slot 0: shared mode only
}

// NewLimiter returns a limit of rate events per second with the given burst
// (the number of events admitted at once from a fresh state). burst < 1 means
// 1. Rates above 1e9/s are clamped to 1e9/s. An error names a rate that is
// not a positive finite number, or a rate/burst whose window would exceed
// about 73 years.
func NewLimiter(rate float64, burst int) (*Limiter, error) {
	p, err := newParams(rate, burst)
	if err != nil {
		return nil, err
	}
	return &Limiter{p: p}, nil
}

// Allow decides one event at time now (ns, see the package doc). When it is
// denied, retryAfter is the exact time until one event would be admitted
// (always > 0); use RetryAfterSeconds for an HTTP Retry-After value.
func (l *Limiter) Allow(now int64) (ok bool, retryAfter time.Duration) {
	p := l.p
	if l.shared != nil {
		p = p.local(l.shared.share(l.sync.share[0].Load()))
	}
	for {
		old := l.tat.Load()
		next, ok, wait := p.step(old, now)
		if !ok {
			if l.shared != nil {
				l.sync.asked(0)
			}
			return false, time.Duration(wait)
		}
		if l.tat.CompareAndSwap(old, next) {
			if l.shared != nil {
				l.sync.pend[0].Add(1)
			}
			return true, 0
		}
	}
}

// Peek reports what Allow(now) would answer, changing nothing (the admin
// API's explain). Lock-free, allocation-free.
func (l *Limiter) Peek(now int64) (ok bool, retryAfter time.Duration) {
	_, ok, wait := l.p.step(l.tat.Load(), now)
	return ok, time.Duration(wait)
}

// Interval returns the emission interval 1/rate.
func (l *Limiter) Interval() time.Duration { return time.Duration(l.p.interval) }

// noCopy makes go vet's copylocks check flag copies.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
