package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Shared limits (contract §9, rate_limit_store): N instances enforce one
// limit per rule and key through a Store (Redis, package internal/rlstore).
//
// # Algorithm: GCRA state shared, spent from local shares
//
// The store keeps, per rule and key, the shared theoretical arrival time
// (TAT) of GCRA on the store's own clock, and which instances asked for the
// key recently. Every instance keeps deciding alone, from its local slot, so
// the hot path never waits for the store; it counts the events it admitted
// (and whether any were asked for) since the last sync. Every sync interval
// S the Syncer sends, for each key asked for since the last sync, those n
// events to the store, where one atomic script per key charges them —
// TAT = max(TAT, now − a) + n·T, a being the time since the previous sync
// (when they could have been admitted at the earliest) — and answers the debt d = TAT − now (how far
// the shared limit is spent ahead) and A, the number of instances that
// asked for the key within the last 3·S. The instance then sets its local
// slot to that shared state, seen through its share: local TAT = now + d
// (plus the events admitted while the sync was in flight), local interval
// A·T and tolerance max(τ, A·T). So each of the A instances may spend 1/A
// of what is left of the burst and of the rate until the next sync, and
// every admitted event is charged to the one shared TAT; the clocks of the
// instances never need to agree (only differences travel).
//
// # Error bound
//
// Over any window of length D a key admits, cluster-wide, at most
// R·D + B + (N−1)·(B + R·S) events (R rate, B burst, N instances): the
// last term is what the other instances can spend before their next sync
// on state one sync old — in the worst case, when a key becomes busy on all
// of them at once (a key an instance has not synced yet starts with share 1:
// the first requests of a client are never refused for lack of news).
// Every admitted event is charged, so the debt repays any excess later and
// the long-run rate is exact. With a steady load the shares make the excess
// close to 0; a load split unevenly between the active instances is
// refused a little early (at most by the share of the rate the others leave
// unused during one sync, which the next sync hands out again).
//
// # When the store is unreachable
//
// A failed sync or heartbeat switches every shared limit to limit/N,
// enforced locally (interval N·T, burst B/N but at least 1), N being the
// number of live instances last counted in the store (heartbeats with a
// TTL; 1 if it was never reached). Events admitted meanwhile are not sent
// later. Every cycle tries the store again; the first success switches back.
// OnFallback reports both transitions (log once, a gauge), OnError every
// failed cycle (a counter).

// maxShare bounds a share so that interval·share cannot overflow.
const maxShare = 1 << 12

// askedBit marks, in slotSyncs.pend, a slot asked for (even if refused).
const askedBit = 1 << 31

// slotSyncs is the shared-mode state of up to 7 slots (a Table bucket's, or
// slot 0 for a Limiter).
type slotSyncs struct {
	// pend counts the events admitted since the last sync; askedBit: the
	// slot was asked for since the last sync.
	pend [ways]atomic.Uint32
	// share is A, the number of instances sharing the key at the last
	// sync; 0 before the first.
	share [ways]atomic.Uint32
}

func (s *slotSyncs) asked(i int) {
	if s.pend[i].Load()&askedBit == 0 {
		s.pend[i].Or(askedBit)
	}
}

func (s *slotSyncs) reset(i int) {
	s.pend[i].Store(0)
	s.share[i].Store(0)
}

// sharedState is a shared limit's (a Limiter's or a Table's) global mode.
type sharedState struct {
	fallback atomic.Uint32 // 0: synced; n ≥ 1: the store is unreachable, enforce limit/n
}

// share returns the divisor a slot's limit is enforced with.
func (s *sharedState) share(slot uint32) uint32 {
	if f := s.fallback.Load(); f != 0 {
		slot = f
	}
	return min(max(slot, 1), maxShare)
}

// local returns the parameters of one share: interval share·T, tolerance
// max(τ, share·T) (a burst of at least one event).
func (p params) local(share uint32) params {
	if share <= 1 {
		return p
	}
	iv := p.interval * int64(share)
	return params{interval: iv, tolerance: max(p.tolerance, iv)}
}

// Store holds the shared state of limits. Implementations are used by one
// Syncer goroutine at a time and must honour ctx.
type Store interface {
	// Sync charges each item's N events to the shared state of its rule and
	// key, and fills in Debt and Active. An error means the store could not
	// be used (no item is taken as synced).
	Sync(ctx context.Context, items []SyncItem) error
	// Heartbeat records this instance as live and returns how many
	// instances are (at least 1).
	Heartbeat(ctx context.Context) (instances int, err error)
}

