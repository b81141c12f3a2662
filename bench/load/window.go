package load

import (
	"context"
	"sync/atomic"
	"time"
)

// window tells workers whether to record (after the warm-up) and when to stop.
type window struct {
	measuring atomic.Bool
	stop      atomic.Bool
}

// run sleeps through warmup, opens the measurement window for d (or until ctx ends),
// then sets stop. It calls mark(true) just before the window opens and mark(false) just
// after it closes, when mark is not nil. It returns the window's real length.
func (w *window) run(ctx context.Context, warmup, d time.Duration, mark func(open bool)) time.Duration {
	if warmup > 0 {
		select {
		case <-time.After(warmup):
		case <-ctx.Done():
		}
	}
	if mark != nil {
		mark(true)
	}
	start := time.Now()
	w.measuring.Store(true)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	el := time.Since(start)
	w.stop.Store(true)
	if mark != nil {
		mark(false)
	}
	return el
}

// defaults fills zero options.
func defaults(conns *int, timeout *time.Duration) {
	if *conns <= 0 {
		*conns = 1
	}
	if *timeout <= 0 {
		*timeout = 5 * time.Second
	}
}
