package app

import (
	"log/slog"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/config"
)

// flapOptions translates health.flap; ok is false when flap damping is off
// (no flap block): then no tracker exists and behaviour is exactly as
// without the feature.
func flapOptions(c *config.Backend, log *slog.Logger) (o health.FlapOptions, ok bool) {
	f := c.Health.Flap
	if f == nil {
		return health.FlapOptions{}, false
	}
	return health.FlapOptions{
		MaxTransitions: f.MaxTransitions,
		Window:         f.Window,
		Penalty:        f.Penalty,
		MaxPenalty:     f.MaxPenalty,
		Logger:         log.With("backend", c.Name, "check", "flap"),
	}, true
}

// commitFlap gives srv a flap tracker with o, updates the one it has, or
// (flap damping turned off) releases and drops it. Called from commit.
func commitFlap(srv *balance.Server, st *srvState, o health.FlapOptions, on bool) {
	switch f := st.flap.Load(); {
	case !on:
		if f != nil {
			st.flap.Store(nil)
			f.Release()
		}
	case f == nil:
		st.flap.Store(health.NewFlap(srv, o))
	default:
		f.SetOptions(o)
	}
}

// healthTransition tells t's flap tracker (if any) that t's health
// changed state; the active and passive hooks call it once per transition,
// from checker and sweeper goroutines.
func healthTransition(t any) {
	s, ok := t.(*balance.Server)
	if !ok {
		return
	}
	if st := stateOf(s); st != nil {
		if f := st.flap.Load(); f != nil {
			f.Transition(health.Now())
		}
	}
}

// healthyNow is the sluice_backend_health gauge: healthy and not held out
// by flap damping.
func healthyNow(s *balance.Server) func() bool {
	return func() bool { return s.Healthy() && !s.Damped() }
}
