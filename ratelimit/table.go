package ratelimit

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the capacity of a Table when TableOptions.MaxKeys is 0:
// 65,536 keys, about 1.2 MiB per keyed rule (16 bytes per slot plus bucket
// overhead).
const DefaultMaxKeys = 1 << 16

// ways is the number of slots per bucket: 7 keys and a metadata word fill one
// 64-byte cache line, the 7 TATs (plus padding) the next.
const ways = 7

// bucket is one set-associative group of slots. A slot is empty when its key
// is 0. keys and tats are separate arrays so that a lookup reads a single
// cache line of keys.
type bucket struct {
	ref  atomic.Uint64 // bit i: slot i was used since it was inserted or last swept
	keys [ways]atomic.Uint64
	tats [ways]atomic.Int64
	sync *slotSyncs // shared mode only (else nil); fills the 128 bytes
}

// Table is a bounded set of GCRA limits, one per key hash (client IP, header
// value), all with the same rate and burst.
//
// Layout: a fixed array of 7-way buckets (the shards: each is two cache lines
// and independent of the others), sized at construction and never grown, so
// memory is constant whatever the number of distinct keys seen. The caller's
// 64-bit key hash is mixed with a per-table random seed and picks two
// candidate buckets ("power of two choices"); a key lives in either. Clients
// cannot aim many keys at one bucket without knowing the seed. The full
// 64-bit hash is stored as the key.
//
// Concurrency: Allow is lock-free and allocation-free. A hit is a scan of 7
// (at most 14) atomic loads, then a CAS loop on the slot's TAT that re-checks
// the key, so an update is not applied to a slot that changed owner
// meanwhile (except in the rare races listed below). A miss claims a slot
// with two CASes on its key: it is reserved under a marker (reserved(k)),
// given up if k turned up elsewhere or was reserved earlier in lookup order
// by another goroutine (yield), then published. Any number of goroutines may
// call Allow concurrently; no goroutine ever waits for another.
//
// Eviction: a new key takes, across its two buckets, the first possible of
//  1. an empty slot;
//  2. a slot whose TAT is not after now: its state equals a fresh one, so
//     reusing it forgives nothing;
//  3. a slot not used since it was inserted (keys seen once, e.g. a flood of
//     one-shot keys), with the smallest TAT: the least debt;
//  4. a used slot with the smallest TAT.
//
// Ties between the two buckets go to the one with fewer used, then fewer
// live, slots, which spreads keys that keep sending evenly. A used slot loses
// its protection only by expiring (2), at most burst/rate after its last
// admitted event, so no sweep is needed.
//
// A key evicted under 3 or 4 is forgiven: its next event starts from a fresh
// state (a full burst). Under 3 that costs at most one extra burst for a key
// that sent once; 4 only happens when both buckets hold 7 keys that are all
// sending and over a fresh state, i.e. when the keys active within one burst
// window approach the capacity. Keys that keep sending stay limited exactly
// while a flood of one-shot keys cycles through the other slots (see
// TestHotKeysSurviveFlood, with 45% of the capacity held by hot keys).
//
// Accepted imprecision, all bounded and rare:
//   - Two distinct keys with equal 64-bit hashes share one limit; with n keys
//     live at once the probability of any such pair is about n²/2⁶⁵
//     (65,536 keys: 1.2e-10). Hash 0 is treated as 1.
//   - A key whose hash equals another key's reserve marker can, for the
//     moment of that insert, be looked up in the reserved slot (as likely as
//     the hash collision above).
//   - A goroutine that read a slot just before it was evicted may charge one
//     event to the new owner (stricter by one interval, never looser).
//
// Unrelated keys sharing a cache line (false sharing) cost speed, not
// correctness.
type Table struct {
	_       noCopy
	p       params
	seed    uint64
	buckets []bucket
	shared  *sharedState // nil: a local limit (see Shared)
}

// TableOptions configures NewTable.
type TableOptions struct {
	// Rate is events per second per key; must be positive and finite.
	Rate float64
	// Burst is events admitted at once from a fresh state; < 1 means 1.
	Burst int
	// MaxKeys bounds the number of keys with state. 0 means DefaultMaxKeys;
	// it is rounded up to a multiple of 7. Negative is an error.
	MaxKeys int
	// Shared keeps, per key, what a Syncer needs to share the limit with
	// other instances (8 more bytes per key). See shared.go.
	Shared bool
}

