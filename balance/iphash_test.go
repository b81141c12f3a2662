package balance

import (
	"math"
	"net/netip"
	"testing"
)

// mapKeys returns the address each key is picked for (connections released).
func mapKeys(t *testing.T, b *Balancer, keys []uint64) []string {
	t.Helper()
	out := make([]string, len(keys))
	for i, k := range keys {
		s := b.Pick(k, nil)
		if s == nil {
			t.Fatalf("key %d: Pick = nil", i)
		}
		s.Release()
		out[i] = s.Addr()
	}
	return out
}

func moved(a, b []string) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestKeyIP(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	if KeyIP(v4) != KeyIP(netip.MustParseAddr("::ffff:192.0.2.7")) {
		t.Fatal("IPv4 and its IPv4-mapped form must give the same key")
	}
	if KeyIP(v4) == KeyIP(netip.MustParseAddr("192.0.2.8")) {
		t.Fatal("different addresses gave the same key")
	}
	if KeyIP(v4) != KeyIP(v4) || KeyIP(netip.Addr{}) != KeyIP(netip.IPv6Unspecified()) {
		t.Fatal("KeyIP not deterministic")
	}
}

func TestIPHashStable(t *testing.T) {
	ss := mkServers(equalWeights(5)...)
	b := New(Options{Algorithm: IPHash}, ss)
	keys := testKeys(1000)
	first := mapKeys(t, b, keys)
	for range 3 {
		if n := moved(first, mapKeys(t, b, keys)); n != 0 {
			t.Fatalf("%d keys changed server between identical lookups", n)
		}
	}
	counts := map[string]int{}
	for _, a := range first {
		counts[a]++
	}
	if len(counts) != 5 {
		t.Fatalf("1000 keys reached %d of 5 servers", len(counts))
	}
	assertZero(t, b, ss)
}

func TestIPHashAddRemoveMovesOneNth(t *testing.T) {
	keys := testKeys(100000)
	for _, n := range []int{5, 10} {
		all := mkServers(equalWeights(n + 1)...)
		b := New(Options{Algorithm: IPHash}, all[:n])
		before := mapKeys(t, b, keys)

		b.Update(Options{Algorithm: IPHash}, all) // add one
		added := mapKeys(t, b, keys)
		if m, limit := moved(before, added), 1.2*float64(len(keys))/float64(n); float64(m) > limit {
			t.Errorf("N=%d: adding one server moved %d keys, limit %.0f", n, m, limit)
		} else {
			t.Logf("N=%d: adding one server moved %d of %d keys (1/(N+1) = %.0f)", n, m, len(keys), float64(len(keys))/float64(n+1))
		}
		// Maglev is near-minimal: only a sliver of keys moves between old
		// servers (the paper's small extra disruption).
		stray := 0
		for i := range keys {
			if added[i] != before[i] && added[i] != all[n].Addr() {
				stray++
			}
		}
		if stray > len(keys)/100 {
			t.Errorf("N=%d: adding a server moved %d keys between old servers, want < 1%%", n, stray)
		}

		b.Update(Options{Algorithm: IPHash}, append(append([]*Server{}, all[:2]...), all[3:n]...)) // remove one
		removed := mapKeys(t, b, keys)
		if m, limit := moved(before, removed), 1.2*float64(len(keys))/float64(n); float64(m) > limit {
			t.Errorf("N=%d: removing one server moved %d keys, limit %.0f", n, m, limit)
		} else {
			t.Logf("N=%d: removing one server moved %d of %d keys (1/N = %.0f)", n, m, len(keys), float64(len(keys))/float64(n))
		}
		assertZero(t, b, all)
	}
}

func TestIPHashFailoverMovesOnlyFailedKeys(t *testing.T) {
	keys := testKeys(100000)
	for _, n := range []int{5, 10} {
		ss := mkServers(equalWeights(n)...)
		b := New(Options{Algorithm: IPHash}, ss)
		before := mapKeys(t, b, keys)
		down := ss[n/2]
		down.SetActiveUp(false)
		during := mapKeys(t, b, keys)
		onDown := 0
		for i := range keys {
			switch {
			case before[i] == down.Addr():
				onDown++
				if during[i] == down.Addr() {
					t.Fatalf("N=%d: key still on the down server", n)
				}
			case during[i] != before[i]:
				t.Fatalf("N=%d: key %d moved from %s to %s though its server is up", n, i, before[i], during[i])
			}
		}
		if share := float64(onDown) / float64(len(keys)); math.Abs(share-1/float64(n)) > 0.2/float64(n) {
			t.Errorf("N=%d: down server held %.3f of keys, want about %.3f", n, share, 1/float64(n))
		}
		// The failed server's keys spread over the others, not onto one.
		spread := map[string]int{}
		for i := range keys {
			if before[i] == down.Addr() {
				spread[during[i]]++
			}
		}
		if len(spread) != n-1 {
			t.Errorf("N=%d: the down server's keys went to %d servers, want %d", n, len(spread), n-1)
		}
		down.SetActiveUp(true)
		if m := moved(before, mapKeys(t, b, keys)); m != 0 {
			t.Fatalf("N=%d: %d keys did not return after recovery", n, m)
		}
		assertZero(t, b, ss)
	}
}

func TestIPHashWeights(t *testing.T) {
	ss := mkServers(1, 2, 5)
	b := New(Options{Algorithm: IPHash}, ss)
	keys := testKeys(80000)
	counts := map[string]int{}
	for _, a := range mapKeys(t, b, keys) {
		counts[a]++
	}
	for i, w := range []int{1, 2, 5} {
		want := float64(len(keys)) * float64(w) / 8
		if got := float64(counts[ss[i].Addr()]); math.Abs(got-want) > 0.05*want {
			t.Errorf("weight %d: %v keys, want %.0f ±5%%", w, got, want)
		}
	}
}

func TestMaglevTable(t *testing.T) {
	if buildMaglev([]string{"a", "b"}, []int64{0, 0}) != nil {
		t.Fatal("all weights 0 must give no table")
	}
	m := buildMaglev([]string{"a", "b", "c"}, []int64{2, 2, 2})
	if m.m != 65537 || len(m.table) != 65537 {
		t.Fatalf("M = %d", m.m)
	}
	counts := [3]int{}
	for _, i := range m.table {
		counts[i]++
	}
	for i, c := range counts {
		if c < 65537/3-1 || c > 65537/3+1 {
			t.Errorf("server %d owns %d slots, want %d±1", i, c, 65537/3)
		}
	}
	big := make([]int64, 10)
	for i := range big {
		big[i] = 256
	}
	names := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	big[0] = 255 // gcd 1: 2559 turns per round → the larger table
	if m := buildMaglev(names, big); m.m != 655373 {
		t.Fatalf("Σweight 2559: M = %d, want 655373", m.m)
	}
}
