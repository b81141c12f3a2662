package balance

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Options configure a [Balancer]. The zero value is round_robin with no
// per-server connection limit, no slow start and no bounded loads.
type Options struct {
	// Algorithm is the balancing algorithm. Default (zero): RoundRobin.
	Algorithm Algorithm
	// MaxConnsPerServer caps each server's Active(): Pick skips a server at
	// the cap. 0 (default) or negative = unlimited.
	MaxConnsPerServer int64
	// SlowStart is the ramp time of a server that becomes available
	// (recovered, re-enabled, undrained, weight raised from 0, or added by
	// Update): its effective weight grows linearly from 1/10 of its weight to
	// the full weight over SlowStart. The owner must call [Balancer.Tick]
	// periodically (e.g. every 250ms) for the ramp to advance. Applies to
	// round_robin, weighted_round_robin and least_connections; ip_hash does
	// not ramp (keys return to their server at once). 0 (default) or
	// negative = off.
	SlowStart time.Duration
	// HashBalanceFactor enables consistent hashing with bounded loads for
	// ip_hash: a server is skipped for a key while its Active()+1 would exceed
	// ceil(factor × (totalActive+1) × weight/Σweights) over the available
	// servers (with equal weights: ceil(factor × (totalActive+1) / n)), and
	// the key goes to its next candidate. Typical: 1.25. 0 (default) = off;
	// values ≤ 1, NaN or infinite are treated as off by New (Validate
	// reports them).
	HashBalanceFactor float64
}

// Validate reports every invalid field, or nil. New never fails: it treats
// invalid values as documented on each field.
func (o Options) Validate() error {
	var errs []error
	if !o.Algorithm.valid() {
		errs = append(errs, fmt.Errorf("balance: invalid algorithm %d", o.Algorithm))
	}
	if o.MaxConnsPerServer < 0 {
		errs = append(errs, fmt.Errorf("balance: max connections per server %d is negative", o.MaxConnsPerServer))
	}
	if o.SlowStart < 0 {
		errs = append(errs, fmt.Errorf("balance: slow start %s is negative", o.SlowStart))
	}
	if f := o.HashBalanceFactor; f != 0 && !(f > 1 && !math.IsInf(f, 0)) {
		errs = append(errs, fmt.Errorf("balance: hash balance factor %v must be 0 (off) or a finite number > 1", f))
	}
	return errors.Join(errs...)
}

// normalized returns o with invalid values replaced by their "off" meaning.
func (o Options) normalized() Options {
	if !o.Algorithm.valid() {
		o.Algorithm = RoundRobin
	}
	if o.MaxConnsPerServer < 0 {
		o.MaxConnsPerServer = 0
	}
	if o.SlowStart < 0 {
		o.SlowStart = 0
	}
	if f := o.HashBalanceFactor; !(f > 1 && !math.IsInf(f, 0)) {
		o.HashBalanceFactor = 0
	}
	return o
}
