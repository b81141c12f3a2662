package balance

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHalfOpenExactlyOneTrial: under every algorithm, a half-open server is
// returned by exactly one Pick (the trial) out of many; the others go to the
// serving servers. The trial's outcome then decides.
func TestHalfOpenExactlyOneTrial(t *testing.T) {
	for _, a := range allAlgorithms {
		for _, opts := range []Options{{Algorithm: a}, {Algorithm: a, MaxConnsPerServer: 1000, HashBalanceFactor: 1.25}} {
			t.Run(a.String(), func(t *testing.T) {
				ss := mkServers(1, 1, 1)
				b := New(opts, ss)
				ho := ss[1]
				ho.SetPassiveUp(false)
				if !ho.SetPassiveHalfOpen() || ho.SetPassiveHalfOpen() {
					t.Fatal("SetPassiveHalfOpen: first call must report a change, the second none")
				}
				if ho.Healthy() || !ho.HalfOpen() || !ho.Available() {
					t.Fatalf("half-open: Healthy %v HalfOpen %v Available %v, want false true true", ho.Healthy(), ho.HalfOpen(), ho.Available())
				}
				var held []*Server
				trials := 0
				for k := range 3000 {
					s := b.Pick(uint64(k)*0x9e3779b97f4a7c15, nil)
					if s == nil {
						t.Fatalf("pick %d: nil with two serving servers", k)
					}
					if s == ho {
						trials++
						held = append(held, s)
					} else {
						s.Release()
					}
				}
				if trials != 1 || ho.Active() != 1 || ho.Available() {
					t.Fatalf("half-open server picked %d times (Active %d, Available %v), want exactly 1", trials, ho.Active(), ho.Available())
				}
				// The trial's outcome never came (its connection is gone):
				// RearmTrial hands out one more.
				held[0].Release()
				held = held[:0]
				if !ho.RearmTrial() || ho.RearmTrial() {
					t.Fatal("RearmTrial: first call must re-arm, the second find nothing to do")
				}
				for k := range 3000 {
					s := b.Pick(uint64(k)*0x9e3779b97f4a7c15, nil)
					if s == ho {
						trials++
						held = append(held, s)
					} else {
						s.Release()
					}
				}
				if trials != 2 {
					t.Fatalf("after RearmTrial: %d trials in total, want 2", trials)
				}
				// Success: serving again, picked like the others.
				for _, s := range held {
					s.Release()
				}
				held = nil
				if !ho.SetPassiveUp(true) || ho.HalfOpen() || !ho.Healthy() {
					t.Fatal("SetPassiveUp(true) must end half-open")
				}
				if ho.RearmTrial() {
					t.Fatal("RearmTrial on a serving server must do nothing")
				}
				n := 0
				for k := range 3000 {
					if pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss) == 1 {
						n++
					}
				}
				if n < 500 {
					t.Fatalf("recovered server got %d of 3000 picks", n)
				}
				for _, s := range held {
					s.Release()
				}
				assertZero(t, b, ss)
			})
		}
	}
}

// TestHalfOpenTrialFailure: a failed trial ejects the server again; active
// down, draining or disabled servers get no trial even when half-open.
func TestHalfOpenTrialFailureAndOtherStates(t *testing.T) {
	for _, a := range allAlgorithms {
		ss := mkServers(1, 1)
		b := New(Options{Algorithm: a}, ss)
		ho := ss[0]
		ho.SetPassiveUp(false)
		ho.SetPassiveHalfOpen()
		var trial *Server
		for k := range 100 {
			s := b.Pick(uint64(k)*0x9e3779b97f4a7c15, nil)
			if s == ho {
				trial = s
				continue
			}
			s.Release()
		}
		if trial == nil {
			t.Fatalf("%v: no trial handed out", a)
		}
		if !ho.SetPassiveUp(false) || ho.HalfOpen() || ho.Healthy() {
			t.Fatalf("%v: a failed trial must eject again", a)
		}
		trial.Release()
		for k := range 300 {
			if got := pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss); got != 1 {
				t.Fatalf("%v: picked %d while server 0 is ejected", a, got)
			}
		}
		for _, block := range []struct {
			name string
			on   func()
			off  func()
		}{
			{"active down", func() { ho.SetActiveUp(false) }, func() { ho.SetActiveUp(true) }},
			{"draining", func() { ho.SetDraining(true) }, func() { ho.SetDraining(false) }},
			{"disabled", func() { ho.SetEnabled(false) }, func() { ho.SetEnabled(true) }},
			{"weight 0", func() { ho.SetWeight(0) }, func() { ho.SetWeight(1) }},
		} {
			block.on()
			ho.SetPassiveHalfOpen()
			for k := range 300 {
				if got := pickRelease(t, b, uint64(k)*0x9e3779b97f4a7c15, ss); got != 1 {
					t.Fatalf("%v %s + half-open: picked %d", a, block.name, got)
				}
			}
			block.off()
			if s := b.Pick(0, &Tried{bits: [4]uint64{1 << 1}}); s != ho { // server 1 excluded: only the trial is left
				t.Fatalf("%v: after %s ended, the trial was not handed out (got %v)", a, block.name, s)
			}
			ho.Release()
			ho.SetPassiveUp(false)
		}
		assertZero(t, b, ss)
	}
}

