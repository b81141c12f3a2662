package live

import (
	"sync"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// DefaultEvents is the size of an EventRing made with n <= 0.
const DefaultEvents = 1000

// EventRing keeps the last N events. Events come from health checkers,
// reloads and the API, never from the data path, so a mutex guards it. Safe
// for concurrent use.
type EventRing struct {
	mu   sync.Mutex
	buf  []state.Event
	last uint64 // ID of the newest event
	now  func() time.Time
}

// NewEventRing returns a ring of n events (n <= 0: DefaultEvents).
func NewEventRing(n int) *EventRing {
	if n <= 0 {
		n = DefaultEvents
	}
	return &EventRing{buf: make([]state.Event, n), now: time.Now}
}

// Add stores e with the next ID (and the current time when e.Time is zero)
// and returns it as stored.
func (r *EventRing) Add(e state.Event) state.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last++
	e.ID = r.last
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	if e.Severity == "" {
		e.Severity = "info"
	}
	r.buf[e.ID%uint64(len(r.buf))] = e
	return e
}

// List returns up to limit events with ID > after, oldest first (limit <=
// 0: all that are kept).
func (r *EventRing) List(after uint64, limit int) []state.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := uint64(len(r.buf))
	from := after + 1
	if r.last >= n && from <= r.last-n {
		from = r.last - n + 1
	}
	if from > r.last {
		return []state.Event{}
	}
	cnt := r.last - from + 1
	if limit > 0 && cnt > uint64(limit) {
		cnt = uint64(limit)
	}
	out := make([]state.Event, 0, cnt)
	for id := from; id <= r.last && uint64(len(out)) < cnt; id++ {
		out = append(out, r.buf[id%n])
	}
	return out
}

// Last is the ID of the newest event (0 when none).
func (r *EventRing) Last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
