package health

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const sec = int64(time.Second)

func newTestPassive(threshold int, cooldown time.Duration) (*Passive, *fakeTarget) {
	f := newFake("127.0.0.1:1")
	p := NewPassive(f, PassiveOptions{UnhealthyThreshold: threshold, Cooldown: cooldown, OnTransition: onPassive})
	return p, f
}

func TestPassiveEjectsOnExactThreshold(t *testing.T) {
	p, f := newTestPassive(3, 10*time.Second)
	p.Failure(1)
	p.Failure(2)
	if !f.passive.Load() || !p.Up() {
		t.Fatal("ejected after 2 of 3 failures")
	}
	p.Failure(3)
	if f.passive.Load() || p.Up() {
		t.Fatal("not ejected after 3 failures")
	}
	if ej, until := p.Ejected(); !ej || until != 3+10*sec {
		t.Fatalf("Ejected() = %v, %d; want true, %d", ej, until, 3+10*sec)
	}
}

func TestPassiveSuccessResetsCount(t *testing.T) {
	p, f := newTestPassive(3, time.Second)
	for i := range 10 { // --+ repeated never reaches 3
		p.Failure(int64(i))
		p.Failure(int64(i))
		p.Success()
	}
	if !f.passive.Load() {
		t.Fatal("ejected although no 3 consecutive failures")
	}
}

func TestPassiveCooldownHalfOpenTrialSuccess(t *testing.T) {
	p, f := newTestPassive(2, 10*time.Second)
	p.Failure(0)
	p.Failure(1 * sec) // ejected until 11s
	p.Tick(1 * sec)
	if ev := f.Events(); len(ev) != 1 || ev[0].up || ev[0].reason != "2 consecutive failures on live traffic" {
		t.Fatalf("events after ejection: %+v", ev)
	}
	// Late outcomes of requests in flight are ignored while open.
	p.Success()
	p.Failure(2 * sec)
	p.Tick(11*sec - 1)
	if f.passive.Load() || p.Up() {
		t.Fatal("half-open before the cooldown ended")
	}
	p.Tick(11 * sec)
	if !f.passive.Load() || !p.Up() {
		t.Fatal("not half-open at the end of the cooldown")
	}
	// Exactly one trial is admitted.
	if !p.Admit(11 * sec) {
		t.Fatal("first Admit in half-open refused")
	}
	for range 5 {
		if p.Admit(11 * sec) {
			t.Fatal("second Admit in half-open allowed")
		}
	}
	p.Success()
	if !p.Admit(12 * sec) {
		t.Fatal("closed breaker refuses Admit")
	}
	p.Tick(12 * sec)
	ev := f.Events()
	if len(ev) != 2 || !ev[1].up || ev[1].reason != "trial succeeded after cooldown" {
		t.Fatalf("events: %+v", ev)
	}
	// Count starts from zero again: one failure does not eject.
	p.Failure(13 * sec)
	if !p.Up() {
		t.Fatal("count not reset by the successful trial")
	}
	p.Tick(13 * sec)
	if len(f.Events()) != 2 {
		t.Fatalf("extra events: %+v", f.Events())
	}
}

func TestPassiveHalfOpenTrialFailureReejects(t *testing.T) {
	p, f := newTestPassive(1, 5*time.Second)
	p.Failure(0)
	p.Tick(5 * sec)
	if !p.Admit(5 * sec) {
		t.Fatal("trial not admitted")
	}
	p.Failure(6 * sec) // the trial fails: ejected again at once, for a full cooldown
	if f.passive.Load() || p.Up() {
		t.Fatal("failed trial did not re-eject")
	}
	if _, until := p.Ejected(); until != 11*sec {
		t.Fatalf("until=%d, want %d", until, 11*sec)
	}
	p.Tick(11*sec - 1)
	if p.Up() {
		t.Fatal("half-open before the second cooldown ended")
	}
	p.Tick(11 * sec)
	p.Success() // without Admit: the first outcome decides
	p.Tick(11 * sec)
	ev := f.Events()
	if len(ev) != 2 || ev[0].up || !ev[1].up {
		t.Fatalf("want exactly one down and one up event, got %+v", ev)
	}
}

