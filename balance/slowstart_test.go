package balance

import (
	"math"
	"testing"
	"time"
)

// shareRatio picks n times (released at once) and returns picks(ramp) /
// picks(full).
func shareRatio(t *testing.T, b *Balancer, ss []*Server, full, ramp, n int) float64 {
	t.Helper()
	counts := make([]int, len(ss))
	for range n {
		i := pickRelease(t, b, 0, ss)
		if i < 0 {
			t.Fatal("Pick = nil")
		}
		counts[i]++
	}
	return float64(counts[ramp]) / float64(counts[full])
}

func TestSlowStartRamp(t *testing.T) {
	const S = 10 * time.Second
	t0 := time.Unix(1_000_000, 0)
	for _, a := range []Algorithm{RoundRobin, WeightedRoundRobin, LeastConnections} {
		t.Run(a.String(), func(t *testing.T) {
			ss := mkServers(4, 4)
			b := New(Options{Algorithm: a, SlowStart: S}, ss)
			b.Tick(t0)
			if r := shareRatio(t, b, ss, 0, 1, 2000); r != 1 {
				t.Fatalf("servers given to New must not ramp: ratio %.3f", r)
			}
			ss[1].SetActiveUp(false)
			ss[1].SetActiveUp(true) // recovered: ramp starts at the next Tick
			for _, step := range []struct {
				at   time.Duration
				want float64
			}{{0, 0.10}, {S / 2, 0.55}, {S, 1.0}} {
				b.Tick(t0.Add(time.Second + step.at))
				r := shareRatio(t, b, ss, 0, 1, 4400)
				if math.Abs(r-step.want) > 0.02 {
					t.Errorf("at %v: share ratio %.3f, want %.2f±0.02", step.at, r, step.want)
				}
				t.Logf("%v of the %v window: recovering/full share ratio %.3f (want %.2f)", step.at, S, r, step.want)
			}
			// Ramp over: Tick no longer rebuilds.
			st := b.cur.Load()
			b.Tick(t0.Add(time.Minute))
			if b.cur.Load() != st || b.ramping.Load() {
				t.Fatal("Tick rebuilt the Set after the ramp ended")
			}
			assertZero(t, b, ss)
		})
	}
}

func TestSlowStartNewServerByUpdate(t *testing.T) {
	const S = 4 * time.Second
	t0 := time.Unix(5000, 0)
	ss := mkServers(1, 1)
	b := New(Options{Algorithm: RoundRobin, SlowStart: S}, ss[:1])
	b.Update(Options{Algorithm: RoundRobin, SlowStart: S}, ss)
	if !b.ramping.Load() {
		t.Fatal("a server added by Update must ramp")
	}
	b.Tick(t0)
	if r := shareRatio(t, b, ss, 0, 1, 2200); math.Abs(r-0.1) > 0.02 {
		t.Fatalf("new server share ratio %.3f, want 0.10", r)
	}
	// Draining stops the ramp; undraining starts a new one.
	ss[1].SetDraining(true)
	b.Tick(t0.Add(S / 2))
	ss[1].SetDraining(false)
	b.Tick(t0.Add(S))
	if r := shareRatio(t, b, ss, 0, 1, 2200); math.Abs(r-0.1) > 0.02 {
		t.Fatalf("undrained server share ratio %.3f, want 0.10 (fresh ramp)", r)
	}
	b.Tick(t0.Add(2 * S))
	if r := shareRatio(t, b, ss, 0, 1, 2000); r != 1 || b.ramping.Load() {
		t.Fatalf("after the ramp: ratio %.3f ramping %v", r, b.ramping.Load())
	}
}

func TestSlowStartLeastConnectionsLoaded(t *testing.T) {
	// With connections held, least_connections compares Active()/weight:
	// a server at 10% of its weight fills to about 1/10 of the others.
	const S = 10 * time.Second
	t0 := time.Unix(1, 0)
	ss := mkServers(1, 1)
	b := New(Options{Algorithm: LeastConnections, SlowStart: S}, ss)
	ss[1].SetEnabled(false)
	ss[1].SetEnabled(true)
	b.Tick(t0)
	for range 220 {
		if b.Pick(0, nil) == nil {
			t.Fatal("Pick = nil")
		}
	}
	if a0, a1 := ss[0].Active(), ss[1].Active(); a0 != 200 || a1 != 20 {
		t.Fatalf("held connections %d/%d, want 200/20", a0, a1)
	}
	for _, s := range ss {
		for s.Active() > 0 {
			s.Release()
		}
	}
	assertZero(t, b, ss)
}

func TestSlowStartIPHashDoesNotRamp(t *testing.T) {
	ss := mkServers(1, 1)
	b := New(Options{Algorithm: IPHash, SlowStart: time.Second}, ss)
	ss[0].SetActiveUp(false)
	ss[0].SetActiveUp(true)
	if b.ramping.Load() {
		t.Fatal("ip_hash must not ramp")
	}
}
