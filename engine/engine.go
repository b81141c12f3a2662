package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Options configure an Engine. The zero value of every field has a documented default.
type Options struct {
	// Loops is the number of event loops. Default: runtime.GOMAXPROCS(0),
	// which Go sets from the container's CPU limit (cgroup quota) where
	// runtime.NumCPU counts every CPU of the host: a container limited to
	// two CPUs runs two loops, not one per host CPU.
	Loops int
	// ReadBufferCap is the per-loop read buffer in bytes. Default: 64 KiB.
	ReadBufferCap int
	// SweepInterval is how often each loop looks for idle sessions. Default: 200ms.
	SweepInterval time.Duration
	// TickInterval is how often the loops run the tickers added with
	// AddTicker (l7 timeouts); it is also the resolution of Now. Default:
	// 25ms, and never longer than SweepInterval.
	TickInterval time.Duration
	// Logger receives gnet's warnings and errors. Default: slog.Default().
	Logger *slog.Logger
}

// Counter is a monotonically increasing counter (a *metrics.Counter satisfies it).
// Add must be safe for concurrent use and must not allocate.
type Counter interface{ Add(n int) }

// SessionOptions are shared by every session of one frontend. They must not be
// modified after the first session that uses them has started.
type SessionOptions struct {
	// IdleTimeout closes a session with no traffic in either direction for this
	// long. Must be > 0.
	IdleTimeout time.Duration
	// BytesIn counts bytes received from clients, BytesOut bytes sent to them.
	// Both must be non-nil; use Discard when not needed.
	BytesIn, BytesOut Counter
	// OnEnd is called exactly once per session when both connections are
	// closed, from an event loop or a pipe goroutine: it must not block.
	// The *Session must not be kept after OnEnd returns.
	OnEnd func(s *Session)
	// CloseOnEOF ends the whole session when either side ends its stream
	// (after what it sent was passed on), instead of passing the half-close
	// on: what an upgraded HTTP connection (WebSocket) expects.
	CloseOnEOF bool
}

// Discard is a Counter that counts nothing.
var Discard Counter = discard{}

type discard struct{}

func (discard) Add(int) {}

// ErrStopped is returned by Proxy once the engine is stopping.
var ErrStopped = errors.New("engine: stopped")

// Engine runs the event loops. Its methods are safe for concurrent use.
type Engine struct {
	opts   Options
	cli    *gnet.Client
	h      *handler
	loops  sync.Map // gnet.EventLoop -> *loop
	now    atomic.Int64
	active atomic.Int64 // sessions not yet ended
	closed atomic.Bool

	pipeMu sync.Mutex
	pipes  map[*Session]struct{}

	tickMu  sync.Mutex
	tickers atomic.Pointer[[]*tickerReg]
	nloops  int
}

// New creates an Engine; call Start to run it.
func New(opts Options) (*Engine, error) {
	if opts.Loops <= 0 {
		opts.Loops = runtime.GOMAXPROCS(0)
	}
	if opts.ReadBufferCap <= 0 {
		opts.ReadBufferCap = 64 << 10
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 200 * time.Millisecond
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = 25 * time.Millisecond
	}
	opts.TickInterval = min(opts.TickInterval, opts.SweepInterval)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{opts: opts, pipes: make(map[*Session]struct{}), nloops: opts.Loops}
	e.now.Store(time.Now().UnixNano())
	e.h = &handler{e: e}
	cli, err := gnet.NewClient(e.h,
		gnet.WithNumEventLoop(opts.Loops),
		gnet.WithReadBufferCap(opts.ReadBufferCap),
		gnet.WithTicker(true),
		// Enrolled connections come from Go's accept or dialer, which have
		// already set TCP_NODELAY and keep-alive: TCPDelay only tells gnet
		// not to set them a second time (five setsockopt calls per
		// connection), it turns nothing off.
		gnet.WithTCPNoDelay(gnet.TCPDelay),
		gnet.WithLogger(gnetLogger{opts.Logger}),
	)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.cli = cli
	return e, nil
}

// Start starts the event loops.
func (e *Engine) Start() error {
	if err := e.cli.Start(); err != nil {
		return fmt.Errorf("engine: start event loops: %w", err)
	}
	return nil
}

// Sessions returns the number of sessions that have not ended yet.
func (e *Engine) Sessions() int64 { return e.active.Load() }

// Stop closes every remaining session at once and stops the event loops.
// Drain first (stop accepting, wait for Sessions to fall) for a graceful stop.
func (e *Engine) Stop(ctx context.Context) error {
	if e.closed.Swap(true) {
		return nil
	}
	e.abortAll(ctx)
	done := make(chan error, 1)
	go func() { done <- e.cli.Stop() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AbortAll closes every session now, with close reason Shutdown, and waits
// (up to ctx) until all have ended.
func (e *Engine) AbortAll(ctx context.Context) { e.abortAll(ctx) }

// Abort closes, with close reason Shutdown, every session whose User the
// match function accepts (for example the sessions of a drained server). It
// does not wait; match runs on event-loop goroutines and must not block.
func (e *Engine) Abort(match func(user any) bool) {
	e.abortWhere(context.Background(), match)
}

func (e *Engine) abortAll(ctx context.Context) {
	e.abortWhere(ctx, nil)
	// Wait until the loops and pipes have let go of their sessions.
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for e.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// abortWhere closes the sessions match accepts (all when match is nil).
func (e *Engine) abortWhere(ctx context.Context, match func(user any) bool) {
	e.loops.Range(func(_, v any) bool {
		l := v.(*loop)
		_ = l.el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			l.abortWhere(match)
			return nil
		}))
		return true
	})
	e.pipeMu.Lock()
	for s := range e.pipes {
		if match == nil || match(s.User) {
			s.pipeAbort(Shutdown, nil)
		}
	}
	e.pipeMu.Unlock()
}

// loopFor returns the state of the loop el, creating it on first use.
func (e *Engine) loopFor(el gnet.EventLoop) *loop {
	if v, ok := e.loops.Load(el); ok {
		return v.(*loop)
	}
	v, _ := e.loops.LoadOrStore(el, &loop{e: e, el: el})
	return v.(*loop)
}

// tick runs on gnet's ticker goroutine: it advances the coarse clock and posts
// a sweep onto every loop.
func (e *Engine) tick() time.Duration {
	now := time.Now().UnixNano()
	e.now.Store(now)
	e.loops.Range(func(_, v any) bool {
		l := v.(*loop)
		_ = l.el.Execute(context.Background(), l)
		return true
	})
	return e.opts.TickInterval
}

// gnetLogger forwards gnet's warnings and errors to slog; its chatter is dropped.
type gnetLogger struct{ l *slog.Logger }

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (g gnetLogger) Warnf(f string, a ...any) {
	g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Errorf(f string, a ...any) {
	g.l.Error(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Fatalf(f string, a ...any) {
	g.l.Error(fmt.Sprintf(f, a...), "component", "gnet")
}
