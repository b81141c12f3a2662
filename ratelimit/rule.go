package ratelimit

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Rule is one configured limit: a frontend rate_limits entry or a backend
// rate_limit. It is matcher-agnostic: the caller evaluates the rule's match
// conditions and derives the key hash (HashIP for client_ip, HashBytes of the
// header value for header:NAME, anything for frontend-wide rules, which
// ignore it). Immutable after NewRule; Allow is safe for concurrent use,
// lock-free and allocation-free.
type Rule struct {
	name string
	id   string
	one  *Limiter // Keyed == false
	tab  *Table   // Keyed == true
}

// RuleOptions configures NewRule.
type RuleOptions struct {
	// Name labels the rule (sluice_ratelimited_total{rule}).
	Name string
	// Rate is events per second (config.Rate.PerSecond); must be positive.
	Rate float64
	// Burst is events admitted at once from a fresh state; < 1 means 1.
	Burst int
	// Keyed selects one limit per key (client_ip, header:NAME) kept in a
	// Table; false means one limit for all callers (frontend, backend).
	Keyed bool
	// MaxKeys bounds a keyed rule's table; 0 means DefaultMaxKeys.
	MaxKeys int
	// Shared makes the rule one limit for every instance that syncs it
	// through the same Store under the same ID (see Syncer); false keeps
	// it local to this process.
	Shared bool
	// ID names the rule in the Store (e.g. "f/web/api-per-ip"); required
	// when Shared. Instances sharing a limit must use the same ID.
	ID string
}

// NewRule builds a Rule; errors name the rule.
func NewRule(o RuleOptions) (*Rule, error) {
	r := &Rule{name: o.Name, id: o.ID}
	if o.Shared && o.ID == "" {
		return nil, wrapName(o.Name, fmt.Errorf("ratelimit: a shared rule needs an ID"))
	}
	var err error
	if o.Keyed {
		r.tab, err = NewTable(TableOptions{Rate: o.Rate, Burst: o.Burst, MaxKeys: o.MaxKeys, Shared: o.Shared})
	} else if r.one, err = NewLimiter(o.Rate, o.Burst); err == nil && o.Shared {
		r.one.shared = &sharedState{}
	}
	if err != nil {
		return nil, wrapName(o.Name, err)
	}
	return r, nil
}

// ID returns the rule's Store ID ("" for a local rule).
func (r *Rule) ID() string { return r.id }

// Shared reports whether the rule is shared through a Store.
func (r *Rule) Shared() bool { return r.shared() != nil }

func (r *Rule) shared() *sharedState {
	if r.tab != nil {
		return r.tab.shared
	}
	return r.one.shared
}

// Name returns the rule's name.
func (r *Rule) Name() string { return r.name }

// Keyed reports whether the rule keeps one limit per key.
func (r *Rule) Keyed() bool { return r.tab != nil }

// Table returns the keyed rule's table, or nil for a shared limit.
func (r *Rule) Table() *Table { return r.tab }

// Allow decides one event (an HTTP request, or a new TCP connection) for the
// key hash at time now (ns). retryAfter is exact; an HTTP 429 sends
// RetryAfterSeconds(retryAfter).
func (r *Rule) Allow(keyHash uint64, now int64) (ok bool, retryAfter time.Duration) {
	if r.tab != nil {
		return r.tab.Allow(keyHash, now)
	}
	return r.one.Allow(now)
}

// Peek reports what Allow(keyHash, now) would answer, changing nothing.
func (r *Rule) Peek(keyHash uint64, now int64) (ok bool, retryAfter time.Duration) {
	if r.tab != nil {
		return r.tab.Peek(keyHash, now)
	}
	return r.one.Peek(now)
}

// RetryAfterSeconds converts a wait into a Retry-After value: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}

// HashIP is the key hash for client_ip: xxhash of the 16-byte form, so an
// IPv4 address and its IPv4-mapped IPv6 form share one key; zones are
// ignored. Allocation-free.
func HashIP(ip netip.Addr) uint64 {
	a := ip.As16()
	return xxhash.Sum64(a[:])
}

// HashBytes is the key hash for header:NAME (the header value's bytes).
// Allocation-free; b is not retained.
func HashBytes(b []byte) uint64 { return xxhash.Sum64(b) }

var epoch = time.Now()

// Now returns monotonic nanoseconds since process start, the clock Allow
// expects in production. It is unaffected by wall-clock steps.
func Now() int64 { return int64(time.Since(epoch)) }

func wrapName(name string, err error) error {
	return fmt.Errorf("rate limit %q: %w", name, err)
}
