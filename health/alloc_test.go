//go:build !race

package health

import "testing"

// TestPassiveNoAllocs pins the data-path calls at zero allocations, in
// every state they can meet.
func TestPassiveNoAllocs(t *testing.T) {
	p, _ := newTestPassive(3, 1)
	now := int64(0)
	calls := map[string]func(){
		"Failure+Success": func() { now++; p.Failure(now); p.Success(now) },
		"Failure cycle":   func() { now++; p.Failure(now); p.Tick(now); p.Admit(now); p.Success(now) },
		"Admit":           func() { now++; p.Admit(now) },
		"Tick":            func() { now++; p.Tick(now) },
	}
	for name, fn := range calls {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: allocs=%v, want 0", name, n)
		}
	}
}
