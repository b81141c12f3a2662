package health

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [FlapOptions] applied to zero fields, and the bound on
// MaxTransitions (the tracker keeps that many transition times).
const (
	DefaultFlapMaxTransitions = 4
	DefaultFlapWindow         = time.Minute
	DefaultFlapPenalty        = 30 * time.Second
	DefaultFlapMaxPenalty     = 10 * time.Minute
	MaxFlapTransitions        = 1000
)

// FlapOptions configures flap damping of one server (health.flap in the
// configuration). Zero fields take the defaults above; negative ones, a
// MaxTransitions above MaxFlapTransitions or a MaxPenalty below Penalty are
// errors (see Validate).
type FlapOptions struct {
	// MaxTransitions: a server whose health changes state more than this
	// many times within Window is damped. Default 4.
	MaxTransitions int
	// Window is the time over which transitions are counted. Default 1m.
	Window time.Duration
	// Penalty is how long the first damping holds the server out. Each
	// damping that follows the end of the previous one within MaxPenalty
	// doubles it (a "repeat"), up to MaxPenalty. Default 30s.
	Penalty time.Duration
	// MaxPenalty caps the penalty, and is how long a server must go
	// without being damped for its penalty to start again from Penalty.
	// Default 10m.
	MaxPenalty time.Duration
	// Logger receives one Warn record when a server is damped (or held out
	// again at the end of its penalty) and one Info record when it is
	// trusted again. Nil discards.
	Logger *slog.Logger
	// OnDamp, if set, is called once per change: damped true when the
	// server is held out (also when a hold-out is extended at its end:
	// the reason says so), false when it is trusted again. It is called
	// from Transition's or Tick's goroutine, outside the tracker's lock, and
	// must not block.
	OnDamp func(t DampTarget, damped bool, reason string)
}

// Validate reports whether o is usable after defaults.
func (o FlapOptions) Validate() error {
	_, err := o.normalized()
	return err
}

