package balance

import "math"

// Pick returns a server for a new connection or request, or nil when no
// server is available (all down, draining, disabled, at MaxConnsPerServer,
// weight 0, or already in *tried).
//
// On success the server's Active() was incremented: the caller MUST call
// srv.Release() exactly once when the connection or request ends. The server
// is also added to *tried, so a retry with the same Tried goes elsewhere.
// tried may be nil (no retry tracking). key is used by ip_hash only (see
// [KeyIP]); other algorithms ignore it.
//
// Pick is lock-free and allocation-free and safe for concurrent use. It
// makes at most one attempt per server (a bounded probe) before giving up.
func (b *Balancer) Pick(key uint64, tried *Tried) *Server {
	st := b.cur.Load()
	var rej Tried // servers ruled out for this call: tried + failed attempts
	if tried != nil {
		rej = *tried
	}
	var i int
	switch st.algo { // as pick does, kept inline on the hot path
	case IPHash:
		i = st.pickHash(b, key, &rej, false)
	case LeastConnections:
		i = st.pickLeast(b, &rej, false)
	default:
		i = st.pickTable(b, &rej, false)
	}
	if i < 0 {
		return nil
	}
	s := st.servers[i]
	if tried != nil {
		tried.add(st.slot[i])
	}
	if o := s.owner.Load(); o != nil {
		o.total.Add(1)
	}
	return s
}

// Peek returns the server Pick(key, tried) would return now, without
// picking it: the server's Active() does not move, the round-robin position
// stays, a half-open server's trial stays available, tried is not changed.
// nil when Pick would return nil. It is the same code as Pick (one owner of
// the rule), so the answer is exact for the state it reads; a Pick by
// another goroutine, or a state change, may of course come first.
// Lock-free; it does not allocate.
func (b *Balancer) Peek(key uint64, tried *Tried) *Server {
	st := b.cur.Load()
	if i := st.pick(b, key, tried, true); i >= 0 {
		return st.servers[i]
	}
	return nil
}

// pick runs the algorithm and returns the index of the chosen server, or -1.
// With peek set it only looks: nothing is acquired and no cursor advances.
// (Pick has the same dispatch inline.)
func (st *set) pick(b *Balancer, key uint64, tried *Tried, peek bool) int {
	var rej Tried // servers ruled out for this call: tried + failed attempts
	if tried != nil {
		rej = *tried
	}
	switch st.algo {
	case IPHash:
		return st.pickHash(b, key, &rej, peek)
	case LeastConnections:
		return st.pickLeast(b, &rej, peek)
	}
	return st.pickTable(b, &rej, peek)
}

// cursor returns the shared round-robin position for this pick and moves it
// on, or (peek) only reads it.
func (b *Balancer) cursor(peek bool) uint64 {
	if peek {
		return b.rr.Load()
	}
	return b.rr.Add(1) - 1
}

// couldAcquire reports whether acquire(limit) would succeed now, changing
// nothing (Peek). The pick loops call acquire when picking and this when
// peeking, written out at each call so that Pick's code stays as it was.
func (s *Server) couldAcquire(limit int64) bool {
	switch st := s.state.Load(); st {
	case 0, stHalfOpen:
		return limit <= 0 || s.active.Load() < limit
	}
	return false
}

// pickTable walks the schedule from the shared cursor: the first entry whose
// server can be acquired wins. Entries of ruled-out servers are passed over.
func (st *set) pickTable(b *Balancer, rej *Tried, peek bool) int {
	n := uint64(len(st.table))
	left := rej.countNotIn(&st.eligMask)
	if n == 0 || left == 0 {
		return -1
	}
	pos := b.cursor(peek) % n
	for range n {
		c := &st.elig[st.table[pos]]
		if pos++; pos == n {
			pos = 0
		}
		if rej.has(c.slot) {
			continue
		}
		if !peek && c.s.acquire(st.maxConns) || peek && c.s.couldAcquire(st.maxConns) {
			return int(c.idx)
		}
		rej.add(c.slot)
		if left--; left == 0 {
			break
		}
	}
	return -1
}

// pickLeast returns the available server with the smallest
// Active()/effective weight (all effective weights are equal unless a server
// slow-starts, so this is "least Active()"). The scan starts at the server the
// schedule's cursor names and keeps the first minimum, so ties go round-robin
// (weighted by slow start), as nginx's least_conn does.
func (st *set) pickLeast(b *Balancer, rej *Tried, peek bool) int {
	ne := len(st.elig)
	left := rej.countNotIn(&st.eligMask)
	if ne == 0 || left == 0 {
		return -1
	}
	start := int(st.table[b.cursor(peek)%uint64(len(st.table))])
	for left > 0 {
		var best *cand
		var bestA int64
		p := start
		for range ne {
			c := &st.elig[p]
			if p++; p == ne {
				p = 0
			}
			if rej.has(c.slot) {
				continue
			}
			a := c.s.active.Load()
			if x := c.s.state.Load(); (x != 0 && x != stHalfOpen) || (st.maxConns > 0 && a >= st.maxConns) {
				rej.add(c.slot)
				left--
				continue
			}
			// a/c.w < bestA/best.w, without division.
			if best == nil || a*best.w < bestA*c.w {
				best, bestA = c, a
			}
		}
		if best == nil {
			return -1
		}
		if !peek && best.s.acquire(st.maxConns) || peek && best.s.couldAcquire(st.maxConns) {
			return int(best.idx)
		}
		rej.add(best.slot)
		left--
	}
	return -1
}

// pickHash follows the key's probe sequence through the Maglev table,
// (h + k×step) mod M with h = key mod M and a key-derived step in 1..M−1 (M is
// prime, so the sequence visits every slot). The first eligible server that
// can be acquired wins, so when a server fails only its keys move, and they
// come back with it. With bounded loads, a server whose Active()+1 would
// exceed its cap is passed over too; if every candidate is over its cap (only
// possible while totals are settling), the first one is used anyway.
func (st *set) pickHash(b *Balancer, key uint64, rej *Tried, peek bool) int {
	mg := st.mag
	left := rej.countNotIn(&st.eligMask)
	if mg == nil || left == 0 {
		return -1
	}
	m := mg.m
	h := key % m
	step := mix(key)%(m-1) + 1
	var load float64
	if st.capMul != nil {
		load = float64(b.total.Load() + 1)
	}
	over := -1
	for range m {
		i := mg.table[h]
		if h += step; h >= m {
			h -= m
		}
		sl := st.slot[i]
		if rej.has(sl) {
			continue
		}
		rej.add(sl)
		if st.eligMask[sl>>6]&(1<<(sl&63)) == 0 {
			continue
		}
		s := st.servers[i]
		limit := st.maxConns
		if st.capMul != nil {
			c := int64(math.Ceil(st.capMul[i] * load))
			if s.active.Load()+1 > c {
				if over < 0 {
					over = int(i)
				}
				if left--; left == 0 {
					break
				}
				continue
			}
			if limit <= 0 || c < limit {
				limit = c
			}
		}
		if !peek && s.acquire(limit) || peek && s.couldAcquire(limit) {
			return int(i)
		}
		if left--; left == 0 {
			break
		}
	}
	if over >= 0 && (!peek && st.servers[over].acquire(st.maxConns) || peek && st.servers[over].couldAcquire(st.maxConns)) {
		return over
	}
	return -1
}

// mix derives a second, independent-looking hash from key (the splitmix64
// finalizer), for the probe step.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
