package balance

import (
	"math"
	"math/rand/v2"
	"testing"
)

// skewedKey returns a key: 80% of the time one of 3 hot keys, else a random
// one of 10,000.
func skewedKey(r *rand.Rand, keys []uint64) uint64 {
	if r.IntN(10) < 8 {
		return keys[r.IntN(3)]
	}
	return keys[3+r.IntN(len(keys)-3)]
}

func boundOf(factor float64, total int64, n int) int64 {
	return int64(math.Ceil(factor * float64(total) / float64(n)))
}

func TestBoundedLoads(t *testing.T) {
	const n, factor = 5, 1.25
	keys := testKeys(10003)
	ss := mkServers(equalWeights(n)...)
	b := New(Options{Algorithm: IPHash, HashBalanceFactor: factor}, ss)
	r := rand.New(rand.NewPCG(7, 11))
	var held []*Server
	check := func(step int) int64 {
		t.Helper()
		var total int64
		for _, s := range ss {
			total += s.Active()
		}
		if total != b.Active() || total != int64(len(held)) {
			t.Fatalf("step %d: Σ Active() = %d, Balancer.Active() = %d, held %d", step, total, b.Active(), len(held))
		}
		return total
	}
	// Growing: every server stays within ceil(factor × average) at all times.
	for step := range 2000 {
		s := b.Pick(skewedKey(r, keys), nil)
		if s == nil {
			t.Fatalf("step %d: Pick = nil", step)
		}
		held = append(held, s)
		total := check(step)
		bound := boundOf(factor, total, n)
		for i, x := range ss {
			if x.Active() > bound {
				t.Fatalf("step %d: server %d Active() = %d > ceil(%.2f × %d / %d) = %d", step, i, x.Active(), factor, total, n, bound)
			}
		}
	}
	// Churn: releases and picks mixed. Releases lower the average, so the
	// guarantee is per placement: the chosen server is within the bound
	// right after the Pick.
	for step := range 20000 {
		if len(held) > 0 && r.IntN(10) < 5 {
			j := r.IntN(len(held))
			held[j].Release()
			held[j] = held[len(held)-1]
			held = held[:len(held)-1]
			continue
		}
		s := b.Pick(skewedKey(r, keys), nil)
		if s == nil {
			t.Fatalf("churn %d: Pick = nil", step)
		}
		held = append(held, s)
		total := check(step)
		if bound := boundOf(factor, total, n); s.Active() > bound {
			t.Fatalf("churn %d: picked server has Active() = %d > bound %d", step, s.Active(), bound)
		}
	}
	for _, s := range held {
		s.Release()
	}
	held = nil
	assertZero(t, b, ss)

	// Control: without the bound the hot keys overload their servers.
	b2 := New(Options{Algorithm: IPHash}, ss)
	for range 2000 {
		held = append(held, b2.Pick(skewedKey(r, keys), nil))
	}
	worst := int64(0)
	for _, s := range ss {
		worst = max(worst, s.Active())
	}
	if worst <= boundOf(factor, 2000, n) {
		t.Fatalf("control: busiest server %d is within the bound %d; the skew does not test anything", worst, boundOf(factor, 2000, n))
	}
	t.Logf("2000 held, skewed keys: busiest server %d unbounded, bound %d with factor %.2f", worst, boundOf(factor, 2000, n), factor)
	for _, s := range held {
		s.Release()
	}
	assertZero(t, b2, ss)
}

// TestBoundedLoadsKeepsAffinityWhenIdle: below the bound a key keeps its
// consistent-hash server.
func TestBoundedLoadsKeepsAffinityWhenIdle(t *testing.T) {
	ss := mkServers(equalWeights(5)...)
	plain := New(Options{Algorithm: IPHash}, ss)
	keys := testKeys(2000)
	want := mapKeys(t, plain, keys)
	bounded := New(Options{Algorithm: IPHash, HashBalanceFactor: 1.25}, ss)
	if m := moved(want, mapKeys(t, bounded, keys)); m != 0 {
		t.Fatalf("%d keys moved with bounded loads and no load", m)
	}
}

