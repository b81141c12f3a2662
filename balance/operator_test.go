package balance

import (
	"testing"
	"time"
)

// TestRemovedIsApartFromDrain: the drain of a server removed by a reload
// (SetRemoved) is its own bit. An operator's undrain (SetDraining(false))
// or enable never makes a removed server pickable again; only SetRemoved(false)
// (a reload adding it back) does, and then the operator's drain still holds.
func TestRemovedIsApartFromDrain(t *testing.T) {
	for _, a := range allAlgorithms {
		t.Run(a.String(), func(t *testing.T) {
			ss := mkServers(1, 1, 1)
			b := New(Options{Algorithm: a}, ss)
			r := ss[1]
			r.SetRemoved(true)
			if !r.Removed() || r.Draining() || r.Available() {
				t.Fatalf("after SetRemoved(true): removed=%v draining=%v available=%v", r.Removed(), r.Draining(), r.Available())
			}
			if why, _ := r.WhyNot(); why != WhyRemoved || why.String() != "removed from the configuration" {
				t.Fatalf("WhyNot of a removed server = %v", why)
			}
			r.SetDraining(false) // an operator's undrain of the removed server
			r.SetEnabled(true)
			for k := range 600 {
				if i := pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss); i == 1 {
					t.Fatalf("pick %d returned the removed server after an undrain", k)
				}
			}
			r.SetDraining(true) // operator drain while removed
			r.SetRemoved(false) // revived by a reload: the operator's drain stays
			if !r.Draining() || r.Removed() {
				t.Fatalf("after revival: draining=%v removed=%v", r.Draining(), r.Removed())
			}
			for k := range 600 {
				if i := pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss); i == 1 {
					t.Fatalf("pick %d returned a server the operator drains", k)
				}
			}
			r.SetDraining(false)
			seen := false
			for k := range 600 {
				seen = seen || pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss) == 1
			}
			if !seen {
				t.Fatal("server never picked after revival and undrain")
			}
		})
	}
}

// TestHealthViews: ActiveUp and PassiveUp report each check's own verdict.
func TestHealthViews(t *testing.T) {
	s := NewServer("web", "127.0.0.1:1", 1)
	if !s.ActiveUp() || !s.PassiveUp() {
		t.Fatal("a new server must be up in both views")
	}
	s.SetActiveUp(false)
	if s.ActiveUp() || !s.PassiveUp() || s.Healthy() {
		t.Fatalf("active down: active=%v passive=%v healthy=%v", s.ActiveUp(), s.PassiveUp(), s.Healthy())
	}
	s.SetActiveUp(true)
	s.SetPassiveUp(false)
	if !s.ActiveUp() || s.PassiveUp() {
		t.Fatalf("passive down: active=%v passive=%v", s.ActiveUp(), s.PassiveUp())
	}
	s.SetPassiveHalfOpen()
	if !s.PassiveUp() || !s.HalfOpen() || s.Healthy() {
		t.Fatalf("half-open: passive=%v halfopen=%v healthy=%v", s.PassiveUp(), s.HalfOpen(), s.Healthy())
	}
}

// TestEffectiveWeight: the configured weight scaled by slow start, 0 when
// the server is not eligible.
func TestEffectiveWeight(t *testing.T) {
	const S = 10 * time.Second
	t0 := time.Unix(1_000_000, 0)
	ss := mkServers(40, 40, 3)
	b := New(Options{Algorithm: WeightedRoundRobin, SlowStart: S}, ss)
	if w := b.EffectiveWeight(ss[0]); w != 40 {
		t.Fatalf("EffectiveWeight = %d, want 40", w)
	}
	ss[1].SetActiveUp(false)
	if w := b.EffectiveWeight(ss[1]); w != 0 {
		t.Fatalf("down server: EffectiveWeight = %d, want 0", w)
	}
	ss[1].SetActiveUp(true)
	b.Tick(t0)
	if w := b.EffectiveWeight(ss[1]); w != 4 {
		t.Fatalf("start of slow start: EffectiveWeight = %d, want 4 (1/10 of 40)", w)
	}
	b.Tick(t0.Add(S / 2))
	if w := b.EffectiveWeight(ss[1]); w != 22 {
		t.Fatalf("half way: EffectiveWeight = %d, want 22", w)
	}
	ss[2].SetDraining(true)
	if w := b.EffectiveWeight(ss[2]); w != 0 {
		t.Fatalf("draining: EffectiveWeight = %d, want 0", w)
	}
	if w := b.EffectiveWeight(NewServer("web", "x:1", 1)); w != 0 {
		t.Fatalf("foreign server: EffectiveWeight = %d, want 0", w)
	}
}
