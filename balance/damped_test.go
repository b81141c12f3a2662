package balance

import "testing"

// TestDamped: a server held out by flap damping gets no picks under any
// algorithm, whatever its health (also not its half-open trial); its health
// verdicts are untouched, and it is picked again once trusted.
func TestDamped(t *testing.T) {
	for _, a := range allAlgorithms {
		t.Run(a.String(), func(t *testing.T) {
			ss := mkServers(1, 1, 1)
			b := New(Options{Algorithm: a}, ss)
			d := ss[1]
			if !d.SetDamped(true) || d.SetDamped(true) {
				t.Fatal("SetDamped does not report the change once")
			}
			if !d.Damped() || !d.Healthy() || d.Available() {
				t.Fatalf("Damped %v Healthy %v Available %v; want true true false", d.Damped(), d.Healthy(), d.Available())
			}
			if why, _ := d.WhyNot(); why != WhyDamped || why.String() != "damped (held out by flap damping)" {
				t.Fatalf("WhyNot = %q", why)
			}
			pickNone := func(what string) {
				t.Helper()
				for k := range 600 {
					s := b.Pick(uint64(k)*0x9e3779b97f4a7c15+3, nil)
					if s == nil || s == d {
						t.Fatalf("%s: pick %d = %v", what, k, name(s))
					}
					s.Release()
				}
			}
			pickNone("damped")
			d.SetPassiveHalfOpen() // the trial is not handed out while damped
			pickNone("damped and half-open")
			if d.TrialTaken() {
				t.Fatal("the trial of a damped server was handed out")
			}
			d.SetPassiveUp(true)
			if !d.SetDamped(false) {
				t.Fatal("SetDamped(false) reports no change")
			}
			seen := false
			for k := range 600 {
				s := b.Pick(uint64(k)*0x9e3779b97f4a7c15+3, nil)
				seen = seen || s == d
				s.Release()
			}
			if !seen {
				t.Fatal("a trusted server is never picked again")
			}
		})
	}
}
