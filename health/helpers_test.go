package health

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTarget records flags and transitions; it satisfies Target and
// PassiveTarget the way *balance.Server does.
type fakeTarget struct {
	addr    string
	active  atomic.Bool
	passive atomic.Bool
	damped  atomic.Bool

	mu     sync.Mutex
	events []event
}

type event struct {
	up     bool
	reason string
	at     time.Time
}

func newFake(addr string) *fakeTarget {
	f := &fakeTarget{addr: addr}
	f.active.Store(true)
	f.passive.Store(true)
	return f
}

func (f *fakeTarget) Addr() string              { return f.addr }
func (f *fakeTarget) SetActiveUp(up bool) bool  { return f.active.Swap(up) != up }
func (f *fakeTarget) SetPassiveUp(up bool) bool { return f.passive.Swap(up) != up }
func (f *fakeTarget) SetDamped(on bool) bool    { return f.damped.Swap(on) != on }
func (f *fakeTarget) record(up bool, reason string) {
	f.mu.Lock()
	f.events = append(f.events, event{up, reason, time.Now()})
	f.mu.Unlock()
}

func (f *fakeTarget) Events() []event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event(nil), f.events...)
}

// onTransition is an OnTransition hook that records into the fakeTarget.
func onTransition(t Target, up bool, reason string) { t.(*fakeTarget).record(up, reason) }

func onPassive(t PassiveTarget, up bool, reason string) { t.(*fakeTarget).record(up, reason) }

// waitFor polls cond every 5ms until it holds or d passes; it returns the
// time it took, and fails the test on timeout.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// outsideRunner starts a goroutine outside any synctest bubble and returns
// a function that runs f on it and waits for it. A backend (re)started from
// inside a bubble must be started through it: its accept loop, blocked on
// the network, is never durably blocked, so inside the bubble it would stop
// the bubble's clock for good.
func outsideRunner(t *testing.T) func(f func()) {
	req, done := make(chan func()), make(chan struct{})
	go func() {
		for f := range req {
			f()
			done <- struct{}{}
		}
	}()
	t.Cleanup(func() { close(req) })
	return func(f func()) { req <- f; <-done }
}

// probeLog records when each target's probes start, on the clock of the
// checker's goroutine (the bubble's fake clock under synctest): set its
// hook as ActiveOptions.ProxyHeader, which a probe calls first.
type probeLog struct {
	mu     sync.Mutex
	starts map[Target][]time.Time
}

func newProbeLog() *probeLog { return &probeLog{starts: map[Target][]time.Time{}} }

func (p *probeLog) hook(t Target) []byte {
	p.mu.Lock()
	p.starts[t] = append(p.starts[t], time.Now())
	p.mu.Unlock()
	return nil
}

func (p *probeLog) of(t Target) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.starts[t]...)
}

var (
	_ Target        = (*fakeTarget)(nil)
	_ PassiveTarget = (*fakeTarget)(nil)
	_ DampTarget    = (*fakeTarget)(nil)
)