func (o FlapOptions) normalized() (FlapOptions, error) {
	var errs []error
	if o.MaxTransitions < 0 || o.MaxTransitions > MaxFlapTransitions {
		errs = append(errs, fmt.Errorf("health: flap max_transitions %d is not in 1..%d", o.MaxTransitions, MaxFlapTransitions))
	} else if o.MaxTransitions == 0 {
		o.MaxTransitions = DefaultFlapMaxTransitions
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"window", &o.Window, DefaultFlapWindow}, {"penalty", &o.Penalty, DefaultFlapPenalty},
		{"max_penalty", &o.MaxPenalty, max(DefaultFlapMaxPenalty, o.Penalty)}} {
		if *d.v < 0 {
			errs = append(errs, fmt.Errorf("health: flap %s %v is negative", d.name, *d.v))
		} else if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.MaxPenalty < o.Penalty {
		errs = append(errs, fmt.Errorf("health: flap max_penalty %v is shorter than penalty %v", o.MaxPenalty, o.Penalty))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, errors.Join(errs...)
}

// DampTarget is a server that flap damping can hold out: SetDamped(true)
// takes it out of the pick (whatever its health), SetDamped(false) gives it
// back to its health checks; both report whether the flag changed.
// *balance.Server satisfies DampTarget. Both methods must be safe for
// concurrent use.
type DampTarget interface {
	Addr() string
	SetDamped(on bool) (changed bool)
}

// Flap is the flap-damping tracker of one server. It is told every health
// transition of the server (active or passive, up or down: [Flap.Transition])
// and holds the server out when it flaps:
//
//   - a server whose state changes more than MaxTransitions times within
//     Window is damped: SetDamped(true), held out for the current penalty.
//     Its health checks go on meanwhile, and its transitions keep being
//     counted, from the start of the hold-out.
//   - at the end of the penalty ([Flap.Tick] at or after it) a server that
//     changed state more than MaxTransitions times within Window during the
//     hold-out is still flapping: it is held out again for twice the
//     penalty. Otherwise it is trusted again: SetDamped(false), and its
//     health checks alone decide (a server that is down at that moment
//     stays down, no longer damped).
//   - each damping that starts within MaxPenalty of the end of the previous
//     one doubles the penalty (Penalty, 2×, 4×, … capped at MaxPenalty); a
//     server trusted for MaxPenalty starts again from Penalty.
//
// Times are int64 nanoseconds from one clock (see [Now]); tests feed
// sequences. Transition and Tick take a mutex (they run once per health
// transition and once per sweep, never per request); Damped is lock-free.
// A Flap must not be copied; keep it with its server across reloads.
type Flap struct {
	_ noCopy

	t      DampTarget
	damped atomic.Bool
	until  atomic.Int64

	mu      sync.Mutex
	o       FlapOptions
	times   []int64 // ring of the newest transition times, len MaxTransitions+1
	n, next int     // transitions kept, next slot
	since   int64   // start of the current hold-out
	level   int     // dampings in a row: the current penalty is Penalty<<(level-1)
	lastEnd int64   // end of the last hold-out
}

// NewFlap returns a tracker for t with no transitions recorded; t is not
// touched. Options are normalized; invalid ones are replaced by the
// defaults (the config package validates them first: see Validate).
func NewFlap(t DampTarget, o FlapOptions) *Flap {
	f := &Flap{t: t}
	f.SetOptions(o)
	return f
}

// SetOptions changes the options and keeps the state (a server held out
// stays held out until its current penalty ends); the newest transitions
// are kept up to the new MaxTransitions+1.
func (f *Flap) SetOptions(o FlapOptions) {
	n, err := o.normalized()
	if err != nil {
		n, _ = FlapOptions{Logger: o.Logger, OnDamp: o.OnDamp}.normalized()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.kept()
	f.o = n
	f.times = make([]int64, n.MaxTransitions+1)
	f.n, f.next = 0, 0
	for _, t := range old[max(0, len(old)-len(f.times)):] {
		f.push(t)
	}
}

// Target returns the tracked server.
func (f *Flap) Target() DampTarget { return f.t }

// Damped reports whether the server is held out and, if so, until when.
func (f *Flap) Damped() (damped bool, until int64) {
	if !f.damped.Load() {
		return false, 0
	}
	return true, f.until.Load()
}

// Transition records one change of the server's health state at now and
// damps the server if it changed state more than MaxTransitions times
// within Window.
func (f *Flap) Transition(now int64) {
	f.mu.Lock()
	f.push(now)
	if f.damped.Load() || !f.flapping(now) {
		f.mu.Unlock()
		return
	}
	if f.level > 0 && now-f.lastEnd >= int64(f.o.MaxPenalty) {
		f.level = 0 // trusted long enough: start again from Penalty
	}
	reason := f.holdLocked(now, "flapping: "+strconv.Itoa(f.o.MaxTransitions+1)+" state changes within "+
		FormatDuration(f.o.Window))
	f.mu.Unlock()
	f.report(true, reason)
}

// Tick ends a hold-out whose penalty is over at now: the server is trusted
// again, or held out again for twice as long if it kept flapping.
func (f *Flap) Tick(now int64) {
	f.mu.Lock()
	if !f.damped.Load() || now < f.until.Load() {
		f.mu.Unlock()
		return
	}
	held := time.Duration(now - f.since)
	if f.flapping(now) {
		reason := f.holdLocked(now, "still flapping: "+strconv.Itoa(f.o.MaxTransitions+1)+
			" state changes within "+FormatDuration(f.o.Window)+" while held out")
		f.mu.Unlock()
		f.report(true, reason)
		return
	}
	f.damped.Store(false)
	f.lastEnd = now
	f.mu.Unlock()
	f.t.SetDamped(false)
	f.report(false, "trusted again after "+FormatDuration(held.Round(time.Second))+" held out by flap damping")
}

// Release ends a hold-out at once (flap damping turned off by a reload)
// and forgets the transitions and repeats.
func (f *Flap) Release() {
	f.mu.Lock()
	was := f.damped.Swap(false)
	f.n, f.next, f.level = 0, 0, 0
	f.mu.Unlock()
	f.t.SetDamped(false)
	if was {
		f.report(false, "flap damping turned off")
	}
}

// holdLocked starts (or extends) a hold-out at now with the next penalty
// and returns the reason, completed with the penalty. Called with f.mu held.
func (f *Flap) holdLocked(now int64, why string) string {
	f.level++
	p := f.o.Penalty
	for i := 1; i < f.level && p < f.o.MaxPenalty; i++ {
		p *= 2
	}
	p = min(p, f.o.MaxPenalty)
	f.until.Store(now + int64(p))
	f.damped.Store(true)
	f.since = now
	f.n, f.next = 0, 0 // count afresh from the start of the hold-out
	f.t.SetDamped(true)
	why += "; held out for " + FormatDuration(p)
	if f.level > 1 {
		why += " (repeat " + strconv.Itoa(f.level-1) + ")"
	}
	return why
}

// flapping reports whether the ring holds MaxTransitions+1 transitions
// within Window of now. Called with f.mu held.
func (f *Flap) flapping(now int64) bool {
	if f.n < len(f.times) {
		return false
	}
	oldest := f.times[f.next] // the ring is full: next is the oldest
	return now-oldest <= int64(f.o.Window)
}

func (f *Flap) push(t int64) {
	f.times[f.next] = t
	f.next = (f.next + 1) % len(f.times)
	if f.n < len(f.times) {
		f.n++
	}
}

// kept returns the transition times in the ring, oldest first.
func (f *Flap) kept() []int64 {
	out := make([]int64, 0, f.n)
	for i := range f.n {
		out = append(out, f.times[(f.next-f.n+i+len(f.times))%len(f.times)])
	}
	return out
}

func (f *Flap) report(damped bool, reason string) {
	f.mu.Lock()
	o := f.o
	f.mu.Unlock()
	if damped {
		o.Logger.Warn("flap damping: server held out", "server", f.t.Addr(), "reason", reason)
	} else {
		o.Logger.Info("flap damping: server trusted again", "server", f.t.Addr(), "reason", reason)
	}
	if o.OnDamp != nil {
		o.OnDamp(f.t, damped, reason)
	}
}

// FormatDuration renders d as a configuration would write it: "30s", "1m",
// "1m30s", "2h", "250ms" (time.Duration.String without the zero units).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
