//go:build !race

package health

import (
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// TestPassiveNoAllocs pins the data-path calls at zero allocations, in
// every state they can meet.
func TestPassiveNoAllocs(t *testing.T) {
	p, _ := newTestPassive(3, 1)
	now := int64(0)
	calls := map[string]func(){
		"Failure+Success": func() { now++; p.Failure(now); p.Success() },
		"FailureOf+Success": func() {
			now++
			p.FailureOf(now, 3)
			p.FailureOf(now, 1)
			p.Success()
		},
		"Failure cycle": func() { now++; p.Failure(now); p.Tick(now); p.Admit(now); p.Success() },
		"Admit":         func() { now++; p.Admit(now) },
		"Tick":          func() { now++; p.Tick(now) },
	}
	for name, fn := range calls {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: allocs=%v, want 0", name, n)
		}
	}
}

// TestPassiveNoAllocsBalanceServer: the same with a real balance.Server as
// the target, in the steady states (closed, and half-open with the trial
// out): outcomes and Ticks that change nothing allocate nothing.
func TestPassiveNoAllocsBalanceServer(t *testing.T) {
	s := balance.NewServer("web", "127.0.0.1:1", 1)
	b := balance.New(balance.Options{}, []*balance.Server{s})
	p := NewPassive(s, PassiveOptions{UnhealthyThreshold: 1 << 30, Cooldown: time.Second})
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() { now++; p.Failure(now); p.Success(); p.Tick(now) }); n != 0 {
		t.Errorf("closed: allocs=%v, want 0", n)
	}
	p2 := NewPassive(s, PassiveOptions{UnhealthyThreshold: 1, Cooldown: time.Nanosecond})
	p2.Failure(0)
	p2.Tick(1) // half-open
	if b.Pick(0, nil) != s || !s.TrialTaken() {
		t.Fatal("trial not handed out")
	}
	if n := testing.AllocsPerRun(1000, func() { p2.Tick(1); _ = b.Pick(0, nil) }); n != 0 {
		t.Errorf("half-open, trial out: allocs=%v, want 0", n)
	}
}

// TestParseStatusLineAllocs: a well-formed status line is parsed without
// allocating (only an error message allocates).
func TestParseStatusLineAllocs(t *testing.T) {
	line := []byte("HTTP/1.1 200 OK\r")
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseStatusLine(line) }); n != 0 {
		t.Fatalf("allocs=%v", n)
	}
}
