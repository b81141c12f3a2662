//go:build !race

package balance

import (
	"net/netip"
	"testing"
	"time"
)

// benchCases are the balancers the allocation tests and benchmarks cover.
func benchCases() []struct {
	name string
	opts Options
} {
	return []struct {
		name string
		opts Options
	}{
		{"round_robin", Options{Algorithm: RoundRobin}},
		{"weighted_round_robin", Options{Algorithm: WeightedRoundRobin}},
		{"least_connections", Options{Algorithm: LeastConnections}},
		{"ip_hash", Options{Algorithm: IPHash}},
		{"ip_hash_bounded", Options{Algorithm: IPHash, HashBalanceFactor: 1.25}},
		{"weighted_round_robin_maxconns", Options{Algorithm: WeightedRoundRobin, MaxConnsPerServer: 1 << 20}},
	}
}

func TestPickAllocs(t *testing.T) {
	for _, c := range benchCases() {
		ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		b := New(c.opts, ss)
		degrade(ss) // exercise the skip paths too
		keys := testKeys(64)
		i := 0
		n := testing.AllocsPerRun(2000, func() {
			var tr Tried
			s := b.Pick(keys[i%len(keys)], &tr)
			i++
			s2 := b.Pick(keys[i%len(keys)], &tr) // a retry
			s.Release()
			s2.Release()
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per Pick+retry+Release, want 0", c.name, n)
		}
	}
}

// degrade makes 4 of 10 servers unpickable in different ways: active down,
// passively ejected, draining, and half-open with its trial taken.
func degrade(ss []*Server) {
	ss[3].SetActiveUp(false)
	ss[5].SetPassiveUp(false)
	ss[7].SetDraining(true)
	ss[8].SetPassiveUp(false)
	ss[8].SetPassiveHalfOpen()
	ss[8].acquire(0) // the trial is out
}

func TestPickAllocsSlowStart(t *testing.T) {
	ss := mkServers(1, 1, 1)
	b := New(Options{Algorithm: LeastConnections, SlowStart: time.Second}, ss)
	ss[0].SetActiveUp(false)
	ss[0].SetActiveUp(true)
	b.Tick(time.Unix(1, 0))
	if n := testing.AllocsPerRun(1000, func() { b.Pick(0, nil).Release() }); n != 0 {
		t.Errorf("%v allocs while ramping, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { b.Tick(time.Unix(100, 0)) }); n != 0 {
		t.Errorf("Tick with no ramp: %v allocs, want 0", n) // the warm-up call ends the ramp
	}
}

func TestKeyAllocs(t *testing.T) {
	ip := netip.MustParseAddr("2001:db8::1")
	var sink uint64
	if n := testing.AllocsPerRun(1000, func() { sink += KeyIP(ip) + KeyBytes([]byte("user-42")) }); n != 0 {
		t.Errorf("KeyIP/KeyBytes: %v allocs, want 0", n)
	}
	_ = sink
}

func BenchmarkPick(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
			bl := New(c.opts, ss)
			keys := testKeys(1024)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var tr Tried
				bl.Pick(keys[i&1023], &tr).Release()
				i++
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
			bl := New(c.opts, ss)
			keys := testKeys(1024)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					var tr Tried
					bl.Pick(keys[i&1023], &tr).Release()
					i++
				}
			})
		})
	}
}

// BenchmarkPickDegraded is BenchmarkPickParallel with 4 of 10 servers
// unpickable (see degrade): the cost of skipping them.
func BenchmarkPickDegraded(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
			bl := New(c.opts, ss)
			degrade(ss)
			keys := testKeys(1024)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					var tr Tried
					bl.Pick(keys[i&1023], &tr).Release()
					i++
				}
			})
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
		n, w int
	}{
		{"weighted_round_robin_10x10", Options{Algorithm: WeightedRoundRobin}, 10, 10},
		{"weighted_round_robin_256x256", Options{Algorithm: WeightedRoundRobin}, 256, 256},
		{"ip_hash_10", Options{Algorithm: IPHash}, 10, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := make([]int, c.n)
			for i := range w {
				w[i] = c.w - i%2 // break the common divisor
			}
			ss := mkServers(w...)
			bl := New(c.opts, ss)
			b.ReportAllocs()
			for b.Loop() {
				bl.Update(c.opts, ss[:c.n-1]) // new list: Maglev rebuilt too
				bl.Update(c.opts, ss)
			}
		})
	}
}

func TestPeekAllocs(t *testing.T) {
	for _, c := range benchCases() {
		ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		b := New(c.opts, ss)
		degrade(ss)
		keys := testKeys(64)
		i := 0
		if n := testing.AllocsPerRun(2000, func() { _ = b.Peek(keys[i%len(keys)], nil); i++ }); n != 0 {
			t.Errorf("%s: %v allocs per Peek, want 0", c.name, n)
		}
	}
}

func TestPickPreferredAllocs(t *testing.T) {
	for _, c := range benchCases() {
		ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		b := New(c.opts, ss)
		degrade(ss)
		i := 0
		n := testing.AllocsPerRun(2000, func() {
			var tr Tried
			s, _ := b.PickPreferred(ss[i%len(ss)], uint64(i), &tr) // some preferred servers are out
			i++
			s.Release()
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per PickPreferred+Release, want 0", c.name, n)
		}
	}
}
