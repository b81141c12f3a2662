package balance

import (
	"math"
	"time"
)

// set is the immutable snapshot Pick works on. It is built by
// Balancer.buildLocked and never modified after it is published.
type set struct {
	opts     Options
	algo     Algorithm
	maxConns int64     // Options.MaxConnsPerServer; 0 = unlimited
	servers  []*Server // all configured servers, caller order
	slot     []uint8   // Tried slot of servers[i]

	// Eligible servers: serving (up, enabled, not draining) or passively
	// half-open, with weight > 0, in caller order.
	elig     []cand
	eligMask [MaxServers / 64]uint64 // slots of the eligible servers

	// table is the schedule of round_robin, weighted_round_robin and
	// least_connections (its tie-break start): positions into elig, built with
	// nginx's smooth weighted round robin over the effective weights.
	table []uint8

	// ip_hash.
	mag    *maglev   // over all configured servers and their weights; nil if Σweight = 0
	capMul []float64 // per server index: factor × weight / Σ eligible weight; nil = bounded loads off

	ramping bool // some server is slow-starting

	// effW is the effective weight of servers[i] as the API reports it: the
	// configured weight times the slow-start fraction, 0 when not eligible.
	effW []int32
}

// cand is an eligible server, laid out for the pick loops.
type cand struct {
	s    *Server
	w    int64 // effective weight (least_connections ratio)
	idx  uint8 // index in set.servers
	slot uint8 // Tried slot
}

const (
	rampMin   = 0.1     // slow start begins at this fraction of the weight
	rampScale = 20      // weight multiplier while ramping (resolution of the fractions)
	maxTable  = 1 << 16 // bound on the schedule length
	// maxBuildOps bounds the schedule build cost (eligible servers × schedule
	// length, about 1.5ns each): weights are scaled down to fit, so 256
	// servers get at most 16384 entries (~7ms), 64 servers the full 65536.
	maxBuildOps = 1 << 22
)

// buildLocked computes the next set from the current server states and
// advances the slow-start bookkeeping.
func (b *Balancer) buildLocked() *set {
	o := b.opts
	n := len(b.servers)
	st := &set{
		opts:     o,
		algo:     o.Algorithm,
		maxConns: o.MaxConnsPerServer,
		servers:  b.servers,
		slot:     make([]uint8, n),
		effW:     make([]int32, n),
	}
	weighted := o.Algorithm == WeightedRoundRobin || o.Algorithm == IPHash
	slow := o.SlowStart > 0 && o.Algorithm != IPHash

	base := make([]int64, 0, n)
	frac := make([]float64, 0, n)
	var sumW int64
	for i, s := range b.servers {
		m := b.members[s]
		st.slot[i] = m.slot
		w := int64(s.weight.Load())
		state := s.state.Load()
		// A half-open server is eligible (Pick hands its one trial out
		// through acquire) but not serving: its ramp starts when it is.
		elig := state&^stTrial == 0 && w > 0
		serving := elig && state == 0
		switch {
		case !serving:
			m.ramp = false
		case !m.known && m.fresh, m.known && !m.eligible:
			if slow {
				m.ramp, m.rampStart = true, time.Time{}
			}
		}
		m.known, m.fresh, m.eligible = true, false, serving
		if !slow {
			m.ramp = false
		}
		if !elig {
			continue
		}
		f := 1.0
		if m.ramp {
			f = rampMin
			if !m.rampStart.IsZero() {
				el := b.now.Sub(m.rampStart)
				if el >= o.SlowStart {
					m.ramp = false
					f = 1
				} else if el > 0 {
					f = rampMin + (1-rampMin)*float64(el)/float64(o.SlowStart)
				}
			}
		}
		st.ramping = st.ramping || m.ramp
		st.effW[i] = int32(max(1, math.Round(float64(w)*f)))
		if !weighted {
			w = 1
		}
		st.elig = append(st.elig, cand{s: s, idx: uint8(i), slot: m.slot})
		st.eligMask[m.slot>>6] |= 1 << (m.slot & 63)
		base = append(base, w)
		frac = append(frac, f)
		sumW += w
	}

	eff := effectiveWeights(base, frac, st.ramping)
	for p := range st.elig {
		st.elig[p].w = eff[p]
	}
	if o.Algorithm != IPHash {
		st.table = smoothSchedule(eff)
		return st
	}
	st.mag = b.maglevLocked()
	if o.HashBalanceFactor > 0 && sumW > 0 {
		st.capMul = make([]float64, n)
		for p, c := range st.elig {
			st.capMul[c.idx] = o.HashBalanceFactor * float64(base[p]) / float64(sumW)
		}
	}
	return st
}

// effectiveWeights scales base by the slow-start fractions (when ramping,
// with rampScale resolution and at least 1), divides by the common divisor and
// keeps the schedule length within maxTable and maxBuildOps (proportional
// scaling, each weight at least 1).
func effectiveWeights(base []int64, frac []float64, ramping bool) []int64 {
	eff := make([]int64, len(base))
	var g, sum int64
	for p, w := range base {
		if ramping {
			w = max(1, int64(math.Round(float64(w*rampScale)*frac[p])))
		}
		eff[p] = w
		g = gcd(g, w)
	}
	for p := range eff {
		eff[p] /= g
		sum += eff[p]
	}
	limit := int64(maxTable)
	if len(eff) > 0 {
		limit = min(limit, maxBuildOps/int64(len(eff)))
	}
	if sum > limit {
		for p := range eff {
			eff[p] = max(1, int64(math.Round(float64(eff[p])*float64(limit)/float64(sum))))
		}
	}
	return eff
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// smoothSchedule returns one period of nginx's smooth weighted round robin
// over w (positions into w, length Σw): every step adds each weight to its
// current value, picks the largest (first on ties) and subtracts Σw from it.
// For weights 5,1,1 the period is 0,0,1,0,2,0,0. Cost O(len(w)·Σw), build time
// only.
func smoothSchedule(w []int64) []uint8 {
	var total int64
	for _, x := range w {
		total += x
	}
	out := make([]uint8, 0, total)
	cur := make([]int64, len(w))
	for int64(len(out)) < total {
		best := 0
		for p := range w {
			cur[p] += w[p]
			if cur[p] > cur[best] {
				best = p
			}
		}
		cur[best] -= total
		out = append(out, uint8(best))
	}
	return out
}
