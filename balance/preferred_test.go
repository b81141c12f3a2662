package balance

import "testing"

// A preferred server is kept under every algorithm while it can serve, and
// left (moved) when it is drained, disabled, down, at weight 0, at its
// connection limit or already tried; it comes back when it can serve again.
func TestPickPreferred(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg.String(), func(t *testing.T) {
			ss := mkServers(1, 2, 3, 1)
			b := New(Options{Algorithm: alg, MaxConnsPerServer: 5}, ss)
			keys := testKeys(16)
			pref := ss[2]
			for i := 0; i < 100; i++ {
				s, moved := b.PickPreferred(pref, keys[i%len(keys)], nil)
				if s != pref || moved {
					t.Fatalf("pick %d: got %v moved=%v, want the preferred server", i, s.Addr(), moved)
				}
				s.Release()
			}
			for _, c := range []struct {
				name        string
				break_, fix func()
			}{
				{"drained", func() { pref.SetDraining(true) }, func() { pref.SetDraining(false) }},
				{"disabled", func() { pref.SetEnabled(false) }, func() { pref.SetEnabled(true) }},
				{"down", func() { pref.SetActiveUp(false) }, func() { pref.SetActiveUp(true) }},
				{"ejected", func() { pref.SetPassiveUp(false) }, func() { pref.SetPassiveUp(true) }},
				{"weight 0", func() { pref.SetWeight(0) }, func() { pref.SetWeight(3) }},
			} {
				c.break_()
				for i := 0; i < 20; i++ {
					s, moved := b.PickPreferred(pref, keys[i%len(keys)], nil)
					if s == nil || s == pref || !moved {
						t.Fatalf("%s: got %v moved=%v, want another server", c.name, s, moved)
					}
					s.Release()
				}
				c.fix()
				if s, moved := b.PickPreferred(pref, 1, nil); s != pref || moved {
					t.Fatalf("%s fixed: got %v moved=%v", c.name, s.Addr(), moved)
				} else {
					s.Release()
				}
			}
			// At its connection limit: another server, and the count is exact.
			var held []*Server
			for i := 0; i < 5; i++ {
				s, _ := b.PickPreferred(pref, 1, nil)
				if s != pref {
					t.Fatalf("pick %d under the limit went to %v", i, s.Addr())
				}
				held = append(held, s)
			}
			if s, moved := b.PickPreferred(pref, 1, nil); s == pref || s == nil || !moved {
				t.Fatalf("over the limit: %v moved=%v", s, moved)
			} else {
				s.Release()
			}
			for _, s := range held {
				s.Release()
			}
			if pref.Active() != 0 || b.Active() != 0 {
				t.Fatalf("active %d / %d after releases", pref.Active(), b.Active())
			}
			// Tried: a retry never returns the preferred server again.
			var tr Tried
			s1, _ := b.PickPreferred(pref, 1, &tr)
			s2, moved := b.PickPreferred(pref, 1, &tr)
			if s1 != pref || s2 == pref || !moved {
				t.Fatalf("retry: %v then %v", s1.Addr(), s2)
			}
			s1.Release()
			s2.Release()
			// nil and foreign preferences fall back to Pick.
			other := NewServer("x", "10.0.0.1:1", 1)
			for _, p := range []*Server{nil, other} {
				if s, moved := b.PickPreferred(p, 1, nil); s == nil || s == other || !moved {
					t.Fatalf("pref %v: got %v moved=%v", p, s, moved)
				} else {
					s.Release()
				}
			}
		})
	}
}
