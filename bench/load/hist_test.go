package load

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func within(got, want int64, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)+1
}

func TestHistogramUniform(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 100_000; v++ {
		h.Record(v * 1000) // 1µs .. 100ms in ns
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 50_000_000}, {0.9, 90_000_000}, {0.99, 99_000_000}, {0.999, 99_900_000}, {1, 100_000_000}} {
		if got := h.Quantile(c.q); !within(got, c.want, 0.008) {
			t.Errorf("Quantile(%v)=%d, want %d ±0.8%%", c.q, got, c.want)
		}
	}
	if h.Count() != 100_000 || h.Min() != 1000 || h.Max() != 100_000_000 {
		t.Fatalf("count/min/max = %d/%d/%d", h.Count(), h.Min(), h.Max())
	}
	if m := h.Mean(); math.Abs(m-50_000_500) > 1 {
		t.Fatalf("Mean=%v", m)
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	h := NewHistogram()
	for _, v := range []int64{5, 1, 3, 2, 4, -7} {
		h.Record(v)
	}
	// sorted: 0 1 2 3 4 5
	for q, want := range map[float64]int64{0: 0, 0.5: 2, 0.67: 4, 1: 5} {
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v)=%d, want %d", q, got, want)
		}
	}
	if NewHistogram().Quantile(0.5) != 0 {
		t.Fatal("empty histogram quantile should be 0")
	}
}

func TestHistogramMatchesSortedRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a, b := NewHistogram(), NewHistogram()
	var all []int64
	for i := 0; i < 50_000; i++ {
		v := int64(r.ExpFloat64() * 2e6) // long-tailed, ~2ms mean
		all = append(all, v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := all[int(math.Ceil(q*float64(len(all))))-1]
		if got := a.Quantile(q); !within(got, want, 0.008) {
			t.Errorf("Quantile(%v)=%d, exact %d", q, got, want)
		}
	}
}

func TestBucketRangeRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		lo, hi := bucketRange(bucketOf(v))
		if v < lo || v > hi {
			t.Fatalf("%d not in its bucket [%d,%d]", v, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(v)/128 {
			t.Fatalf("bucket of %d too wide: [%d,%d]", v, lo, hi)
		}
	}
}
