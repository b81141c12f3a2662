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
