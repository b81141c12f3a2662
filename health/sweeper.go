package health

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSweepPeriod is the Sweeper's period when none is given.
const DefaultSweepPeriod = 100 * time.Millisecond

// Sweeper runs one goroutine that calls Tick([Now]()) on a set of [Passive]
// trackers and a set of [Flap] trackers every period, so cooldowns and
// flap-damping penalties end on time and transitions are logged off the
// data path. Set, SetFlaps and Stop are safe for concurrent use.
type Sweeper struct {
	set    atomic.Pointer[[]*Passive]
	flaps  atomic.Pointer[[]*Flap]
	period time.Duration
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// NewSweeper starts a Sweeper ticking ps every period (DefaultSweepPeriod
// when period <= 0). It must be stopped with Stop.
func NewSweeper(period time.Duration, ps []*Passive) *Sweeper {
	if period <= 0 {
		period = DefaultSweepPeriod
	}
	s := &Sweeper{period: period, stop: make(chan struct{}), done: make(chan struct{})}
	s.Set(ps)
	s.SetFlaps(nil)
	go s.run()
	return s
}

// Set replaces the swept trackers from the next period on. The Sweeper
// keeps its own copy of ps.
func (s *Sweeper) Set(ps []*Passive) {
	cp := append([]*Passive(nil), ps...)
	s.set.Store(&cp)
}

// Stop stops the goroutine and waits for it to finish the sweep in
// progress, at most one second; it returns an error if the sweep is still
// running then (an OnTransition hook that blocks). Stop is idempotent.
func (s *Sweeper) Stop() error {
	s.once.Do(func() { close(s.stop) })
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-s.done:
		return nil
	case <-t.C:
		return errors.New("health: passive sweep still running 1s after Stop")
	}
}

// SetFlaps replaces the swept flap trackers from the next period on. The
// Sweeper keeps its own copy of fs.
func (s *Sweeper) SetFlaps(fs []*Flap) {
	cp := append([]*Flap(nil), fs...)
	s.flaps.Store(&cp)
}

func (s *Sweeper) run() {
	defer close(s.done)
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := Now()
		for _, p := range *s.set.Load() {
			p.Tick(now)
		}
		for _, f := range *s.flaps.Load() {
			f.Tick(now)
		}
	}
}
