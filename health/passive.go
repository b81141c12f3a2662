package health

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by [NewPassive] and [Passive.SetOptions] to zero fields.
const (
	DefaultPassiveUnhealthyThreshold = 5
	DefaultCooldown                  = 10 * time.Second
)

// PassiveOptions configures a [Passive] tracker. Zero values take the
// defaults; negative values are treated as zero.
type PassiveOptions struct {
	// UnhealthyThreshold: consecutive failures on real traffic (as the
	// caller classifies them: connect error, timeout, 5xx) that eject the
	// server; default 5.
	UnhealthyThreshold int
	// Cooldown: how long an ejected server rests before it is half-open;
	// default 10s. A trial whose outcome is never reported is forgotten
	// after Cooldown, so another trial can be admitted (see [Passive]).
	Cooldown time.Duration
	// Logger receives one Warn record per ejection and one Info record per
	// return, from Tick (never from the data path). Nil discards.
	Logger *slog.Logger
	// OnTransition, if set, is called from Tick once per ejection (up false)
	// and once per return (up true), after the corresponding log record. It
	// must not block.
	OnTransition func(t PassiveTarget, up bool, reason string)
	// OnHalfOpen, if set, is called from Tick when an ejected server's
	// cooldown is over and one trial may go (reason says so). It must not
	// block.
	OnHalfOpen func(t PassiveTarget, reason string)
	// OnTrialFailed, if set, is called from Tick when the half-open trial
	// failed and the server is ejected for another cooldown (not a
	// transition: it was never back). reason names the failure kind. It must
	// not block.
	OnTrialFailed func(t PassiveTarget, reason string)
	// Kinds names the failure kinds the caller passes to FailureOf (kind i
	// is Kinds[i], at most 32), for the reasons given to OnTransition and
	// OnTrialFailed: "5 consecutive failures on live traffic: 5xx". Nil:
	// reasons name no kind.
	Kinds []string
}

// MaxKinds bounds [PassiveOptions.Kinds].
const MaxKinds = 32

// passive tracker states.
const (
	stClosed   uint32 = iota // normal: counting consecutive failures
	stOpen                   // ejected until `until`
	stHalfOpen               // cooldown over: the next outcome decides
	stTrial                  // Admit handed out the one trial, started at trialAt
)

// passiveConfig is the Tick-side part of the options.
type passiveConfig struct {
	log       *slog.Logger
	on        func(t PassiveTarget, up bool, reason string)
	onHalf    func(t PassiveTarget, reason string)
	onTrial   func(t PassiveTarget, reason string)
	kinds     []string
	threshold int64
}

// Passive is the passive health tracker of one server, a circuit breaker
// driven by outcomes of real traffic:
//
//   - closed: Failure counts consecutive failures and Success resets the
//     count. The UnhealthyThreshold-th consecutive failure ejects the server:
//     SetPassiveUp(false), state open until now+Cooldown.
//   - open: outcomes of requests still in flight are ignored. The first Tick
//     at or after the end of the cooldown makes it half-open.
//   - half-open: one trial decides. A Success closes the breaker (count
//     reset, SetPassiveUp(true)); a Failure re-ejects at once for another
//     Cooldown (SetPassiveUp(false)). Who admits the one trial depends on
//     the target:
//   - a [TrialTarget] (*balance.Server) admits it at pick time: Tick calls
//     SetPassiveHalfOpen, and the balancer returns the server to exactly one
//     Pick. The data path only reports outcomes (Failure/Success) after each
//     attempt, as in every state; Admit is not needed (it returns true for
//     the trial, so calling it is harmless). A trial whose outcome has not
//     come Cooldown after Tick first saw it handed out is forgotten: Tick
//     calls RearmTrial so that another trial can go.
//   - any other PassiveTarget: Tick calls SetPassiveUp(true) and the data
//     path must call Admit after the balancer picked this server: exactly
//     ONE caller gets true (the trial); the others get false and must
//     release the server and pick another. Without Admit, traffic flows
//     while half-open and the first reported outcome decides. A trial
//     admitted by Admit whose outcome never comes is forgotten after
//     Cooldown.
//
// Failure, Success and Admit are for the data path: lock-free (atomics only),
// allocation-free, safe for concurrent use, no logging. (The one call that
// ejects or returns a server flips the target's flag, and *balance.Server
// then rebuilds its balancer's Set on the calling goroutine without waiting
// for a lock: once per transition, never per request.) Tick is for one
// background goroutine (see [Sweeper]; concurrent Ticks are serialized); it
// performs the open→half-open step, logs and reports transitions, and
// re-asserts the target's passive state from the tracker's, which repairs
// within one Tick the flag of a server that raced between two transitions.
//
// Times are int64 nanoseconds from one clock per Passive (see [Now]). A
// Passive must not be copied; keep it across reloads with its server (e.g. in
// the server's health attachment) to keep its state.
type Passive struct {
	_ noCopy

	t         PassiveTarget
	tt        TrialTarget // t, if it admits trials itself; else nil
	state     atomic.Uint32
	fails     atomic.Int64
	threshold atomic.Int64
	cooldown  atomic.Int64 // ns
	until     atomic.Int64 // end of the cooldown while open
	trialAt   atomic.Int64 // start of the trial in stTrial
	downs     atomic.Uint64
	returns   atomic.Uint64
	runKinds  atomic.Uint32 // kinds (bit i: Kinds[i]) of the current run of failures
	downKinds atomic.Uint32 // kinds of the run that caused the last ejection
	trialFail atomic.Uint64 // failed half-open trials
	trialKind atomic.Uint32 // kind of the last failed trial
	halfOpens atomic.Uint64 // open → half-open steps (Tick)
	cfg       atomic.Pointer[passiveConfig]

	mu         sync.Mutex // serializes Tick; guards the fields below
	seenDowns  uint64
	seenRets   uint64
	seenTrials uint64
	seenHalf   uint64
	trialSeen  bool  // tt's trial was seen handed out ...
	trialSince int64 // ... from this Tick on
}

