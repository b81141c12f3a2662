package balance

import "testing"

// TestUnavailableSkipped: down (active or passive), draining, disabled and
// at-max-conns servers are skipped by every algorithm; all unavailable → nil.
func TestUnavailableSkipped(t *testing.T) {
	for _, a := range allAlgorithms {
		t.Run(a.String(), func(t *testing.T) {
			ss := mkServers(1, 1, 1, 1, 1, 1)
			b := New(Options{Algorithm: a, MaxConnsPerServer: 1}, ss)
			ss[0].SetActiveUp(false)
			ss[1].SetPassiveUp(false)
			ss[2].SetDraining(true)
			ss[3].SetEnabled(false)
			// Fill server 4 to its cap (it and 5 are the only candidates).
			ss[5].SetEnabled(false)
			held := b.Pick(1, nil)
			if held != ss[4] {
				t.Fatalf("only server 4 is available, Pick = %v", held)
			}
			if s := b.Pick(2, nil); s != nil {
				t.Fatalf("every server unavailable (4 at max conns), Pick = %s", s.Addr())
			}
			ss[5].SetEnabled(true)
			for k := range 200 {
				if got := pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss); got != 5 {
					t.Fatalf("key %d: picked server %d, only 5 is available", k, got)
				}
			}
			held.Release()
			seen := map[int]bool{}
			for k := range 200 {
				seen[pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss)] = true
			}
			if len(seen) != 2 || !seen[4] || !seen[5] {
				t.Fatalf("servers picked %v, want exactly 4 and 5", seen)
			}
			ss[4].SetActiveUp(false)
			ss[5].SetActiveUp(false)
			if s := b.Pick(3, nil); s != nil {
				t.Fatalf("all down, Pick = %s", s.Addr())
			}
			assertZero(t, b, ss)
		})
	}
}

// TestUnavailableBeforeRebuild: a server that goes unavailable is skipped
// even by a Set built before the change (Pick re-checks the flags).
func TestUnavailableBeforeRebuild(t *testing.T) {
	for _, a := range allAlgorithms {
		ss := mkServers(1, 1, 1)
		b := New(Options{Algorithm: a}, ss)
		ss[1].state.Or(stActiveDown) // flip without notifying the Balancer
		for k := range 300 {
			if got := pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss); got == 1 || got < 0 {
				t.Fatalf("%v: picked %d with a stale Set", a, got)
			}
		}
	}
}

func TestTriedExcludes(t *testing.T) {
	for _, a := range allAlgorithms {
		t.Run(a.String(), func(t *testing.T) {
			ss := mkServers(1, 2, 3, 4)
			b := New(Options{Algorithm: a}, ss)
			for k := range uint64(50) {
				var tr Tried
				seen := map[*Server]bool{}
				for i := range len(ss) {
					s := b.Pick(k*0x9e3779b97f4a7c15, &tr)
					if s == nil || seen[s] {
						t.Fatalf("key %d attempt %d: Pick = %v (already tried: %v)", k, i, s, seen[s])
					}
					seen[s] = true
					s.Release()
					if tr.Len() != i+1 {
						t.Fatalf("Tried.Len() = %d after %d picks", tr.Len(), i+1)
					}
				}
				if s := b.Pick(k, &tr); s != nil {
					t.Fatalf("all servers tried, Pick = %s", s.Addr())
				}
				tr.Reset()
				if tr.Len() != 0 || b.Pick(k, &tr) == nil {
					t.Fatal("Reset Tried must allow picks again")
				}
			}
			for _, s := range ss {
				for s.Active() > 0 {
					s.Release()
				}
			}
			assertZero(t, b, ss)
		})
	}
}

// TestTriedAcrossUpdate: a reload between two attempts (reordered list, a
// server removed, one added) never makes Pick return an already-tried server.
func TestTriedAcrossUpdate(t *testing.T) {
	for _, a := range allAlgorithms {
		ss := mkServers(1, 1, 1, 1)
		b := New(Options{Algorithm: a}, ss[:3])
		var tr Tried
		first := b.Pick(42, &tr)
		first.Release()
		b.Update(Options{Algorithm: a}, []*Server{ss[3], ss[2], ss[1], ss[0]})
		for range 3 {
			s := b.Pick(42, &tr)
			if s == nil || s == first {
				t.Fatalf("%v: after Update Pick = %v, first was %s", a, s, first.Addr())
			}
			s.Release()
		}
		if s := b.Pick(42, &tr); s != nil {
			t.Fatalf("%v: all 4 tried, Pick = %s", a, s.Addr())
		}
		assertZero(t, b, ss)
	}
}

func TestServersAndLimits(t *testing.T) {
	ss := mkServers(equalWeights(MaxServers + 5)...)
	in := append([]*Server{nil, ss[0]}, ss...) // nil and a duplicate are ignored
	b := New(Options{}, in)
	got := b.Servers()
	if len(got) != MaxServers || got[0] != ss[0] || got[1] != ss[1] || got[MaxServers-1] != ss[MaxServers-1] {
		t.Fatalf("Servers() = %d servers, want the first %d in order", len(got), MaxServers)
	}
	got[0] = nil
	if b.Servers()[0] != ss[0] {
		t.Fatal("Servers() must return a copy")
	}
	var tr Tried
	for i := range MaxServers {
		if b.Pick(0, &tr) == nil {
			t.Fatalf("attempt %d: Pick = nil", i)
		}
	}
	if b.Pick(0, &tr) != nil || tr.Len() != MaxServers {
		t.Fatalf("after %d tries: Tried.Len() = %d", MaxServers, tr.Len())
	}
	if New(Options{}, nil).Pick(0, nil) != nil {
		t.Fatal("empty Balancer must pick nil")
	}
	if o := b.Options(); o != (Options{}) {
		t.Fatalf("Options() = %+v", o)
	}
}

// TestSlotsUnderChurn: more than MaxServers distinct servers over many
// reloads: slots of members stay unique, and a re-added server gets its slot
// back while it is still remembered.
func TestSlotsUnderChurn(t *testing.T) {
	pool := mkServers(equalWeights(3 * MaxServers)...)
	b := New(Options{}, pool[:MaxServers])
	slotOf := func(s *Server) uint8 {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.members[s].slot
	}
	s0 := slotOf(pool[0])
	b.Update(Options{}, pool[1:10])
	b.Update(Options{}, pool[:10])
	if got := slotOf(pool[0]); got != s0 {
		t.Fatalf("re-added server got slot %d, had %d", got, s0)
	}
	for round := range 6 {
		lo := (round * 100) % (2 * MaxServers)
		b.Update(Options{}, pool[lo:lo+MaxServers])
		seen := map[uint8]bool{}
		for _, s := range b.Servers() {
			sl := slotOf(s)
			if seen[sl] {
				t.Fatalf("round %d: slot %d held by two members", round, sl)
			}
			seen[sl] = true
		}
		var tr Tried
		for range MaxServers {
			if b.Pick(0, &tr) == nil {
				t.Fatalf("round %d: Pick = nil before every member was tried", round)
			}
		}
		if b.Pick(0, &tr) != nil {
			t.Fatalf("round %d: Pick after every member was tried", round)
		}
	}
	for _, s := range pool {
		for s.Active() > 0 {
			s.Release()
		}
	}
	assertZero(t, b, pool)
}
