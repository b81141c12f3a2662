package engine

import (
	"context"
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// LoopTicker is called on every event loop of the engine once per
// Options.TickInterval, on that loop, with the coarse clock (Now). It must
// not block.
type LoopTicker func(el gnet.EventLoop, now int64)

type tickerReg struct{ f LoopTicker }

// AddTicker registers f to run on every loop at each tick until the
// returned function is called (which does not wait for a running tick).
func (e *Engine) AddTicker(f LoopTicker) (remove func()) {
	r := &tickerReg{f: f}
	e.tickMu.Lock()
	old := e.tickers.Load()
	var next []*tickerReg
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, r)
	e.tickers.Store(&next)
	e.tickMu.Unlock()
	return func() {
		e.tickMu.Lock()
		defer e.tickMu.Unlock()
		cur := *e.tickers.Load()
		next := make([]*tickerReg, 0, len(cur))
		for _, x := range cur {
			if x != r {
				next = append(next, x)
			}
		}
		e.tickers.Store(&next)
	}
}

// runTickers runs the registered tickers for the loop l.
func (l *loop) runTickers(now int64) {
	if ts := l.e.tickers.Load(); ts != nil {
		for _, r := range *ts {
			r.f(l.el, now)
		}
	}
}

// Now is the engine's coarse clock in Unix nanoseconds, advanced once per
// TickInterval (the reference for timeouts armed on the loops).
func (e *Engine) Now() int64 { return e.now.Load() }

// TickInterval returns the resolution of Now and of the tickers.
func (e *Engine) TickInterval() time.Duration { return e.opts.TickInterval }

// Loops returns the number of event loops.
func (e *Engine) Loops() int { return e.nloops }

// Enroll hands the connection c to an event loop (chosen round robin) with h
// as its handler and returns once h.OnOpen has run there. The engine takes c
// over: c is closed (the loop holds its own descriptor) whatever happens.
// Call it off the event loops.
func (e *Engine) Enroll(c Stream, h ConnHandler) error {
	if e.closed.Load() {
		_ = c.Close()
		return ErrStopped
	}
	if _, err := e.cli.EnrollContext(c, h); err != nil {
		return err
	}
	return nil
}

// EnrollOn hands c to the event loop el with h as its handler and waits
// until h.OnOpen has run there (nil) or the loop could not take it (the
// error; OnOpen then never runs). c is closed in every case (the loop holds
// its own descriptor). Call it off the event loops.
func (e *Engine) EnrollOn(el gnet.EventLoop, c Stream, h ConnHandler) error {
	if e.closed.Load() {
		_ = c.Close()
		return ErrStopped
	}
	ch, err := el.Enroll(gnet.NewContext(context.Background(), h), c)
	if err != nil {
		_ = c.Close()
		return err
	}
	r, ok := <-ch
	if !ok {
		return errors.New("engine: event loop did not register the connection")
	}
	return r.Err
}
