package live

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// DefaultLogEntries is the size of a LogRing made with n <= 0.
const DefaultLogEntries = 10000

// Fixed field sizes of a log slot: longer values are cut (the access log
// file, if any, keeps them whole).
const (
	maxMethod = 16
	maxHost   = 80
	maxPath   = 240
)

// HTTP is one finished HTTP request, as the request observer hands it to
// AddHTTP. The byte slices may be reused after the call: AddHTTP copies.
// The strings are kept as they are: they must be long-lived (configuration
// names, server addresses), never views of reused buffers.
type HTTP struct {
	Start             time.Time
	Frontend, Backend string
	Server            string
	ClientIP          netip.Addr
	Method, Host      []byte
	Path              []byte
	Status            int
	Duration          time.Duration
	BytesIn, BytesOut int64
}

// TCP is one finished TCP session. Close must be a long-lived string.
type TCP struct {
	Start             time.Time
	Frontend, Backend string
	Server            string
	ClientIP          netip.Addr
	Duration          time.Duration
	BytesIn, BytesOut int64
	Close             string
}

// logSlot is one preallocated entry. busy guards the fields: a writer or a
// reader that finds it taken does not wait (the writer drops its entry, a
// reader skips the slot), so nobody ever blocks on it.
type logSlot struct {
	busy atomic.Uint32
	rec  logRec
}

// logRec is a slot's content, copied out whole by readers.
type logRec struct {
	id                uint64 // 0: empty
	start             time.Time
	frontend, backend string
	server, close     string
	client            netip.Addr
	tcp               bool
	status            int32
	dur               time.Duration
	bytesIn, bytesOut int64
	nMethod, nHost    uint8
	pathLen           uint16
	method            [maxMethod]byte
	host              [maxHost]byte
	path              [maxPath]byte
}

// LogRing keeps the last N access-log entries in preallocated slots. AddHTTP
// and AddTCP are for the data path: lock-free, allocation-free, safe for
// concurrent use; an entry whose slot is being read at that instant is
// dropped (counted in Dropped) rather than waited for. Query and Since build
// state.LogEntry values only for what they return.
type LogRing struct {
	slots   []logSlot
	next    atomic.Uint64 // ID of the last entry handed out
	dropped atomic.Uint64
}

// NewLogRing returns a ring of n entries (n <= 0: DefaultLogEntries).
func NewLogRing(n int) *LogRing {
	if n <= 0 {
		n = DefaultLogEntries
	}
	return &LogRing{slots: make([]logSlot, n)}
}

// Len is the ring's capacity.
func (r *LogRing) Len() int { return len(r.slots) }

// Dropped is the number of entries lost because their slot was busy.
func (r *LogRing) Dropped() uint64 { return r.dropped.Load() }

// Last is the ID of the newest entry (0 when none).
func (r *LogRing) Last() uint64 { return r.next.Load() }

// claim reserves the slot for a new entry, or returns nil (dropped).
func (r *LogRing) claim() (*logSlot, uint64) {
	id := r.next.Add(1)
	s := &r.slots[id%uint64(len(r.slots))]
	if !s.busy.CompareAndSwap(0, 1) {
		r.dropped.Add(1)
		return nil, 0
	}
	if s.rec.id > id { // a newer entry got here first (the ring wrapped meanwhile)
		s.busy.Store(0)
		r.dropped.Add(1)
		return nil, 0
	}
	return s, id
}

// AddHTTP records one request.
func (r *LogRing) AddHTTP(e *HTTP) {
	if r == nil {
		return
	}
	s, id := r.claim()
	if s == nil {
		return
	}
	x := &s.rec
	x.id, x.start, x.tcp = id, e.Start, false
	x.frontend, x.backend, x.server, x.close = e.Frontend, e.Backend, e.Server, ""
	x.client, x.status, x.dur = e.ClientIP, int32(e.Status), e.Duration
	x.bytesIn, x.bytesOut = e.BytesIn, e.BytesOut
	x.nMethod = uint8(copy(x.method[:], e.Method))
	x.nHost = uint8(copy(x.host[:], e.Host))
	x.pathLen = uint16(copy(x.path[:], e.Path))
	s.busy.Store(0)
}

