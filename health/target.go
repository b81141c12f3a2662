package health

import "time"

// Target is a server checked by the active [Checker]. Addr is the host:port
// that probes dial; SetActiveUp records the result and reports whether the
// server's active flag changed. *balance.Server satisfies Target.
//
// Targets are kept across [Checker.Update] by identity, so a Target must be
// comparable and should be a pointer (two distinct pointers with the same
// Addr are two targets). Both methods must be safe for concurrent use.
type Target interface {
	Addr() string
	SetActiveUp(up bool) (changed bool)
}

// PassiveTarget is a server watched by a [Passive] tracker. SetPassiveUp
// records the passive verdict and reports whether the flag changed; it is
// called from the data path, so it must be lock-free and allocation-free
// (*balance.Server's is an atomic). *balance.Server satisfies PassiveTarget.
type PassiveTarget interface {
	Addr() string
	SetPassiveUp(up bool) (changed bool)
}

// TrialTarget is a PassiveTarget that admits the half-open trial itself, at
// pick time: *balance.Server satisfies it. When a [Passive]'s target
// implements TrialTarget, the end of a cooldown calls SetPassiveHalfOpen
// (instead of SetPassiveUp(true)), after which the target's balancer hands
// exactly one pick to it — the trial — and passes it over for every other
// pick; the data path then reports the trial's outcome with Passive.Success
// or Passive.Failure as for any attempt, and needs no Passive.Admit.
//
// SetPassiveHalfOpen enters half-open with one trial available and reports
// whether the state changed (no change, and the trial's state kept, if it
// was half-open already). TrialTaken reports whether the trial has been
// handed out and its outcome is still pending. RearmTrial makes a handed-out
// trial available again (Passive calls it when the trial's outcome has not
// come within Cooldown). SetPassiveUp(true/false) ends half-open. All
// methods must be lock-free and safe for concurrent use.
type TrialTarget interface {
	PassiveTarget
	SetPassiveHalfOpen() (changed bool)
	TrialTaken() bool
	RearmTrial() bool
}

// epoch anchors [Now]; time.Since on it reads the monotonic clock.
var epoch = time.Now()

// Now returns monotonic nanoseconds since process start: the clock that
// [Passive] and [Sweeper] use. Callers may pass any int64 nanosecond clock
// to a Passive instead, as long as all calls on that Passive (Failure,
// Success, Admit, Tick) use the same one.
func Now() int64 { return int64(time.Since(epoch)) }