// TestHalfOpenConcurrentPicks: many goroutines picking at once still hand
// out exactly one trial.
func TestHalfOpenConcurrentPicks(t *testing.T) {
	for _, a := range allAlgorithms {
		for range 20 {
			ss := mkServers(1, 1, 1, 1)
			b := New(Options{Algorithm: a}, ss)
			ss[2].SetPassiveUp(false)
			ss[2].SetPassiveHalfOpen()
			var trials atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := range 8 {
				wg.Go(func() {
					<-start
					for k := range 200 {
						s := b.Pick(uint64(g*1000+k)*0x9e3779b97f4a7c15, nil)
						if s == ss[2] {
							trials.Add(1)
						}
						s.Release()
					}
				})
			}
			close(start)
			wg.Wait()
			if trials.Load() != 1 {
				t.Fatalf("%v: %d trials under contention, want 1", a, trials.Load())
			}
			assertZero(t, b, ss)
		}
	}
}

// TestHalfOpenOnlyServer: with one server, half-open means one pick gets it
// and the rest get nil (the caller answers 503 / closes).
func TestHalfOpenOnlyServer(t *testing.T) {
	for _, a := range allAlgorithms {
		ss := mkServers(1)
		b := New(Options{Algorithm: a}, ss)
		ss[0].SetPassiveUp(false)
		if b.Pick(1, nil) != nil {
			t.Fatalf("%v: ejected server picked", a)
		}
		ss[0].SetPassiveHalfOpen()
		if b.Pick(1, nil) != ss[0] {
			t.Fatalf("%v: trial not handed out", a)
		}
		if s := b.Pick(2, nil); s != nil {
			t.Fatalf("%v: second pick while the trial runs = %s", a, s.Addr())
		}
		ss[0].SetPassiveUp(true)
		if b.Pick(3, nil) != ss[0] {
			t.Fatalf("%v: not serving after the trial succeeded", a)
		}
		ss[0].Release()
		ss[0].Release()
		assertZero(t, b, ss)
	}
}

// TestHalfOpenIPHashKeysReturn: while a server is ejected and half-open its
// keys stay on their fallback servers (except the one trial); after the trial
// succeeds they all return, and no other key ever moves.
func TestHalfOpenIPHashKeysReturn(t *testing.T) {
	ss := mkServers(equalWeights(5)...)
	b := New(Options{Algorithm: IPHash}, ss)
	keys := testKeys(20000)
	before := mapKeys(t, b, keys)
	down := ss[2]
	down.SetPassiveUp(false)
	ejected := mapKeys(t, b, keys)
	down.SetPassiveHalfOpen()
	half := mapKeys(t, b, keys)
	onTrial := 0
	for i := range keys {
		if half[i] == down.Addr() {
			onTrial++
			continue
		}
		if half[i] != ejected[i] {
			t.Fatalf("key %d moved from %s to %s while half-open", i, ejected[i], half[i])
		}
	}
	if onTrial != 1 {
		t.Fatalf("%d keys reached the half-open server, want exactly the trial", onTrial)
	}
	down.SetPassiveUp(true)
	if m := moved(before, mapKeys(t, b, keys)); m != 0 {
		t.Fatalf("%d keys did not return after the trial succeeded", m)
	}
}

// TestHalfOpenSlowStart: with slow start, the ramp of a passively ejected
// server starts when its trial succeeds, not when it becomes half-open.
func TestHalfOpenSlowStart(t *testing.T) {
	const S = 10 * time.Second
	t0 := time.Unix(100, 0)
	ss := mkServers(1, 1)
	b := New(Options{Algorithm: RoundRobin, SlowStart: S}, ss)
	ss[1].SetPassiveUp(false)
	ss[1].SetPassiveHalfOpen()
	b.Tick(t0)
	if b.ramping.Load() {
		t.Fatal("a half-open server must not ramp yet")
	}
	trial := b.Pick(0, &Tried{bits: [4]uint64{1 << 0}})
	if trial != ss[1] {
		t.Fatal("trial not handed out")
	}
	trial.Release()
	b.Tick(t0.Add(30 * time.Second))
	ss[1].SetPassiveUp(true)
	if !b.ramping.Load() {
		t.Fatal("a server back from half-open must ramp")
	}
	b.Tick(t0.Add(31 * time.Second))
	if r := shareRatio(t, b, ss, 0, 1, 2200); r < 0.08 || r > 0.12 {
		t.Fatalf("share ratio right after the trial %.3f, want 0.10", r)
	}
}
