// Package health owns Sluice's server health checking: the active prober
// (periodic TCP connects or minimal HTTP/1.1 GETs, see [Checker]), the passive
// tracker that ejects a server after consecutive failures on real traffic
// (see [Passive]), and the hysteresis state machine both build on
// (see [Hysteresis]).
//
// The package never imports balance, l4, l7, engine or config (its tests
// use balance to check the two together). It talks to servers only through
// the narrow [Target], [PassiveTarget] and [TrialTarget] interfaces, which
// *balance.Server satisfies implicitly: active results go to SetActiveUp,
// passive results to SetPassiveUp (and SetPassiveHalfOpen at the end of a
// cooldown, after which the balancer lets exactly one pick through as the
// trial), and the server is healthy only when both verdicts are up.
//
// Wiring (internal/app): one [Checker] per backend with active checks, one
// [Passive] per server (kept in the server's health attachment across
// reloads) and one [Sweeper] ticking them. The data path picks a server as
// usual and, after each attempt, calls Passive.Failure(Now()) for a failure
// that counts against the server (connect error, timeout, reset, 5xx) or
// Passive.Success() otherwise. Nothing else is needed for the half-open
// trial: the balancer admits it.
//
// Decisions are deterministic: the state machines take results and
// timestamps from their caller (time is injected as int64 nanoseconds, see
// [Now]), so tests feed sequences and never sleep. Only [Checker] and
// [Sweeper] run goroutines; both are bounded (one goroutine per checked
// target, one per Sweeper) and stop, waiting with a timeout, on Stop.
package health
