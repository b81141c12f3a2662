package balance

import "sync/atomic"

// MaxWeight is the largest server weight; [NewServer] and [Server.SetWeight]
// clamp to 0..MaxWeight.
const MaxWeight = 256

// Ext slots: per-protocol attachments kept on a [Server] (see [Server.Ext]).
const (
	ExtL7      = 0 // l7: the server's *fasthttp.HostClient (or l7's wrapper)
	ExtMetrics = 1 // internal/metrics: the server's pre-resolved handles
	ExtHealth  = 2 // health: the server's checker state
	// ExtSendProxy holds the PROXY protocol version the server is sent
	// (servers[].send_proxy), a proxyproto.Version set by internal/app;
	// read by l4, l7 and the health checks. Absent: none.
	ExtSendProxy = 3
	// NumExt is the number of Ext slots; valid slots are 0..NumExt-1.
	NumExt = 4
)

// State bits of Server.state; the zero state is "up, serving".
const (
	stActiveDown uint32 = 1 << iota
	stPassiveDown
	stDraining
	stDisabled
	stHalfOpen   // passive half-open: one trial pick allowed (see SetPassiveHalfOpen)
	stTrialTaken // the half-open trial was handed out by Pick
	stRemoved    // removed by a reload, finishing its connections (see SetRemoved)
	stDamped     // held out by flap damping (see SetDamped)

	stUnhealthy = stActiveDown | stPassiveDown
	stTrial     = stHalfOpen | stTrialTaken
)

// Server is one upstream server of one backend. The caller (internal/app)
// keeps it across reloads by identity (backend+addr) and hands the same
// pointer to [Balancer.Update], so counters and health survive reloads.
//
// All state is in atomics: every method is safe for concurrent use, and
// Pick/Release/Available/Active are lock-free and allocation-free. A state
// change (SetActiveUp, SetPassiveUp, SetPassiveHalfOpen, SetDraining,
// SetEnabled, SetWeight) that really changes something makes the owning
// Balancer rebuild its Set; the rebuild never waits for a lock (see
// [Balancer]).
//
// Ownership: a Server belongs to at most one Balancer at a time, the last
// one that received it through [New] or [Balancer.Update]. Using one Server in
// two live Balancers is not supported: state changes would rebuild only the
// owner, and the in-flight totals used by bounded loads would be shared.
//
// A Server must not be copied after first use (go vet reports copies).
type Server struct {
	_ noCopy
	// Pick's fields share the first cache line (a Server is allocated in a
	// 64-byte-aligned size class); the padding keeps the cold fields off it.
	active atomic.Int64
	state  atomic.Uint32 // stActiveDown | stPassiveDown | stDraining | stDisabled | stHalfOpen | stTrialTaken | stRemoved | stDamped
	owner  atomic.Pointer[Balancer]
	_      [40]byte

	backend  string
	addr     string
	weight   atomic.Int32 // 0..MaxWeight
	maxConns atomic.Int64 // set by the owner from Options.MaxConnsPerServer; <= 0 = unlimited
	ext      [NumExt]atomic.Pointer[extBox]
}

type extBox struct{ v any }

// NewServer returns an up, enabled, non-draining server with no active
// connections. weight is clamped to 0..MaxWeight (weight 0: see
// [Server.SetWeight]). backend and addr are labels only; the package never
// dials.
func NewServer(backend, addr string, weight int) *Server {
	s := &Server{backend: backend, addr: addr}
	s.weight.Store(int32(clampWeight(weight)))
	return s
}

func clampWeight(w int) int {
	return min(max(w, 0), MaxWeight)
}

// Backend returns the backend name given to NewServer.
func (s *Server) Backend() string { return s.backend }

// Addr returns the host:port given to NewServer.
func (s *Server) Addr() string { return s.addr }

// Weight returns the configured weight, 0..MaxWeight.
func (s *Server) Weight() int { return int(s.weight.Load()) }

// SetWeight sets the weight, clamped to 0..MaxWeight, and reports whether it
// changed. Weights shape the shares of weighted_round_robin and ip_hash;
// round_robin and least_connections ignore them, except that weight 0 means
// (as in HAProxy) "take no new traffic" under every algorithm: the server
// keeps its existing connections but Pick never returns it.
func (s *Server) SetWeight(w int) (changed bool) {
	w = clampWeight(w)
	if int(s.weight.Swap(int32(w))) == w {
		return false
	}
	s.notify()
	return true
}