func TestPassiveLostTrialIsForgotten(t *testing.T) {
	p, _ := newTestPassive(1, 5*time.Second)
	p.Failure(0)
	p.Tick(5 * sec)
	if !p.Admit(5 * sec) {
		t.Fatal("trial not admitted")
	}
	p.Tick(10*sec - 1)
	if p.Admit(10*sec - 1) {
		t.Fatal("second trial admitted while the first may still run")
	}
	p.Tick(10 * sec) // the trial's outcome never came: allow another
	if !p.Admit(10 * sec) {
		t.Fatal("lost trial blocks the server forever")
	}
}

func TestPassiveTickRepairsFlag(t *testing.T) {
	p, f := newTestPassive(1, time.Second)
	f.passive.Store(false) // someone raced us
	p.Tick(0)
	if !f.passive.Load() {
		t.Fatal("Tick did not re-assert up while closed")
	}
	p.Failure(0)
	f.passive.Store(true)
	p.Tick(1)
	if f.passive.Load() {
		t.Fatal("Tick did not re-assert down while open")
	}
}

func TestPassiveDefaults(t *testing.T) {
	p, f := newTestPassive(0, 0)
	for i := range DefaultPassiveUnhealthyThreshold - 1 {
		p.Failure(int64(i))
	}
	if !f.passive.Load() {
		t.Fatal("ejected before the default threshold")
	}
	p.Failure(0)
	if _, until := p.Ejected(); until != int64(DefaultCooldown) {
		t.Fatalf("until=%d, want default cooldown %d", until, DefaultCooldown)
	}
}

// TestPassiveConcurrent runs the data-path calls from many goroutines with a
// Tick goroutine (meant for -race) and checks the invariants: exactly one
// ejection per episode and exactly one trial admitted per half-open period.
func TestPassiveConcurrent(t *testing.T) {
	p, f := newTestPassive(4, 100*time.Microsecond)
	var clock atomic.Int64
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 20000 {
				now := clock.Load()
				if p.Admit(now) {
					admitted.Add(1)
				}
				if (i+g)%10 == 0 {
					p.Success()
				} else {
					p.Failure(now)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		clock.Add(int64(100 * time.Microsecond))
		p.Tick(clock.Load())
	}
	p.Tick(clock.Load())
	ev := f.Events()
	for i, e := range ev { // strictly alternating down, up, down, ...
		if e.up != (i%2 == 1) {
			t.Fatalf("event %d up=%v: transitions do not alternate", i, e.up)
		}
	}
	if p.downs.Load() == 0 || admitted.Load() == 0 {
		t.Fatalf("test did not exercise ejection: downs=%d admitted=%d", p.downs.Load(), admitted.Load())
	}
	t.Logf("ejections=%d returns=%d events=%d", p.downs.Load(), p.returns.Load(), len(ev))
}

func TestPassiveExactlyOneTrialUnderContention(t *testing.T) {
	for range 50 {
		p, _ := newTestPassive(1, time.Second)
		p.Failure(0)
		p.Tick(sec)
		var wins atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				<-start
				if p.Admit(sec) {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d trials admitted, want 1", wins.Load())
		}
	}
}

func TestSweeperEndsCooldown(t *testing.T) {
	f := newFake("127.0.0.1:2")
	p := NewPassive(f, PassiveOptions{UnhealthyThreshold: 1, Cooldown: 30 * time.Millisecond, OnTransition: onPassive})
	s := NewSweeper(5*time.Millisecond, []*Passive{p})
	defer s.Stop()
	p.Failure(Now())
	waitFor(t, time.Second, "ejection reported", func() bool { return len(f.Events()) == 1 })
	waitFor(t, time.Second, "half-open after cooldown", func() bool { return f.passive.Load() })
	p.Success()
	waitFor(t, time.Second, "return reported", func() bool { return len(f.Events()) == 2 })
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
}
