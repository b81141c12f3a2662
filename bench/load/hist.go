// Package load owns Sluice's benchmark load drivers: an HTTP/1.1 driver over raw TCP
// (keep-alive or a new connection per request), an L4 request/response driver, an L4 bulk
// throughput driver, a wrk runner with an output parser, and the log-linear latency
// histogram they record into.
package load

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram precision: 2^(subBits-1) buckets per power of two, so a
// recorded value is off by at most 1/128 (0.8 %) of itself.
const (
	subBits  = 8
	subCount = 1 << subBits // values below this are exact
	subHalf  = subCount / 2
	nBuckets = subCount + (64-subBits)*subHalf
)

// Histogram is an HDR-like log-linear histogram of non-negative int64 values
// (nanoseconds here). Record is O(1) and allocation-free. A Histogram is not safe for
// concurrent use: give each worker its own and Merge them at the end. The zero value is
// not usable; call NewHistogram.
type Histogram struct {
	counts   []int64
	n        int64
	sum      float64
	min, max int64
}

// NewHistogram returns an empty histogram (about 60 KiB).
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]int64, nBuckets), min: math.MaxInt64}
}

func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits // >= 1
	m := int(v >> uint(e))               // in [subHalf, subCount)
	return subCount + (e-1)*subHalf + (m - subHalf)
}

// bucketRange returns the smallest and largest value that fall into bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	i -= subCount
	e := i/subHalf + 1
	m := int64(i%subHalf + subHalf)
	return m << uint(e), (m+1)<<uint(e) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// RecordDuration adds d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() int64 { return h.n }

// Mean is the exact mean of the recorded values (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Min and Max are exact (0 when empty).
func (h *Histogram) Min() int64 {
	if h.n == 0 {
		return 0
	}
	return h.min
}

// Max is the largest recorded value (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Quantile returns the value at quantile q (0..1): the middle of the bucket holding the
// ceil(q*Count())-th smallest value, clamped to [Min, Max]. It is 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := int64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// QuantileDuration is Quantile as a time.Duration.
func (h *Histogram) QuantileDuration(q float64) time.Duration { return time.Duration(h.Quantile(q)) }
