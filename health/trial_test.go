package health

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

var _ TrialTarget = (*balance.Server)(nil)

// pool is a balancer over n real balance.Servers, each with a Passive, wired
// the way internal/app does: Pick, attempt, then Passive.Failure/Success.
type pool struct {
	b  *balance.Balancer
	ss []*balance.Server
	ps []*Passive
	fs []*fakeEvents
}

// fakeEvents records OnTransition calls for one server.
type fakeEvents struct {
	mu  sync.Mutex
	evs []bool
}

func (f *fakeEvents) add(up bool) { f.mu.Lock(); f.evs = append(f.evs, up); f.mu.Unlock() }
func (f *fakeEvents) get() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.evs...)
}

func newPool(alg balance.Algorithm, n, threshold int, cooldown time.Duration) *pool {
	p := &pool{}
	for i := range n {
		s := balance.NewServer("web", "127.0.0.1:"+string(rune('0'+i))+"000", 1)
		p.ss = append(p.ss, s)
	}
	p.b = balance.New(balance.Options{Algorithm: alg}, p.ss)
	for _, s := range p.ss {
		fe := &fakeEvents{}
		p.fs = append(p.fs, fe)
		p.ps = append(p.ps, NewPassive(s, PassiveOptions{UnhealthyThreshold: threshold, Cooldown: cooldown,
			OnTransition: func(_ PassiveTarget, up bool, _ string) { fe.add(up) }}))
	}
	return p
}

func (p *pool) index(s *balance.Server) int {
	for i, x := range p.ss {
		if x == s {
			return i
		}
	}
	return -1
}

// attempt picks a server and reports the outcome fail(server) to its
// Passive, like the l4 hooks / l7 observer wiring; it returns the index
// picked (-1: none) and releases the server.
func (p *pool) attempt(key uint64, now int64, fail func(i int) bool) int {
	s := p.b.Pick(key, nil)
	if s == nil {
		return -1
	}
	i := p.index(s)
	if fail(i) {
		p.ps[i].Failure(now)
	} else {
		p.ps[i].Success()
	}
	s.Release()
	return i
}

func (p *pool) tick(now int64) {
	for _, x := range p.ps {
		x.Tick(now)
	}
}

// TestPassiveTrialThroughBalancer: with real balance.Servers the half-open
// trial is admitted by the balancer: after the cooldown exactly one pick
// reaches the server; its outcome decides.
func TestPassiveTrialThroughBalancer(t *testing.T) {
	for _, alg := range []balance.Algorithm{balance.RoundRobin, balance.WeightedRoundRobin, balance.LeastConnections, balance.IPHash} {
		t.Run(alg.String(), func(t *testing.T) {
			const threshold, cd = 3, 10 * sec
			p := newPool(alg, 3, threshold, time.Duration(cd))
			bad := map[int]bool{1: true}
			failing := func(i int) bool { return bad[i] }
			key := uint64(0)
			next := func() uint64 { key += 0x9e3779b97f4a7c15; return key }

			// Server 1 fails every attempt: ejected on its 3rd consecutive failure.
			hits := 0
			for hits < threshold {
				if p.attempt(next(), sec, failing) == 1 {
					hits++
				}
			}
			if p.ss[1].Healthy() || p.ps[1].Up() {
				t.Fatalf("not ejected after %d failures", threshold)
			}
			for range 1000 {
				if p.attempt(next(), 2*sec, failing) == 1 {
					t.Fatal("ejected server picked")
				}
			}
			p.tick(2 * sec)
			if ev := p.fs[1].get(); len(ev) != 1 || ev[0] {
				t.Fatalf("events %v, want one ejection", ev)
			}

			// Before the end of the cooldown: still out. At the end: half-open.
			p.tick(sec + cd - 1)
			if p.ss[1].HalfOpen() {
				t.Fatal("half-open before the cooldown ended")
			}
			p.tick(sec + cd)
			if !p.ss[1].HalfOpen() || p.ss[1].Healthy() {
				t.Fatal("not half-open at the end of the cooldown")
			}

			// Half-open, the trial fails: exactly one pick reached it, and it is
			// ejected again for a whole cooldown from the failure.
			tried := 0
			for range 1000 {
				if p.attempt(next(), sec+cd+1, failing) == 1 {
					tried++
				}
			}
			if tried != 1 {
				t.Fatalf("half-open server got %d picks, want exactly 1 (the trial)", tried)
			}
			if ej, until := p.ps[1].Ejected(); !ej || until != sec+cd+1+cd || p.ss[1].HalfOpen() {
				t.Fatalf("after a failed trial: ejected %v until %d, half-open %v", ej, until, p.ss[1].HalfOpen())
			}
			p.tick(sec + 2*cd)
			if p.ss[1].HalfOpen() {
				t.Fatal("half-open before the second cooldown ended")
			}
			p.tick(sec + 2*cd + 1)
			if !p.ss[1].HalfOpen() {
				t.Fatal("not half-open after the second cooldown")
			}

			// The server recovers: the one trial succeeds and it serves again.
			bad[1] = false
			tried = 0
			for range 30 {
				if p.attempt(next(), sec+2*cd+2, failing) == 1 {
					tried++
				}
			}
			if tried == 0 || !p.ss[1].Healthy() || !p.ps[1].Up() {
				t.Fatalf("trial success did not bring it back (picks %d, healthy %v)", tried, p.ss[1].Healthy())
			}
			p.tick(sec + 2*cd + 3)
			if ev := p.fs[1].get(); len(ev) != 2 || ev[0] || !ev[1] {
				t.Fatalf("events %v, want [down up]: a failed trial is not a new transition", ev)
			}
			// Serving normally again.
			tried = 0
			for range 3000 {
				if p.attempt(next(), sec+2*cd+3, failing) == 1 {
					tried++
				}
			}
			if tried < 500 {
				t.Fatalf("recovered server got %d of 3000 picks", tried)
			}
			// The count was reset: threshold-1 failures do not eject.
			bad[1] = true
			hits = 0
			for hits < threshold-1 {
				if p.attempt(next(), sec+2*cd+4, failing) == 1 {
					hits++
				}
			}
			if !p.ss[1].Healthy() {
				t.Fatal("ejected before the threshold after a reset")
			}
			if p.b.Active() != 0 {
				t.Fatalf("Balancer.Active() = %d", p.b.Active())
			}
		})
	}
}