// NewTable allocates a Table of fixed capacity (about 18.3 bytes per key).
func NewTable(o TableOptions) (*Table, error) {
	p, err := newParams(o.Rate, o.Burst)
	if err != nil {
		return nil, err
	}
	n := o.MaxKeys
	switch {
	case n < 0:
		return nil, fmt.Errorf("ratelimit: max keys must not be negative, got %d", n)
	case n == 0:
		n = DefaultMaxKeys
	}
	nb := (n + ways - 1) / ways
	t := &Table{p: p, seed: rand.Uint64(), buckets: make([]bucket, nb)}
	if o.Shared {
		t.shared = &sharedState{}
		syncs := make([]slotSyncs, nb)
		for i := range t.buckets {
			t.buckets[i].sync = &syncs[i]
		}
	}
	return t, nil
}

// Cap returns the number of key slots; it never changes.
func (t *Table) Cap() int { return len(t.buckets) * ways }

// Len counts occupied slots (O(Cap); for tests and metrics, not the hot path).
func (t *Table) Len() int {
	n := 0
	for i := range t.buckets {
		for j := range ways {
			if t.buckets[i].keys[j].Load() != 0 {
				n++
			}
		}
	}
	return n
}

// Allow decides one event for the key whose 64-bit hash is keyHash at time
// now (ns). See Limiter.Allow for the results.
func (t *Table) Allow(keyHash uint64, now int64) (ok bool, retryAfter time.Duration) {
	k := keyHash
	if k == 0 {
		k = 1
	}
	b1, b2 := t.bucketsOf(k)
	for {
		ok, wait, found := t.lookup(b1, k, now)
		if !found && b2 != b1 {
			ok, wait, found = t.lookup(b2, k, now)
		}
		if found {
			return ok, time.Duration(wait)
		}
		c := victim(b1, now)
		if b2 != b1 {
			if c2 := victim(b2, now); c2.better(c) {
				c = c2
			}
		}
		// Reserve the slot under a marker no lookup of k matches, so that
		// no event is decided on it before it is known to be k's only slot.
		m := reserved(k)
		if c.key == k || c.key == m {
			continue // k was inserted meanwhile (or is being): look again, never reset it
		}
		if !c.b.keys[c.slot].CompareAndSwap(c.key, m) {
			continue // another goroutine took the slot
		}
		// New owner: reset the state (a no-op for a stale or empty slot),
		// and start unused so one-shot keys are evicted first.
		c.b.tats[c.slot].CompareAndSwap(c.tat, 0)
		c.b.ref.And(^(uint64(1) << c.slot))
		if ss := c.b.sync; ss != nil {
			ss.reset(c.slot)
		}
		// Two goroutines that missed k at the same moment may each have
		// reserved a slot: k would get two budgets. The later slot in
		// lookup order gives way to an earlier one (reserved or
		// published), and any slot gives way to a published k.
		if t.yield(b1, b2, c.b, c.slot, k, m) {
			c.b.keys[c.slot].CompareAndSwap(m, 0)
			continue
		}
		if !c.b.keys[c.slot].CompareAndSwap(m, k) {
			continue // evicted while reserved
		}
		if ok, wait, hit := t.allowSlot(c.b, c.slot, k, now); hit {
			return ok, time.Duration(wait)
		}
	}
}

// reserved is the marker a slot holds while it is being claimed for k
// (never 0, never k).
func reserved(k uint64) uint64 { return k ^ (1 << 63) | 1<<62 }

// yield reports whether the slot (b, slot) reserved for k must be given up:
// k is published in another slot of b1 or b2, or reserved in one that comes
// earlier in lookup order (b1's ways, then b2's).
func (t *Table) yield(b1, b2, b *bucket, slot int, k, m uint64) bool {
	own := -1
	pos := 0
	for _, bb := range [2]*bucket{b1, b2} {
		if bb == b1 && pos > 0 {
			break // b2 == b1
		}
		for i := 0; i < ways; i++ {
			if bb == b && i == slot {
				own = pos
			} else if key := bb.keys[i].Load(); key == k || (key == m && own < 0) {
				return true
			}
			pos++
		}
	}
	return false
}

