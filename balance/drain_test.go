package balance

import "testing"

// holdPicks picks n times and keeps every connection open.
func holdPicks(t *testing.T, b *Balancer, n int) []*Server {
	t.Helper()
	held := make([]*Server, 0, n)
	for k := range n {
		s := b.Pick(uint64(k)*0x9e3779b97f4a7c15, nil)
		if s == nil {
			t.Fatalf("pick %d: nil", k)
		}
		held = append(held, s)
	}
	return held
}

// TestDraining: a draining server (SetDraining, or removed by Update) gets
// no new picks under any algorithm; its Active() falls to 0 exactly as its
// callers Release, and the Balancer's total follows.
func TestDraining(t *testing.T) {
	for _, a := range allAlgorithms {
		for _, how := range []string{"SetDraining", "removed by Update"} {
			t.Run(a.String()+"/"+how, func(t *testing.T) {
				ss := mkServers(1, 1, 1)
				opts := Options{Algorithm: a}
				b := New(opts, ss)
				held := holdPicks(t, b, 300)
				d := ss[1]
				var onD []*Server
				rest := held[:0]
				for _, s := range held {
					if s == d {
						onD = append(onD, s)
					} else {
						rest = append(rest, s)
					}
				}
				if len(onD) == 0 || d.Active() != int64(len(onD)) {
					t.Fatalf("server 1 holds %d connections, Active() = %d", len(onD), d.Active())
				}
				if how == "SetDraining" {
					d.SetDraining(true)
				} else {
					b.Update(opts, []*Server{ss[0], ss[2]})
				}
				for k := range 1000 {
					s := b.Pick(uint64(k)*0x9e3779b97f4a7c15+7, nil)
					if s == nil || s == d {
						t.Fatalf("pick %d while draining: %v", k, s)
					}
					s.Release()
				}
				if b.Active() != 300 {
					t.Fatalf("Balancer.Active() = %d, want 300 (draining connections still count)", b.Active())
				}
				for i, s := range onD {
					s.Release()
					if want := int64(len(onD) - i - 1); d.Active() != want {
						t.Fatalf("after %d releases Active() = %d, want %d", i+1, d.Active(), want)
					}
				}
				if d.Active() != 0 || b.Active() != int64(len(rest)) {
					t.Fatalf("drained: Active() = %d, Balancer.Active() = %d, want 0 and %d", d.Active(), b.Active(), len(rest))
				}
				for _, s := range rest {
					s.Release()
				}
				assertZero(t, b, ss)
			})
		}
	}
}

// TestDrainingIPHashMovesOnlyItsKeys: draining a server moves only its keys,
// and undraining brings them back.
func TestDrainingIPHashMovesOnlyItsKeys(t *testing.T) {
	ss := mkServers(equalWeights(6)...)
	b := New(Options{Algorithm: IPHash}, ss)
	keys := testKeys(30000)
	before := mapKeys(t, b, keys)
	ss[4].SetDraining(true)
	during := mapKeys(t, b, keys)
	for i := range keys {
		if before[i] != ss[4].Addr() && during[i] != before[i] {
			t.Fatalf("key %d moved from %s to %s; only server 4 drains", i, before[i], during[i])
		}
		if during[i] == ss[4].Addr() {
			t.Fatalf("key %d still on the draining server", i)
		}
	}
	ss[4].SetDraining(false)
	if m := moved(before, mapKeys(t, b, keys)); m != 0 {
		t.Fatalf("%d keys did not return after undrain", m)
	}
}
