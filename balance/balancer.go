package balance

import (
	"sync"
	"sync/atomic"
	"time"
)

// Balancer picks servers for one backend. It follows "build heavy, pick
// light": every change (New, Update, a server state change, a slow-start
// Tick) builds a new immutable Set (schedule table, Maglev table, eligible
// list) and publishes it with one atomic pointer store; Pick loads the
// pointer, does one atomic add and a table lookup, and never locks or
// allocates.
//
// Pick and the Server methods are safe for concurrent use from any number
// of goroutines. New, Update and Tick are the cold path; they and the state
// changes serialize on an internal mutex, but a server state change never
// waits for it: if another goroutine holds it, that goroutine rebuilds again
// before letting go, so the change always reaches the Set.
type Balancer struct {
	cur atomic.Pointer[set]
	_   [56]byte
	rr  atomic.Uint64 // shared cursor of round-robin schedules and least-connections tie-breaks
	_   [56]byte
	// total is Σ Active() of the servers this Balancer owns (bounded loads'
	// average), kept by Pick and Server.Release.
	total atomic.Int64
	_     [56]byte

	dirty   atomic.Bool // a state change is waiting for a rebuild
	ramping atomic.Bool // some server is in slow start: Tick must rebuild

	// waiters counts goroutines between Wait and Unwait; while it is 0,
	// Release and rebuilds skip the wake-up (one atomic load).
	waiters atomic.Int32
	freed   atomic.Pointer[chan struct{}] // closed (and replaced) at each wake-up

	mu       sync.Mutex // guards everything below
	opts     Options
	servers  []*Server // configured, in caller order; replaced (never mutated) by Update
	members  map[*Server]*member
	retired  map[*Server]uint8   // removed servers and their Tried slots, kept for a re-add
	slotSrv  [MaxServers]*Server // holder of each Tried slot (member or retired); nil = free
	nextSlot int                 // where the next slot search starts (delays slot reuse)
	now      time.Time           // time of the last Tick
	mag      *maglev             // cached Maglev table, see maglevLocked
	magKey   []magEntry
}

// member is the Balancer's cold-path bookkeeping for one of its servers.
type member struct {
	slot      uint8     // Tried bit, stable while the server stays in this Balancer
	known     bool      // eligible has been computed once
	fresh     bool      // added by Update: ramp when first eligible
	eligible  bool      // as of the last rebuild
	ramp      bool      // slow start in progress
	rampStart time.Time // zero: starts at the next Tick
}

// New returns a Balancer over servers (nil entries and duplicates are
// ignored, and so is every server past MaxServers). Invalid options are
// normalized as documented on [Options]; use Options.Validate to report them.
// The Balancer becomes the owner of every server (see [Server]). Servers
// given to New do not slow-start.
func New(opts Options, servers []*Server) *Balancer {
	b := &Balancer{members: make(map[*Server]*member, len(servers)), retired: make(map[*Server]uint8)}
	ch := make(chan struct{})
	b.freed.Store(&ch)
	b.mu.Lock()
	b.setLocked(opts, servers, false)
	b.rebuildLocked()
	b.unlock()
	return b
}

// Update replaces the options and the server list (a reload). Servers are
// matched by pointer identity: a kept server keeps its counters, health,
// Tried slot and slow-start state; a new server slow-starts (if
// Options.SlowStart > 0); a removed server keeps its connections (Release
// still works) but Pick no longer returns it. The new Set is published before
// Update returns. Same input rules as New.
func (b *Balancer) Update(opts Options, servers []*Server) {
	b.mu.Lock()
	b.setLocked(opts, servers, true)
	b.rebuildLocked()
	b.unlock()
}

// Tick advances slow start to now. Call it periodically (every 250ms is a good
// interval) from one goroutine with a monotonic, non-decreasing clock. It
// rebuilds the Set only while some server is ramping and is otherwise one
// atomic load. A server's ramp starts at the first Tick after it became
// available, so ramp start is accurate to one Tick interval.
func (b *Balancer) Tick(now time.Time) {
	if !b.ramping.Load() {
		return
	}
	b.mu.Lock()
	b.now = now
	for _, m := range b.members {
		if m.ramp && m.rampStart.IsZero() {
			m.rampStart = now
		}
	}
	b.rebuildLocked()
	b.unlock()
}

// Servers returns a copy of the configured server list, in the order given to
// New or Update (including servers that are down, draining or disabled).
func (b *Balancer) Servers() []*Server {
	st := b.cur.Load()
	return append([]*Server(nil), st.servers...)
}

// EffectiveWeight returns the weight s gets right now: its configured weight
// scaled by slow start, 0 when it is not eligible (down, draining, disabled,
// removed, weight 0) or not one of b's servers. Lock-free; O(servers), for
// the cold path (stats, the admin API).
func (b *Balancer) EffectiveWeight(s *Server) int {
	st := b.cur.Load()
	for i, x := range st.servers {
		if x == s {
			return int(st.effW[i])
		}
	}
	return 0
}

