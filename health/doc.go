// Package health owns Sluice's server health checking: the active prober
// (periodic TCP connects or minimal HTTP/1.1 GETs, see [Checker]), the passive
// tracker that ejects a server after consecutive failures on real traffic
// (see [Passive]), and the hysteresis state machine both build on
// (see [Hysteresis]).
//
// The package never imports balance, l4, l7, engine or config. It talks to
// servers only through the narrow [Target] and [PassiveTarget] interfaces,
// which *balance.Server satisfies implicitly: active results go to
// SetActiveUp, passive results to SetPassiveUp, and the server is healthy
// only when both flags are up.
//
// Decisions are deterministic: the state machines take results and
// timestamps from their caller (time is injected as int64 nanoseconds, see
// [Now]), so tests feed sequences and never sleep. Only [Checker] and
// [Sweeper] run goroutines; both are bounded (one goroutine per checked
// target, one per Sweeper) and stop, waiting with a timeout, on Stop.
package health