// SyncItem is one key's report to the Store and its answer.
type SyncItem struct {
	// Rule is the rule's ID (RuleOptions.ID), Key its key hash (0 for a
	// rule that is not keyed).
	Rule string
	Key  uint64
	// N is the number of events admitted since the last sync (0 when the
	// key was only refused: the instance still counts as sharing it).
	N uint32
	// Interval is 1/rate in nanoseconds.
	Interval int64
	// Age is how long ago (ns) the events could have been admitted at the
	// earliest (the time since the previous cycle, at most 1 s): the store
	// charges them from max(TAT, now − Age), as a local GCRA would have,
	// so a late cycle does not charge idle time it did not use.
	Age int64
	// Debt (answer) is how far, in ns, the shared TAT is ahead of the
	// store's clock after charging N (≥ 0).
	Debt int64
	// Active (answer) is the number of instances that synced this key
	// within the last 3 sync intervals, this one included (≥ 1).
	Active int
}

// SyncerOptions configure a Syncer.
type SyncerOptions struct {
	// Store is required.
	Store Store
	// Every is the sync interval S. Default 100ms.
	Every time.Duration
	// Heartbeat is how often the instance is recorded live. Default 1s.
	Heartbeat time.Duration
	// MaxItems bounds the keys synced per cycle; keys past it wait for the
	// next cycle (their counts are kept). Default 8192.
	MaxItems int
	// OnError is called for every failed cycle (a counter); nil is fine.
	OnError func(err error)
	// OnFallback is called when the Syncer starts (true, with the share
	// enforced) and stops (false) enforcing limit/N locally; nil is fine.
	OnFallback func(on bool, instances int)
	// OnInstances reports the live instance count after each heartbeat.
	OnInstances func(n int)
	// Now is the local clock (ns); default Now.
	Now func() int64
	// Logger receives the fallback transitions. Default slog.Default().
	Logger *slog.Logger
}

// Syncer reconciles the local slots of shared Rules with a Store on a
// background cycle. SetRules may be called from any goroutine; Run runs
// the cycle until its context ends; Cycle runs one (tests).
type Syncer struct {
	o     SyncerOptions
	rules atomic.Pointer[[]*Rule]

	mu        sync.Mutex    // serialises cycles
	fallback  uint32        // share enforced while the store is unreachable; 0: synced (under mu)
	fbShare   atomic.Uint32 // fallback, readable without mu
	instances int
	lastBeat  int64 // local ns of the last successful heartbeat (0: never)
	lastCycle int64 // local ns when the previous cycle collected (0: never)
	items     []SyncItem
	age       int64 // Age of this cycle's items
	refs      []slotRef
	cursor    int
}

// slotRef is where a SyncItem's answer goes.
type slotRef struct {
	tat   *atomic.Int64
	key   *atomic.Uint64 // nil for a Limiter
	k     uint64
	ss    *slotSyncs
	i     int
	p     params
	state *sharedState
}