// SetActiveUp records the active health-check verdict and reports whether
// the active flag changed. It satisfies health.Target.
func (s *Server) SetActiveUp(up bool) (changed bool) { return s.setBit(stActiveDown, !up) }

// SetPassiveUp records the passive (real traffic) verdict and reports whether
// the server's passive state changed. It also ends a half-open period (see
// SetPassiveHalfOpen): true closes it (the trial succeeded), false ejects the
// server again. It satisfies health.PassiveTarget; the flip is one atomic
// operation, and only a real transition rebuilds the owner's Set.
func (s *Server) SetPassiveUp(up bool) (changed bool) {
	want := uint32(0)
	if !up {
		want = stPassiveDown
	}
	for {
		old := s.state.Load()
		nu := old&^(stPassiveDown|stTrial) | want
		if nu == old {
			return false
		}
		if s.state.CompareAndSwap(old, nu) {
			s.notify()
			return true
		}
	}
}

// SetPassiveHalfOpen puts the server in the passive half-open state with one
// trial available, and reports whether the state changed (false if it was
// half-open already; the trial's state is then kept). While half-open (and
// otherwise serving: active up, enabled, not draining, weight > 0) exactly
// one Pick returns the server — the trial — under every algorithm; every
// other Pick passes it over as if it were down, until SetPassiveUp(true)
// (trial succeeded: serving again), SetPassiveUp(false) (trial failed:
// ejected) or RearmTrial (the trial's outcome never came). The trial pick is
// an ordinary Pick: it counts in Active() and is Released as usual.
// Healthy() is false while half-open. It satisfies health.TrialTarget, which
// health.Passive uses at the end of a cooldown. Lock-free; a real change
// rebuilds the owner's Set.
func (s *Server) SetPassiveHalfOpen() (changed bool) {
	for {
		old := s.state.Load()
		if old&stHalfOpen != 0 {
			return false
		}
		if s.state.CompareAndSwap(old, old&^(stPassiveDown|stTrialTaken)|stHalfOpen) {
			s.notify()
			return true
		}
	}
}

// RearmTrial makes the half-open trial available again after Pick handed it
// out, and reports whether it did (false when the server is not half-open or
// its trial is still available). health.Passive calls it when a trial's
// outcome has not been reported within a cooldown, so that a lost outcome
// never keeps the server out for good. Lock-free, allocation-free; no
// rebuild is needed.
func (s *Server) RearmTrial() bool {
	for {
		old := s.state.Load()
		if old&stTrial != stTrial {
			return false
		}
		if s.state.CompareAndSwap(old, old&^stTrialTaken) {
			return true
		}
	}
}

// TrialTaken reports whether the server is half-open and Pick has handed its
// trial out (see SetPassiveHalfOpen). It satisfies health.TrialTarget.
func (s *Server) TrialTaken() bool { return s.state.Load()&stTrial == stTrial }

// HalfOpen reports whether the server is passively half-open (see
// SetPassiveHalfOpen), whether or not its trial has been handed out.
func (s *Server) HalfOpen() bool { return s.state.Load()&stHalfOpen != 0 }

// Healthy reports whether both the active and the passive verdict are up
// (not down, not half-open). A new server starts healthy until told
// otherwise.
func (s *Server) Healthy() bool { return s.state.Load()&(stUnhealthy|stTrial) == 0 }

// SetDraining sets or clears the operator's drain (servers[].drain) and
// reports whether that changed. A draining server keeps its connections but
// Pick no longer returns it. The operator's drain is its own bit, apart from
// the drain of a server removed by a reload ([Server.SetRemoved]): clearing
// one never clears the other, so an undrain cannot bring a removed server
// back.
func (s *Server) SetDraining(d bool) (changed bool) { return s.setBit(stDraining, d) }

// Draining reports whether the operator drains the server (SetDraining). A
// server removed by a reload reports Removed instead.
func (s *Server) Draining() bool { return s.state.Load()&stDraining != 0 }

// SetRemoved marks the server removed from the configuration (true): it
// finishes its connections but Pick never returns it again, whatever its
// operator state, until a reload adds it back (false). Reports whether that
// changed. internal/app sets it when a reload drops the server and clears it
// when a later reload revives it before the drain ended.
func (s *Server) SetRemoved(r bool) (changed bool) { return s.setBit(stRemoved, r) }

// Removed reports whether the server was removed by a reload and is still
// finishing its connections (see SetRemoved).
func (s *Server) Removed() bool { return s.state.Load()&stRemoved != 0 }