// NewPassive returns a closed tracker for t and marks t passively up, so the
// tracker and the target agree. If t implements [TrialTarget], the half-open
// trial is admitted by t's balancer (see [Passive]).
func NewPassive(t PassiveTarget, opts PassiveOptions) *Passive {
	p := &Passive{t: t}
	p.tt, _ = t.(TrialTarget)
	p.SetOptions(opts)
	t.SetPassiveUp(true)
	return p
}

// SetOptions changes the options; the state and the current count are kept.
// Safe for concurrent use with everything else.
func (p *Passive) SetOptions(opts PassiveOptions) {
	th := int64(opts.UnhealthyThreshold)
	if th <= 0 {
		th = DefaultPassiveUnhealthyThreshold
	}
	cd := opts.Cooldown
	if cd <= 0 {
		cd = DefaultCooldown
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p.threshold.Store(th)
	p.cooldown.Store(int64(cd))
	kinds := opts.Kinds[:min(len(opts.Kinds), MaxKinds)]
	p.cfg.Store(&passiveConfig{log: log, on: opts.OnTransition, onHalf: opts.OnHalfOpen,
		onTrial: opts.OnTrialFailed, kinds: kinds, threshold: th})
}

// Target returns the tracked server.
func (p *Passive) Target() PassiveTarget { return p.t }

// noKind is FailureOf's kind for a failure of no named kind.
const noKind = 0xff

// Failure records a failure that counts against the server at time now
// (of no named kind: see FailureOf).
func (p *Passive) Failure(now int64) { p.FailureOf(now, noKind) }

// FailureOf records a failure of kind (an index into
// PassiveOptions.Kinds; out of range: no named kind) that counts against
// the server at time now. Lock-free and allocation-free.
func (p *Passive) FailureOf(now int64, kind uint8) {
	var bit uint32
	if kind < MaxKinds {
		bit = 1 << kind
	}
	switch st := p.state.Load(); st {
	case stClosed:
		if bit != 0 && p.runKinds.Load()&bit == 0 {
			p.runKinds.Or(bit)
		}
		if p.fails.Add(1) < p.threshold.Load() {
			return
		}
		p.until.Store(now + p.cooldown.Load())
		if p.state.CompareAndSwap(stClosed, stOpen) {
			p.fails.Store(0)
			p.downKinds.Store(p.runKinds.Swap(0))
			p.downs.Add(1)
			p.t.SetPassiveUp(false)
		}
	case stHalfOpen, stTrial:
		p.until.Store(now + p.cooldown.Load())
		if p.state.CompareAndSwap(st, stOpen) {
			p.trialKind.Store(bit)
			p.trialFail.Add(1)
			p.t.SetPassiveUp(false)
		}
	}
}

// Success records a successful connection or request. It needs no time,
// so the data path reads no clock on success.
func (p *Passive) Success() {
	switch st := p.state.Load(); st {
	case stClosed:
		if p.fails.Load() != 0 {
			p.fails.Store(0)
			p.runKinds.Store(0)
		}
	case stHalfOpen, stTrial:
		p.fails.Store(0)
		if p.state.CompareAndSwap(st, stClosed) {
			p.returns.Add(1)
			p.t.SetPassiveUp(true)
		}
	}
}

// Admit reports whether the data path may use the server it was just
// offered: always true when closed, true for exactly one caller when
// half-open (the trial), false otherwise. A caller that gets false must
// release the server and try another.
func (p *Passive) Admit(now int64) bool {
	switch p.state.Load() {
	case stClosed:
		return true
	case stHalfOpen:
		p.trialAt.Store(now)
		return p.state.CompareAndSwap(stHalfOpen, stTrial)
	}
	return false
}

// Up reports whether the tracker lets traffic through (closed or
// half-open); false while ejected.
func (p *Passive) Up() bool { return p.state.Load() != stOpen }

// Ejected reports whether the server is ejected and, if so, until when.
func (p *Passive) Ejected() (ejected bool, until int64) {
	if p.state.Load() != stOpen {
		return false, 0
	}
	return true, p.until.Load()
}

// Tick advances time-driven state at now: it makes an ejected server
// half-open once its cooldown is over, forgets a trial older than Cooldown,
// re-asserts the target's passive state, and logs and reports the ejections
// and returns that happened since the previous Tick, once each.
func (p *Passive) Tick(now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg := p.cfg.Load()
	cd := p.cooldown.Load()
	switch st := p.state.Load(); st {
	case stOpen:
		if now >= p.until.Load() && p.state.CompareAndSwap(stOpen, stHalfOpen) {
			p.halfOpens.Add(1)
		}
	case stTrial:
		if now-p.trialAt.Load() >= cd {
			p.state.CompareAndSwap(stTrial, stHalfOpen)
		}
	}
	if p.tt != nil {
		p.trialLocked(now, cd)
	}
	// Re-assert the target's state; if a data-path transition raced with
	// it, the loop applies the newer state (a race after the last check is
	// repaired by the next Tick).
	for range 3 {
		st := p.state.Load()
		p.assert(st)
		if p.state.Load() == st {
			break
		}
	}
	p.reportLocked(cfg)
}

// trialLocked forgets a balancer-admitted trial whose outcome has not come
// within cd of the Tick that first saw it handed out.
func (p *Passive) trialLocked(now, cd int64) {
	if st := p.state.Load(); (st != stHalfOpen && st != stTrial) || !p.tt.TrialTaken() {
		p.trialSeen = false
		return
	}
	if !p.trialSeen {
		p.trialSeen, p.trialSince = true, now
		return
	}
	if now-p.trialSince >= cd {
		p.tt.RearmTrial()
		p.trialSeen = false
	}
}

// assert sets the target's passive state to match the tracker state st.
func (p *Passive) assert(st uint32) {
	switch {
	case st == stOpen:
		p.t.SetPassiveUp(false)
	case st == stClosed || p.tt == nil:
		p.t.SetPassiveUp(true)
	default:
		p.tt.SetPassiveHalfOpen()
	}
}

// kindNames renders the kinds in mask as ": a, b" ("" for none).
func (cfg *passiveConfig) kindNames(mask uint32) string {
	if mask == 0 || len(cfg.kinds) == 0 {
		return ""
	}
	var names []string
	for i, k := range cfg.kinds {
		if mask&(1<<i) != 0 {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ")
}

// reportLocked reports the ejections and returns since the last Tick, in
// order: they alternate (returns <= downs <= returns+1), and a re-ejection
// after a failed trial is not a new transition (it is reported to
// OnTrialFailed, as the end of a cooldown is to OnHalfOpen).
func (p *Passive) reportLocked(cfg *passiveConfig) {
	if n := p.trialFail.Load(); n != p.seenTrials {
		p.seenTrials = n
		reason := "trial failed" + cfg.kindNames(p.trialKind.Load()) + "; ejected for another " +
			time.Duration(p.cooldown.Load()).String()
		cfg.log.Warn("passive health: trial failed", "server", p.t.Addr(), "reason", reason)
		if cfg.onTrial != nil {
			cfg.onTrial(p.t, reason)
		}
	}
	d, r := p.downs.Load(), p.returns.Load()
	if d-p.seenDowns > 2 {
		// Defensive: more transitions than Ticks can produce (half-open
		// needs a Tick). Report only the last ejection, and return if any.
		p.seenDowns, p.seenRets = d-1, d-1
	}
	for {
		switch {
		case p.seenDowns == p.seenRets && p.seenDowns < d:
			p.seenDowns++
			reason := strconv.FormatInt(cfg.threshold, 10) + " consecutive failures on live traffic" +
				cfg.kindNames(p.downKinds.Load())
			cfg.log.Warn("passive health: server ejected", "server", p.t.Addr(), "reason", reason,
				"cooldown", time.Duration(p.cooldown.Load()).String())
			if cfg.on != nil {
				cfg.on(p.t, false, reason)
			}
		case p.seenDowns > p.seenRets && p.seenRets < r:
			p.seenRets++
			const reason = "trial succeeded after cooldown"
			cfg.log.Info("passive health: server back", "server", p.t.Addr(), "reason", reason)
			if cfg.on != nil {
				cfg.on(p.t, true, reason)
			}
		default:
			p.reportHalfOpenLocked(cfg)
			return
		}
	}
}

// reportHalfOpenLocked reports the end of a cooldown (once however many
// happened since the last Tick).
func (p *Passive) reportHalfOpenLocked(cfg *passiveConfig) {
	if h := p.halfOpens.Load(); h != p.seenHalf {
		p.seenHalf = h
		reason := "cooldown of " + time.Duration(p.cooldown.Load()).String() + " over: one trial request allowed"
		cfg.log.Debug("passive health: cooldown over, half-open", "server", p.t.Addr())
		if cfg.onHalf != nil {
			cfg.onHalf(p.t, reason)
		}
	}
}

// noCopy makes go vet's copylocks check flag copies of a Passive.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