// TestPassiveTrialLost: a trial whose outcome never comes is forgotten one
// cooldown after Tick first saw it handed out; then one more trial goes.
func TestPassiveTrialLost(t *testing.T) {
	const cd = 5 * sec
	p := newPool(balance.RoundRobin, 2, 1, time.Duration(cd))
	p.ps[0].Failure(0)
	p.tick(cd)
	if !p.ss[0].HalfOpen() {
		t.Fatal("not half-open")
	}
	var trial *balance.Server
	for range 10 {
		s := p.b.Pick(0, nil)
		if s == p.ss[0] {
			trial = s // held: its outcome never comes
			continue
		}
		s.Release()
	}
	if trial == nil || !p.ss[0].TrialTaken() {
		t.Fatal("no trial handed out")
	}
	p.tick(cd + sec) // first Tick that sees the trial out
	p.tick(2*cd + sec - 1)
	for range 10 {
		if s := p.b.Pick(0, nil); s == p.ss[0] {
			t.Fatal("second trial before the first was forgotten")
		} else {
			s.Release()
		}
	}
	p.tick(2*cd + sec)
	if p.ss[0].TrialTaken() || !p.ss[0].HalfOpen() {
		t.Fatal("lost trial not re-armed after a cooldown")
	}
	n := 0
	for range 10 {
		s := p.b.Pick(0, nil)
		if s == p.ss[0] {
			n++
		}
		s.Release()
	}
	if n != 1 {
		t.Fatalf("%d trials after re-arm, want 1", n)
	}
	trial.Release()
}

// TestActiveAndPassiveBothMustAgree: a server is picked only when the active
// and the passive verdicts are both up; half-open gives a trial only while
// the active check says up.
func TestActiveAndPassiveBothMustAgree(t *testing.T) {
	p := newPool(balance.RoundRobin, 2, 1, time.Duration(sec))
	s := p.ss[0]
	picked := func() int {
		n := 0
		for range 20 {
			x := p.b.Pick(0, nil)
			if x == s {
				n++
			}
			if x != nil {
				x.Release()
			}
		}
		return n
	}
	s.SetActiveUp(false)
	if s.Healthy() || picked() != 0 {
		t.Fatal("active down: must not be picked")
	}
	p.ps[0].Failure(0) // passive ejects too
	s.SetActiveUp(true)
	if s.Healthy() || picked() != 0 {
		t.Fatal("active up, passive ejected: must not be picked")
	}
	s.SetActiveUp(false)
	p.tick(sec) // half-open, but the active check says down
	if !s.HalfOpen() || picked() != 0 {
		t.Fatal("half-open with active down: no trial may go")
	}
	s.SetActiveUp(true)
	if picked() != 1 {
		t.Fatal("half-open with active up: exactly one trial")
	}
	p.ps[0].Success()
	if !s.Healthy() || picked() != 10 {
		t.Fatal("both up: served in turn")
	}
	// Tick re-asserts the passive verdict, never the active one.
	s.SetActiveUp(false)
	p.tick(2 * sec)
	if s.Healthy() {
		t.Fatal("Tick overrode the active verdict")
	}
}

// TestPassiveTrialConcurrent: many goroutines running attempts against a
// flapping server (meant for -race) until it has been ejected and returned
// a few times: the transitions alternate, trials happen, and every Pick is
// released.
func TestPassiveTrialConcurrent(t *testing.T) {
	p := newPool(balance.LeastConnections, 3, 2, 200*time.Microsecond)
	var clock atomic.Int64
	var trials atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				now := clock.Load()
				s := p.b.Pick(uint64(g*100000+i), nil)
				if s == nil {
					continue
				}
				j := p.index(s)
				if j == 0 && s.TrialTaken() {
					trials.Add(1)
				}
				if j == 0 && now/int64(time.Millisecond)%2 == 0 { // flaps every 1ms of clock
					p.ps[0].Failure(now)
				} else {
					p.ps[j].Success()
				}
				s.Release()
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for (len(p.fs[0].get()) < 6 || trials.Load() < 3) && time.Now().Before(deadline) {
		clock.Add(int64(100 * time.Microsecond))
		p.tick(clock.Load())
		time.Sleep(20 * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	p.tick(clock.Load())
	ev := p.fs[0].get()
	for i, up := range ev {
		if up != (i%2 == 1) {
			t.Fatalf("event %d up=%v: transitions do not alternate: %v", i, up, ev)
		}
	}
	if len(ev) < 6 || trials.Load() < 3 {
		t.Fatalf("not exercised within 5s: events %d trials %d", len(ev), trials.Load())
	}
	if p.b.Active() != 0 {
		t.Fatalf("Balancer.Active() = %d", p.b.Active())
	}
	t.Logf("transitions %d, trials observed %d", len(ev), trials.Load())
}