// Options returns the options in effect (after normalization).
func (b *Balancer) Options() Options { return b.cur.Load().opts }

// Active returns the total of Active() over the servers this Balancer owns,
// including removed servers that still have connections.
func (b *Balancer) Active() int64 { return b.total.Load() }

// setLocked installs opts and the deduplicated server list; rampNew marks
// servers not seen before for slow start.
func (b *Balancer) setLocked(opts Options, servers []*Server, rampNew bool) {
	b.opts = opts.normalized()
	list := make([]*Server, 0, min(len(servers), MaxServers))
	keep := make(map[*Server]struct{}, len(servers))
	for _, s := range servers {
		if s == nil || len(list) == MaxServers {
			continue
		}
		if _, dup := keep[s]; dup {
			continue
		}
		keep[s] = struct{}{}
		list = append(list, s)
	}
	for s, m := range b.members {
		if _, ok := keep[s]; !ok {
			b.retired[s] = m.slot
			delete(b.members, s)
		}
	}
	for _, s := range list {
		if b.members[s] == nil {
			slot, ok := b.retired[s]
			if ok {
				delete(b.retired, s)
			} else {
				slot = b.allocSlot(s)
			}
			b.members[s] = &member{slot: slot, fresh: rampNew}
			b.adopt(s)
		}
		s.maxConns.Store(b.opts.MaxConnsPerServer)
	}
	b.servers = list
}

// allocSlot gives s a Tried slot. A server keeps its slot while it is a
// member and after Update removes it (so a re-added server gets it back and
// a Tried stays exact across reloads). Free slots are handed out round the
// ring from just past the last one; only when all MaxServers slots are held
// is the slot of a removed server taken over (a Tried holding it then skips
// the new holder once: conservative, never a repeat).
func (b *Balancer) allocSlot(s *Server) uint8 {
	free, old := -1, -1
	for k := range MaxServers {
		i := (b.nextSlot + k) % MaxServers
		h := b.slotSrv[i]
		if h == nil {
			free = i
			break
		}
		if old < 0 && b.members[h] == nil {
			old = i // held by a removed server
		}
	}
	if free < 0 {
		free = old // exists: fewer than MaxServers members hold slots
		delete(b.retired, b.slotSrv[free])
	}
	b.slotSrv[free] = s
	b.nextSlot = free + 1
	return uint8(free)
}

// adopt makes b the owner of s and moves s's in-flight count into b's total.
// The move is exact unless s is picked or released through its previous
// owner at the same moment (best effort: it only shifts bounded-load averages).
func (b *Balancer) adopt(s *Server) {
	old := s.owner.Swap(b)
	if old == b {
		return
	}
	n := s.active.Load()
	if old != nil {
		old.total.Add(-n)
	}
	b.total.Add(n)
}

// invalidate is called by a Server whose state changed. It never blocks on
// b.mu: if the lock is taken, its holder sees dirty in unlock and rebuilds.
func (b *Balancer) invalidate() {
	b.dirty.Store(true)
	for b.dirty.Load() && b.mu.TryLock() {
		if b.dirty.Load() {
			b.rebuildLocked()
		}
		b.mu.Unlock()
	}
}

// unlock releases b.mu after rebuilding again for any state change that
// arrived while it was held (see invalidate).
func (b *Balancer) unlock() {
	for {
		b.mu.Unlock()
		if !b.dirty.Load() || !b.mu.TryLock() {
			return
		}
		if b.dirty.Load() {
			b.rebuildLocked()
		}
	}
}

// rebuildLocked builds and publishes a new Set from the current server states.
func (b *Balancer) rebuildLocked() {
	b.dirty.Store(false) // before reading states: a later change sets it again
	st := b.buildLocked()
	b.cur.Store(st)
	b.ramping.Store(st.ramping)
	b.wake() // a server may have become pickable
}

// Wait registers the caller as waiting for a server to become pickable (a
// connection released, or a state change or Update that rebuilt the Set) and
// returns a channel that is closed when that happens. Call Wait, then Pick
// again, and only if that fails wait on the channel: a release between the
// failed Pick and Wait cannot be missed. Every Wait must be paired with
// Unwait. It is how a request queues for a full backend
// (max_connections_per_server) without polling; a wake-up may be spurious
// (another waiter took the slot), so the caller picks again.
func (b *Balancer) Wait() <-chan struct{} {
	b.waiters.Add(1)
	return *b.freed.Load()
}

// Unwait ends a Wait.
func (b *Balancer) Unwait() { b.waiters.Add(-1) }

// Waiters returns how many callers are between Wait and Unwait (a queue
// length, for tests and stats).
func (b *Balancer) Waiters() int { return int(b.waiters.Load()) }

// wake closes the current freed channel if anyone waits. It allocates the
// next channel only then, so Release stays allocation-free without waiters.
func (b *Balancer) wake() {
	if b.waiters.Load() == 0 {
		return
	}
	ch := make(chan struct{})
	if old := b.freed.Swap(&ch); old != nil {
		close(*old)
	}
}