// Peek reports what Allow(keyHash, now) would answer, changing nothing: a
// key without state is fresh (admitted). Lock-free, allocation-free.
func (t *Table) Peek(keyHash uint64, now int64) (ok bool, retryAfter time.Duration) {
	k := keyHash
	if k == 0 {
		k = 1
	}
	b1, b2 := t.bucketsOf(k)
	for _, b := range [2]*bucket{b1, b2} {
		for i := 0; i < ways; i++ {
			if b.keys[i].Load() == k {
				_, ok, wait := t.p.step(b.tats[i].Load(), now)
				return ok, time.Duration(wait)
			}
		}
	}
	return true, 0
}

// bucketsOf mixes the key with the seed (splitmix64 finalizer, a bijection)
// and maps it onto two candidate buckets with multiply-shifts.
func (t *Table) bucketsOf(k uint64) (*bucket, *bucket) {
	x := k ^ t.seed
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	n := uint64(len(t.buckets))
	i1, _ := bits.Mul64(x, n)
	i2, _ := bits.Mul64(bits.RotateLeft64(x, 32), n)
	return &t.buckets[i1], &t.buckets[i2]
}

// lookup runs GCRA for k if bucket b holds it.
func (t *Table) lookup(b *bucket, k uint64, now int64) (ok bool, wait int64, found bool) {
	for i := 0; i < ways; i++ {
		if b.keys[i].Load() != k {
			continue
		}
		if ok, wait, hit := t.allowSlot(b, i, k, now); hit {
			b.touch(i)
			return ok, wait, true
		}
		i = -1 // the slot changed owner meanwhile: rescan
	}
	return false, 0, false
}

// allowSlot runs GCRA on slot i for key k; hit is false when the slot no
// longer holds k.
func (t *Table) allowSlot(b *bucket, i int, k uint64, now int64) (ok bool, wait int64, hit bool) {
	p := t.p
	if ss := b.sync; ss != nil {
		p = p.local(t.shared.share(ss.share[i].Load()))
	}
	for {
		old := b.tats[i].Load()
		if b.keys[i].Load() != k {
			return false, 0, false
		}
		next, ok, wait := p.step(old, now)
		if !ok {
			if ss := b.sync; ss != nil {
				ss.asked(i)
			}
			return false, wait, true
		}
		if b.tats[i].CompareAndSwap(old, next) {
			if ss := b.sync; ss != nil {
				ss.pend[i].Add(1)
			}
			return true, 0, true
		}
	}
}

// touch marks slot i used, writing only when the bit is not yet set.
func (b *bucket) touch(i int) {
	m := uint64(1) << i
	if b.ref.Load()&m == 0 {
		b.ref.Or(m)
	}
}

// Victim classes, best first.
const (
	classEmpty   = iota // never used slot
	classExpired        // TAT not after now: same as fresh state
	classUnused         // live state, not used since inserted or swept
	classUsed           // live state, used
)

// candidate is a slot a new key could take.
type candidate struct {
	b     *bucket
	slot  int
	key   uint64
	tat   int64
	class int
	used  int // used slots in the bucket: fewer leaves more room for hot keys
	live  int // slots with live state in the bucket
}

// better orders candidates: class, then the emptier bucket (two-choice load
// balancing: first by used keys, then by live keys), then the smaller TAT
// (least debt forgiven).
func (c candidate) better(d candidate) bool {
	if c.class != d.class {
		return c.class < d.class
	}
	if c.used != d.used {
		return c.used < d.used
	}
	if c.live != d.live {
		return c.live < d.live
	}
	return c.tat < d.tat
}

// victim picks the slot of b a new key should take; see the Table doc.
func victim(b *bucket, now int64) candidate {
	ref := b.ref.Load() & (1<<ways - 1)
	best := candidate{class: classUsed + 1}
	live := 0
	for i := range ways {
		c := candidate{b: b, slot: i, key: b.keys[i].Load(), tat: b.tats[i].Load()}
		switch {
		case c.key == 0:
			c.class = classEmpty
		case c.tat <= now:
			c.class = classExpired
		case ref>>i&1 == 0:
			c.class = classUnused
			live++
		default:
			c.class = classUsed
			live++
		}
		if c.class < best.class || (c.class == best.class && c.tat < best.tat) {
			best = c
		}
	}
	best.used = bits.OnesCount64(ref)
	best.live = live
	return best
}