// NewSyncer returns a Syncer with no rules.
func NewSyncer(o SyncerOptions) *Syncer {
	if o.Every <= 0 {
		o.Every = 100 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 8192
	}
	if o.Now == nil {
		o.Now = Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Syncer{o: o, instances: 1}
	s.rules.Store(&[]*Rule{})
	return s
}

// SetRules replaces the set of rules the Syncer reconciles. Rules that are
// not shared are ignored. A rule added while the store is unreachable
// starts in fallback at once. It never waits for a cycle (a reload must not
// wait for Redis): a cycle running meanwhile brings the new rules in line
// when it ends.
func (s *Syncer) SetRules(rules []*Rule) {
	var rs []*Rule
	for _, r := range rules {
		if r != nil && r.shared() != nil {
			rs = append(rs, r)
		}
	}
	share := s.fbShare.Load()
	for _, r := range rs {
		r.shared().fallback.Store(share)
	}
	s.rules.Store(&rs)
}

// Fallback reports whether limits are enforced locally (limit/N) because the
// store is unreachable, and N.
func (s *Syncer) Fallback() (on bool, share int) {
	f := s.fbShare.Load()
	return f != 0, int(f)
}

// Run runs a cycle every Every until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Every)
	defer t.Stop()
	for {
		s.Cycle(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// timeout bounds one cycle's store calls.
func (s *Syncer) timeout() time.Duration {
	return min(max(s.o.Every, 250*time.Millisecond), 2*time.Second)
}

// Cycle runs one sync cycle: a heartbeat when due (every cycle while in
// fallback), then the keys asked for since the last cycle.
func (s *Syncer) Cycle(parent context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(parent, s.timeout())
	defer cancel()
	defer s.align()
	rules := *s.rules.Load()
	now := s.o.Now()
	if s.fallback != 0 || s.lastBeat == 0 || now-s.lastBeat >= int64(s.o.Heartbeat) {
		n, err := s.o.Store.Heartbeat(ctx)
		if err != nil {
			s.fail(rules, err)
			return
		}
		s.lastBeat, s.instances = now, max(n, 1)
		if s.o.OnInstances != nil {
			s.o.OnInstances(s.instances)
		}
		if s.fallback != 0 {
			s.setFallback(rules, 0)
			s.o.Logger.Info("rate limit store reachable again: limits are shared", "instances", s.instances)
			if s.o.OnFallback != nil {
				s.o.OnFallback(false, s.instances)
			}
		}
	}
	age := min(now-s.lastCycle, int64(time.Second))
	if s.lastCycle == 0 {
		age = 0
	}
	s.lastCycle = now
	s.collect(rules, age)
	if len(s.items) == 0 {
		return
	}
	t0 := s.o.Now()
	err := s.o.Store.Sync(ctx, s.items)
	t1 := s.o.Now()
	if err != nil {
		s.fail(rules, err)
		return
	}
	mid := t0 + (t1-t0)/2
	for i := range s.items {
		s.apply(&s.refs[i], &s.items[i], mid)
	}
}

// fail enters (or stays in) fallback.
func (s *Syncer) fail(rules []*Rule, err error) {
	if s.o.OnError != nil {
		s.o.OnError(err)
	}
	if s.fallback != 0 {
		s.setFallback(rules, s.fallback) // rules added since
		s.discard(rules)
		return
	}
	s.setFallback(rules, uint32(min(max(s.instances, 1), maxShare)))
	s.discard(rules)
	s.o.Logger.Warn("rate limit store unreachable: enforcing each limit divided by the instance count, locally",
		"instances", s.instances, "error", err.Error())
	if s.o.OnFallback != nil {
		s.o.OnFallback(true, s.instances)
	}
}

func (s *Syncer) setFallback(rules []*Rule, share uint32) {
	s.fallback = share
	s.fbShare.Store(share)
	for _, r := range rules {
		r.shared().fallback.Store(share)
	}
}

// align gives every current rule the Syncer's mode (rules set by SetRules
// during a cycle that changed it).
func (s *Syncer) align() {
	share := s.fallback
	for _, r := range *s.rules.Load() {
		if st := r.shared(); st.fallback.Load() != share {
			st.fallback.Store(share)
		}
	}
}

// discard drops the counts of events admitted in fallback: they were
// enforced locally and are not charged later.
func (s *Syncer) discard(rules []*Rule) {
	for _, r := range rules {
		if r.one != nil {
			r.one.sync.pend[0].Store(0)
			continue
		}
		for i := range r.tab.buckets {
			ss := r.tab.buckets[i].sync
			for j := range ways {
				if ss.pend[j].Load() != 0 {
					ss.pend[j].Store(0)
				}
			}
		}
	}
}

// collect takes the counts of every slot asked for since the last cycle,
// at most MaxItems, starting where the last cycle stopped.
func (s *Syncer) collect(rules []*Rule, age int64) {
	s.age = age
	s.items, s.refs = s.items[:0], s.refs[:0]
	if len(rules) == 0 {
		return
	}
	start := s.cursor % len(rules)
	for n := range rules {
		r := rules[(start+n)%len(rules)]
		if len(s.items) >= s.o.MaxItems {
			s.cursor = (start + n) % len(rules)
			return
		}
		if l := r.one; l != nil {
			s.take(r, &l.sync, 0, &l.tat, nil, 0, l.p, l.shared)
			continue
		}
		t := r.tab
		for bi := range t.buckets {
			b := &t.buckets[bi]
			for j := range ways {
				if b.sync.pend[j].Load() == 0 {
					continue
				}
				k := b.keys[j].Load()
				if k == 0 {
					continue
				}
				if len(s.items) >= s.o.MaxItems {
					s.cursor = (start + n) % len(rules)
					return
				}
				s.take(r, b.sync, j, &b.tats[j], &b.keys[j], k, t.p, t.shared)
			}
		}
	}
	s.cursor = start + 1
}

func (s *Syncer) take(r *Rule, ss *slotSyncs, i int, tat *atomic.Int64, key *atomic.Uint64, k uint64, p params, st *sharedState) {
	v := ss.pend[i].Swap(0)
	if v == 0 {
		return
	}
	s.items = append(s.items, SyncItem{Rule: r.id, Key: k, N: v &^ askedBit, Interval: p.interval, Age: s.age})
	s.refs = append(s.refs, slotRef{tat: tat, key: key, k: k, ss: ss, i: i, p: p, state: st})
}

// apply sets a slot to the shared state the store answered, seen through
// this instance's share, keeping the events admitted since the swap.
func (s *Syncer) apply(ref *slotRef, it *SyncItem, mid int64) {
	share := uint32(min(max(it.Active, 1), maxShare))
	ref.ss.share[ref.i].Store(share)
	lp := ref.p.local(ref.state.share(share))
	for {
		old := ref.tat.Load()
		if ref.key != nil && ref.key.Load() != ref.k {
			return // the slot changed owner meanwhile
		}
		since := int64(ref.ss.pend[ref.i].Load() &^ askedBit)
		next := mid + max(it.Debt, 0) + since*lp.interval
		if ref.tat.CompareAndSwap(old, next) {
			return
		}
	}
}
