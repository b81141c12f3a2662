package live

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: durations in microseconds; 0..15µs get one bucket per
// microsecond, then every power of two is split in 4 (a bucket is at most
// 25% wide, so an interpolated percentile is within about 12%), up to
// 2^27µs (134 s); longer durations count in the last bucket.
const (
	linear     = 16
	subBits    = 2
	subBuckets = 1 << subBits
	maxOctave  = 26
	// NumBuckets is the number of buckets of a Hist.
	NumBuckets = linear + (maxOctave-3)*subBuckets
)

// Counts are the bucket counts of a Hist (or their sum over a window).
type Counts [NumBuckets]uint64

// Hist is a lock-free latency histogram. Observe is one atomic add,
// allocation-free and safe for concurrent use; Load reads the counts (never
// reset: a Window turns them into last-minute deltas). The zero value is
// ready; a Hist must not be copied after first use.
type Hist struct {
	_ noCopy
	b [NumBuckets]atomic.Uint64
}

// bucketOf returns the bucket index of d (negative counts as 0).
func bucketOf(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < linear {
		return int(us)
	}
	o := bits.Len64(us) - 1 // >= 4
	if o > maxOctave {
		return NumBuckets - 1
	}
	sub := int(us>>(o-subBits)) & (subBuckets - 1)
	return linear + (o-4)*subBuckets + sub
}

// bounds returns the lower and upper limits of bucket i in microseconds.
func bounds(i int) (lo, hi float64) {
	if i < linear {
		return float64(i), float64(i + 1)
	}
	o := (i-linear)/subBuckets + 4
	sub := (i - linear) % subBuckets
	w := float64(uint64(1) << (o - subBits))
	lo = float64(uint64(subBuckets+sub) << (o - subBits))
	return lo, lo + w
}

// Observe counts one duration.
func (h *Hist) Observe(d time.Duration) { h.b[bucketOf(d)].Add(1) }

// Load copies the current counts into dst.
func (h *Hist) Load(dst *Counts) {
	for i := range h.b {
		dst[i] = h.b[i].Load()
	}
}

// Quantile returns the q-quantile (0 < q <= 1) of the counts c in
// milliseconds, interpolated linearly inside its bucket; 0 when c is empty.
func (c *Counts) Quantile(q float64) float64 {
	var total uint64
	for _, n := range c {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range c {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			lo, hi := bounds(i)
			f := (rank - cum) / float64(n)
			return (lo + f*(hi-lo)) / 1000
		}
		cum += float64(n)
	}
	_, hi := bounds(NumBuckets - 1)
	return hi / 1000
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	for i, n := range o {
		c[i] += n
	}
}

// Total is the number of observations in c.
func (c *Counts) Total() uint64 {
	var t uint64
	for _, n := range c {
		t += n
	}
	return t
}

// WindowSlots is the length of a Window in samples (one a second: a minute).
const WindowSlots = 60

// Window turns the ever-growing counts of one Hist into the counts of the
// last WindowSlots samples: a ring of per-sample deltas (sparse: only the
// buckets that moved) and their running sum. It belongs to one goroutine
// (the sampler); not safe for concurrent use.
type Window struct {
	prev Counts
	sum  Counts
	ring [WindowSlots][]delta
	pos  int
}

type delta struct {
	i uint8
	n uint32
}

// Advance takes one sample: it reads h, records what changed since the last
// sample, and forgets the sample that fell out of the window.
func (w *Window) Advance(h *Hist) {
	old := w.ring[w.pos]
	for _, d := range old {
		w.sum[d.i] -= uint64(d.n)
	}
	nu := old[:0]
	for i := range h.b {
		cur := h.b[i].Load()
		if n := cur - w.prev[i]; n > 0 {
			n = min(n, 1<<32-1)
			nu = append(nu, delta{uint8(i), uint32(n)})
			w.sum[i] += n
			w.prev[i] = cur
		}
	}
	w.ring[w.pos] = nu
	w.pos = (w.pos + 1) % WindowSlots
}

// Sum returns the counts of the window (the caller must not modify them).
func (w *Window) Sum() *Counts { return &w.sum }

// noCopy makes go vet report copies.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
