package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// stopGrace is how long Stop waits beyond Timeout for goroutines to finish.
// In-flight probes are aborted at once, so this is only scheduling slack.
const stopGrace = time.Second

// Checker runs active health checks: one goroutine per target, each probing
// its target every Interval (±10% jitter, first probe at a random offset in
// the first Interval), feeding the results to a [Hysteresis] and calling
// SetActiveUp, the Logger and OnTransition once per transition.
//
// All methods are safe for concurrent use. The number of goroutines is the
// number of targets (plus, briefly, those of removed targets finishing an
// aborted probe). A Checker must be stopped with Stop.
type Checker struct {
	opts   atomic.Pointer[ActiveOptions] // normalized; replaced by SetOptions
	ctx    context.Context               // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	workers map[Target]*worker
	stopped bool
}

// worker is one target's check loop.
type worker struct {
	t      Target
	cancel context.CancelFunc
	up     atomic.Bool // mirrors h.Up() for Checker.Up
	h      Hysteresis  // owned by the worker goroutine
	p      prober      // owned by the worker goroutine
}

// NewChecker validates opts and starts checking targets. Each target's
// active flag is first set to !opts.StartDown. Duplicate targets are checked
// once.
func NewChecker(opts ActiveOptions, targets []Target) (*Checker, error) {
	o, err := opts.normalized()
	if err != nil {
		return nil, err
	}
	c := &Checker{workers: make(map[Target]*worker, len(targets))}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.opts.Store(o)
	c.Update(targets)
	return c, nil
}

// SetOptions validates opts and applies them to every target from its next
// probe on, keeping each target's state and current run (see
// [Hysteresis.SetThresholds]). On error nothing changes. StartDown applies
// to targets started afterwards.
func (c *Checker) SetOptions(opts ActiveOptions) error {
	o, err := opts.normalized()
	if err != nil {
		return err
	}
	c.opts.Store(o)
	return nil
}

// Update makes targets the checked set: targets already checked keep their
// goroutine and state, new ones start (with the current StartDown), and
// removed ones stop (their in-flight probe is aborted; Update does not wait,
// Stop does). After Stop, Update does nothing.
func (c *Checker) Update(targets []Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	keep := make(map[Target]bool, len(targets))
	for _, t := range targets {
		keep[t] = true
	}
	for t, w := range c.workers {
		if !keep[t] {
			w.cancel()
			delete(c.workers, t)
		}
	}
	o := c.opts.Load()
	for t := range keep {
		if _, ok := c.workers[t]; ok {
			continue
		}
		w := &worker{t: t, h: NewHysteresis(o.HealthyThreshold, o.UnhealthyThreshold, o.StartDown)}
		w.p.addr = t.Addr()
		w.up.Store(!o.StartDown)
		if t.SetActiveUp(!o.StartDown) {
			o.Logger.Debug("health check starting", "server", w.p.addr, "check", o.Type.String(), "up", !o.StartDown)
		}
		var ctx context.Context
		ctx, w.cancel = context.WithCancel(c.ctx)
		c.workers[t] = w
		c.wg.Add(1)
		go c.run(ctx, w)
	}
}

// Up reports the checker's view of t: whether it is up, and whether t is
// checked at all.
func (c *Checker) Up(t Target) (up, ok bool) {
	c.mu.Lock()
	w := c.workers[t]
	c.mu.Unlock()
	if w == nil {
		return false, false
	}
	return w.up.Load(), true
}

// Len returns the number of checked targets.
func (c *Checker) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.workers)
}

// Stop stops every check, aborting probes in flight, and waits for the
// goroutines to finish, at most Timeout+1s. It returns an error if some did
// not finish in time. Stop is idempotent; targets' flags are left as they are.
func (c *Checker) Stop() error {
	c.mu.Lock()
	c.stopped = true
	clear(c.workers)
	c.mu.Unlock()
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	wait := c.opts.Load().Timeout + stopGrace
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("health: checks still running %v after Stop", wait)
	}
}

// run is the worker goroutine: wait, probe, observe, report, repeat.
func (c *Checker) run(ctx context.Context, w *worker) {
	defer c.wg.Done()
	o := c.opts.Load()
	timer := time.NewTimer(rand.N(o.Interval) + 1)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		o = c.opts.Load()
		var hdr []byte
		if o.ProxyHeader != nil {
			hdr = o.ProxyHeader(w.t)
		}
		ok, reason := w.p.probe(ctx, o, hdr)
		if ctx.Err() != nil {
			return // aborted by Update or Stop: the result means nothing
		}
		if o.OnProbe != nil {
			o.OnProbe(w.t, ok, reason)
		}
		w.h.SetThresholds(o.HealthyThreshold, o.UnhealthyThreshold)
		if flipped, up := w.h.Observe(ok); flipped {
			w.up.Store(up)
			w.t.SetActiveUp(up)
			c.report(o, w, up, reason)
		}
		timer.Reset(jitter(o.Interval))
	}
}

// report logs one transition and calls OnTransition.
func (c *Checker) report(o *ActiveOptions, w *worker, up bool, reason string) {
	if up {
		o.Logger.Info("health check passed, server up", "server", w.p.addr, "check", o.Type.String(),
			"reason", reason, "successes", o.HealthyThreshold)
	} else {
		o.Logger.Warn("health check failed, server down", "server", w.p.addr, "check", o.Type.String(),
			"reason", reason, "failures", o.UnhealthyThreshold)
	}
	if o.OnTransition != nil {
		o.OnTransition(w.t, up, reason)
	}
}

// jitter returns d ±10%, uniformly.
func jitter(d time.Duration) time.Duration {
	span := d / 5
	if span <= 0 {
		return d
	}
	return d - d/10 + rand.N(span+1)
}
