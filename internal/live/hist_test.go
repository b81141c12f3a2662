package live

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestBuckets: every duration falls in a bucket whose bounds hold it, and
// buckets are contiguous and at most 25% wide above the linear range.
func TestBuckets(t *testing.T) {
	for i := 0; i < NumBuckets; i++ {
		lo, hi := bounds(i)
		if i > 0 {
			if _, prevHi := bounds(i - 1); prevHi != lo {
				t.Fatalf("bucket %d starts at %v, previous ends at %v", i, lo, prevHi)
			}
		}
		if i >= linear && (hi-lo)/lo > 0.25+1e-9 {
			t.Fatalf("bucket %d [%v,%v) is %.0f%% wide", i, lo, hi, 100*(hi-lo)/lo)
		}
	}
	for _, us := range []int64{0, 1, 15, 16, 17, 19, 20, 31, 32, 1000, 1023, 1024, 999_999, 1 << 26, 1<<27 - 1} {
		i := bucketOf(time.Duration(us) * time.Microsecond)
		lo, hi := bounds(i)
		if float64(us) < lo || float64(us) >= hi {
			t.Errorf("%dµs in bucket %d [%v,%v)", us, i, lo, hi)
		}
	}
	if i := bucketOf(time.Hour); i != NumBuckets-1 {
		t.Errorf("1h in bucket %d, want the last", i)
	}
	if i := bucketOf(-time.Second); i != 0 {
		t.Errorf("negative in bucket %d, want 0", i)
	}
}

// TestQuantileAccuracy: p50 and p99 of log-normal latencies are within 13%
// of the exact values.
func TestQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Hist
	xs := make([]float64, 200000)
	for i := range xs {
		d := time.Duration(math.Exp(r.NormFloat64()*1.2 + math.Log(3e6))) // around 3ms
		xs[i] = float64(d) / 1e6
		h.Observe(d)
	}
	sort.Float64s(xs)
	var c Counts
	h.Load(&c)
	for _, q := range []float64{0.5, 0.99} {
		exact := xs[int(q*float64(len(xs)))-1]
		got := c.Quantile(q)
		if math.Abs(got-exact)/exact > 0.13 {
			t.Errorf("p%v = %.3fms, exact %.3fms", q*100, got, exact)
		}
		t.Logf("p%v = %.3fms (exact %.3fms)", q*100, got, exact)
	}
	var empty Counts
	if empty.Quantile(0.99) != 0 {
		t.Error("quantile of nothing must be 0")
	}
}

// TestWindowForgets: a Window covers exactly the last WindowSlots samples.
func TestWindowForgets(t *testing.T) {
	var h Hist
	var w Window
	for range 100 {
		h.Observe(100 * time.Millisecond) // slow requests for a while
	}
	w.Advance(&h)
	if p := w.Sum().Quantile(0.5); p < 80 || p > 120 {
		t.Fatalf("p50 = %vms, want about 100", p)
	}
	for s := 1; s < WindowSlots; s++ {
		h.Observe(time.Millisecond)
		w.Advance(&h)
	}
	if n := w.Sum().Total(); n != 100+WindowSlots-1 {
		t.Fatalf("window holds %d, want %d", n, 100+WindowSlots-1)
	}
	h.Observe(time.Millisecond)
	w.Advance(&h) // the slow sample falls out
	if n := w.Sum().Total(); n != WindowSlots {
		t.Fatalf("window holds %d, want %d", n, WindowSlots)
	}
	if p := w.Sum().Quantile(0.99); p > 1.3 {
		t.Fatalf("p99 = %vms after the slow minute passed, want about 1", p)
	}
}