// ActiveUp reports the active health checks' view (true when no check runs).
func (s *Server) ActiveUp() bool { return s.state.Load()&stActiveDown == 0 }

// PassiveUp reports the passive checks' view: false while ejected; true
// when serving and while half-open (see HalfOpen).
func (s *Server) PassiveUp() bool { return s.state.Load()&stPassiveDown == 0 }

// SetEnabled enables (true, the default) or disables the server and reports
// whether that changed. A disabled server keeps its connections but Pick no
// longer returns it.
func (s *Server) SetEnabled(on bool) (changed bool) { return s.setBit(stDisabled, !on) }

// SetDamped holds the server out (true) or gives it back to its health
// checks (false), and reports whether that changed. Flap damping
// (health.Flap) calls it: a damped server keeps its connections but Pick
// never returns it, whatever its health, until it is trusted again. It
// satisfies health.DampTarget. Lock-free; a real change rebuilds the
// owner's Set.
func (s *Server) SetDamped(on bool) (changed bool) { return s.setBit(stDamped, on) }

// Damped reports whether flap damping holds the server out.
func (s *Server) Damped() bool { return s.state.Load()&stDamped != 0 }

// Enabled reports whether the server is enabled.
func (s *Server) Enabled() bool { return s.state.Load()&stDisabled == 0 }

// Available reports whether the server can take a new connection right now:
// healthy (or half-open with its trial not yet handed out), not draining,
// not removed, enabled and below the owner's MaxConnsPerServer. (Weight 0 is not part of
// it: see SetWeight.) The answer may be stale by the time the caller acts on
// it; Pick re-checks atomically.
func (s *Server) Available() bool {
	if st := s.state.Load(); st != 0 && st != stHalfOpen {
		return false
	}
	m := s.maxConns.Load()
	return m <= 0 || s.active.Load() < m
}

// Active returns the number of connections or requests currently counted by
// Pick and not yet released.
func (s *Server) Active() int64 { return s.active.Load() }

// Release ends one connection or request counted by a successful Pick. Call
// it exactly once per Pick that returned s. An extra Release is ignored (the
// count never goes below zero). Lock-free, allocation-free.
func (s *Server) Release() {
	if s.active.Add(-1) < 0 {
		s.active.Add(1) // unbalanced Release: undo
		return
	}
	if b := s.owner.Load(); b != nil {
		b.total.Add(-1)
		b.wake()
	}
}

// Ext returns the value stored in attachment slot (ExtL7, ExtMetrics,
// ExtHealth, ...), or nil if none was set or slot is out of range.
func (s *Server) Ext(slot int) any {
	if uint(slot) >= NumExt {
		return nil
	}
	if p := s.ext[slot].Load(); p != nil {
		return p.v
	}
	return nil
}

// SetExt stores v in attachment slot (0..NumExt-1; it panics otherwise, a
// programming error). It allocates: call it at build time, not per request.
func (s *Server) SetExt(slot int, v any) {
	if uint(slot) >= NumExt {
		panic("balance: Server.SetExt: slot out of range")
	}
	s.ext[slot].Store(&extBox{v: v})
}

// acquire counts one more active connection unless the server is not serving
// (any state bit set) or would go above limit (<= 0: unlimited). The check
// and the increment are one CAS, so concurrent picks never overshoot limit.
// A half-open server is acquired by exactly one caller: the one whose CAS
// marks the trial taken.
func (s *Server) acquire(limit int64) bool {
	if st := s.state.Load(); st != 0 {
		if st != stHalfOpen || (limit > 0 && s.active.Load() >= limit) ||
			!s.state.CompareAndSwap(stHalfOpen, stTrial) {
			return false
		}
		s.active.Add(1) // only the trial gets here while half-open
		return true
	}
	if limit <= 0 {
		s.active.Add(1)
		return true
	}
	for {
		a := s.active.Load()
		if a >= limit {
			return false
		}
		if s.active.CompareAndSwap(a, a+1) {
			return true
		}
	}
}

// setBit sets or clears one state bit and, on a real change, tells the owner.
func (s *Server) setBit(bit uint32, on bool) bool {
	var changed bool
	if on {
		changed = s.state.Or(bit)&bit == 0
	} else {
		changed = s.state.And(^bit)&bit != 0
	}
	if changed {
		s.notify()
	}
	return changed
}

func (s *Server) notify() {
	if b := s.owner.Load(); b != nil {
		b.invalidate()
	}
}

// noCopy makes go vet's copylocks check report copies of a Server.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