// AddTCP records one session.
func (r *LogRing) AddTCP(e *TCP) {
	if r == nil {
		return
	}
	s, id := r.claim()
	if s == nil {
		return
	}
	x := &s.rec
	x.id, x.start, x.tcp = id, e.Start, true
	x.frontend, x.backend, x.server, x.close = e.Frontend, e.Backend, e.Server, e.Close
	x.client, x.status, x.dur = e.ClientIP, 0, e.Duration
	x.bytesIn, x.bytesOut = e.BytesIn, e.BytesOut
	x.nMethod, x.nHost, x.pathLen = 0, 0, 0
	s.busy.Store(0)
}

// read copies entry id into dst when it is still in its slot and matches m
// (nil: everything); false when it was overwritten, does not match, or its
// slot is busy (skipped: nobody waits). The match runs in place, so only
// matching entries are copied.
func (r *LogRing) read(id uint64, m *LogMatcher, dst *logRec) bool {
	s := &r.slots[id%uint64(len(r.slots))]
	for range 3 {
		if s.busy.CompareAndSwap(0, 2) {
			ok := s.rec.id == id && (m == nil || m.match(&s.rec))
			if ok {
				*dst = s.rec
			}
			s.busy.Store(0)
			return ok
		}
	}
	return false
}

// entry builds the state view of a record.
func (x *logRec) entry() state.LogEntry {
	e := state.LogEntry{ID: x.id, Time: x.start, Frontend: x.frontend, Backend: x.backend,
		Server: x.server, DurationMs: float64(x.dur) / 1e6, BytesIn: x.bytesIn, BytesOut: x.bytesOut}
	if x.client.IsValid() {
		e.ClientIP = x.client.String()
	}
	if x.tcp {
		e.Mode, e.Close = "tcp", x.close
		return e
	}
	e.Method, e.Host, e.Path = string(x.method[:x.nMethod]), string(x.host[:x.nHost]), string(x.path[:x.pathLen])
	e.Status = int(x.status)
	return e
}

// LogMatcher is a compiled state.LogFilter with the query's limit. The
// filter rule itself is state.LogMatcher's (one owner for the logs
// endpoint, the stream and the ring).
type LogMatcher struct {
	m     *state.LogMatcher
	limit int
}

// CompileLogFilter checks f and compiles it (state.CompileLogFilter: Status
// is a code 100..599 or a class 1xx..5xx, ClientIP an address or a prefix),
// with Limit not negative (<= 0 becomes 100; capped at max). The error
// names the query parameter.
func CompileLogFilter(f state.LogFilter, max int) (*LogMatcher, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("limit: must not be negative, got %d", f.Limit)
	}
	sm, err := state.CompileLogFilter(f)
	if err != nil {
		return nil, err
	}
	m := &LogMatcher{m: sm, limit: f.Limit}
	if m.limit <= 0 {
		m.limit = 100
	}
	m.limit = min(m.limit, max)
	return m, nil
}

func (m *LogMatcher) match(x *logRec) bool {
	return m.m.MatchFields(x.frontend, x.backend, x.tcp, int(x.status), x.client, x.host[:x.nHost], x.path[:x.pathLen])
}

// Query returns up to m's limit entries matching m, newest first.
func (r *LogRing) Query(m *LogMatcher) []state.LogEntry {
	last := r.next.Load()
	n := uint64(len(r.slots))
	var out []state.LogEntry
	var x logRec
	for id := last; id > 0 && last-id < n && len(out) < m.limit; id-- {
		if r.read(id, m, &x) {
			out = append(out, x.entry())
		}
	}
	return out
}

// Since calls fn for the entries with ID > after (at most max of the newest
// of them), oldest first, and returns the newest ID seen (after when there
// is none). Entries overwritten in the meantime are skipped.
func (r *LogRing) Since(after uint64, max int, fn func(x *Rec)) uint64 {
	last := r.next.Load()
	if last <= after {
		return after
	}
	n := uint64(len(r.slots))
	from := after + 1
	if last-from >= n {
		from = last - n + 1
	}
	if max > 0 && last-from >= uint64(max) {
		from = last - uint64(max) + 1
	}
	var x Rec
	for id := from; id <= last; id++ {
		if r.read(id, nil, &x.r) {
			fn(&x)
		}
	}
	return last
}

// Rec is one entry handed out by Since: valid only during the call.
type Rec struct{ r logRec }

// Match reports whether the entry matches m (a nil m matches everything).
func (x *Rec) Match(m *LogMatcher) bool { return m == nil || m.match(&x.r) }

// Entry builds the state view of the entry.
func (x *Rec) Entry() state.LogEntry { return x.r.entry() }