// TestBoundedLoadsZipf holds 5,000 connections whose keys follow a Zipf
// distribution (s=1.5 over 10,000 client addresses: the hottest client alone
// opens about 38% of the connections) and checks after every Pick that EVERY
// server's Active() is within ceil(factor × total / n).
func TestBoundedLoadsZipf(t *testing.T) {
	for _, tc := range []struct {
		n      int
		factor float64
	}{{4, 1.25}, {8, 1.25}, {5, 1.5}} {
		keys := testKeys(10000)
		ss := mkServers(equalWeights(tc.n)...)
		b := New(Options{Algorithm: IPHash, HashBalanceFactor: tc.factor}, ss)
		r := rand.New(rand.NewPCG(3, uint64(tc.n)))
		z := rand.NewZipf(r, 1.5, 1, uint64(len(keys)-1))
		var held []*Server
		worstRatio := 0.0
		for step := range 5000 {
			s := b.Pick(keys[z.Uint64()], nil)
			if s == nil {
				t.Fatalf("n=%d step %d: Pick = nil", tc.n, step)
			}
			held = append(held, s)
			total := int64(len(held))
			bound := boundOf(tc.factor, total, tc.n)
			for i, x := range ss {
				if x.Active() > bound {
					t.Fatalf("n=%d step %d: server %d Active() = %d > bound %d", tc.n, step, i, x.Active(), bound)
				}
			}
			if total >= 100 {
				for _, x := range ss {
					worstRatio = max(worstRatio, float64(x.Active())/float64(bound))
				}
			}
		}
		busiest := int64(0)
		for _, x := range ss {
			busiest = max(busiest, x.Active())
		}
		t.Logf("zipf n=%d factor %.2f: 5000 held, busiest server %d, bound %d (worst Active/bound after 100 held: %.3f)",
			tc.n, tc.factor, busiest, boundOf(tc.factor, 5000, tc.n), worstRatio)
		for _, s := range held {
			s.Release()
		}
		assertZero(t, b, ss)

		// Control: the same keys without the bound overload a server.
		b2 := New(Options{Algorithm: IPHash}, ss)
		z = rand.NewZipf(rand.New(rand.NewPCG(3, uint64(tc.n))), 1.5, 1, uint64(len(keys)-1))
		held = held[:0]
		for range 5000 {
			held = append(held, b2.Pick(keys[z.Uint64()], nil))
		}
		busiest = 0
		for _, x := range ss {
			busiest = max(busiest, x.Active())
		}
		if busiest <= boundOf(tc.factor, 5000, tc.n) {
			t.Fatalf("control n=%d: busiest %d within the bound: the skew tests nothing", tc.n, busiest)
		}
		t.Logf("zipf n=%d without bound: busiest server %d", tc.n, busiest)
		for _, s := range held {
			s.Release()
		}
		assertZero(t, b2, ss)
	}
}

// TestBoundedLoadsSpillAndReturn: a key whose server is full goes to the next
// server of its probe sequence — the same one it would fail over to if its
// server were down — and returns to its own server when the load falls.
func TestBoundedLoadsSpillAndReturn(t *testing.T) {
	const n = 4
	keys := testKeys(12)
	for ki, k := range keys {
		// Reference mapping on separate servers with the same addresses
		// (the Maglev table depends on addresses only).
		ref := mkServers(equalWeights(n)...)
		rb := New(Options{Algorithm: IPHash}, ref)
		home := pickRelease(t, rb, k, ref)
		ref[home].SetActiveUp(false)
		next := pickRelease(t, rb, k, ref)

		ss := mkServers(equalWeights(n)...)
		b := New(Options{Algorithm: IPHash, HashBalanceFactor: 1.25}, ss)
		first := b.Pick(k, nil) // total 0: cap ceil(1.25 × 1/4) = 1
		if got := indexOf(t, ss, first); got != home {
			t.Fatalf("key %d: first pick %d, home %d", ki, got, home)
		}
		second := b.Pick(k, nil) // home at its cap ceil(1.25 × 2/4) = 1
		if got := indexOf(t, ss, second); got != next {
			t.Fatalf("key %d: with home full the key went to %d, want %d (its next candidate)", ki, got, next)
		}
		second.Release()
		if got := pickRelease(t, b, k, ss); got != next {
			t.Fatalf("key %d: home still full, got %d want %d", ki, got, next)
		}
		first.Release() // load falls: the key returns home
		if got := pickRelease(t, b, k, ss); got != home {
			t.Fatalf("key %d: after the load fell, got %d want home %d", ki, got, home)
		}
		assertZero(t, b, ss)
	}
}
