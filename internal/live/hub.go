package live

import (
	"sync"
	"sync/atomic"

	"github.com/sluicelb/sluice/internal/state"
)

// Hub delivers items to live subscribers. Publish never blocks: a
// subscriber whose channel is full is dropped on the spot (its channel is
// closed and Dropped reports true), so a slow consumer can neither stall a
// producer nor make memory grow. Safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[*sub]struct{}
	logs atomic.Int32 // subscribers that want log lines
	n    atomic.Int32
}

type sub struct {
	ch      chan state.Item
	dropped atomic.Bool
	closed  bool // guarded by Hub.mu
	f       atomic.Pointer[filter]
}

type filter struct {
	stats, events, logs bool
	log                 *LogMatcher
	key                 state.LogFilter // the log filter as given (Limit 0): subscribers with one key share batches
}

var all = &filter{stats: true, events: true, logs: true}

// DefaultBuffer is the channel size of a Subscribe with buffer <= 0.
const DefaultBuffer = 256

// NewHub returns a Hub with no subscribers.
func NewHub() *Hub { return &Hub{subs: map[*sub]struct{}{}} }

// Subscribe registers a subscriber with a channel of buffer items.
func (h *Hub) Subscribe(buffer int) *state.Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	s := &sub{ch: make(chan state.Item, buffer)}
	s.f.Store(all)
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.n.Add(1)
	h.logs.Add(1)
	h.mu.Unlock()
	return &state.Subscription{
		C:       s.ch,
		Dropped: s.dropped.Load,
		Close:   func() { h.remove(s, false) },
		SetFilter: func(sf state.StreamFilter) {
			f := &filter{stats: sf.Stats, events: sf.Events, logs: sf.Logs, key: sf.Log}
			f.key.Limit = 0
			if sf.Logs {
				m, err := CompileLogFilter(sf.Log, 1)
				if err != nil {
					f.logs = false // an invalid filter matches nothing; the API validates first
				} else {
					f.log = m
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if s.closed {
				return
			}
			if old := s.f.Swap(f); old.logs != f.logs {
				if f.logs {
					h.logs.Add(1)
				} else {
					h.logs.Add(-1)
				}
			}
		},
	}
}

// remove unregisters s and closes its channel (idempotent); dropped marks
// it dropped. removeLocked is the same with h.mu held.
func (h *Hub) remove(s *sub, dropped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s, dropped)
}

func (h *Hub) removeLocked(s *sub, dropped bool) {
	if s.closed {
		return
	}
	s.closed = true
	if dropped {
		s.dropped.Store(true)
	}
	delete(h.subs, s)
	h.n.Add(-1)
	if s.f.Load().logs {
		h.logs.Add(-1)
	}
	close(s.ch)
}

// Len is the number of subscribers.
func (h *Hub) Len() int { return int(h.n.Load()) }

// WantLogs reports whether some subscriber takes log lines (the producer
// skips building them otherwise).
func (h *Hub) WantLogs() bool { return h.logs.Load() > 0 }

// PublishStats delivers st to the subscribers that want stats.
func (h *Hub) PublishStats(st *state.Stats) {
	h.publish(state.Item{Stats: st}, func(f *filter) bool { return f.stats })
}

// PublishEvent delivers e to the subscribers that want events.
func (h *Hub) PublishEvent(e *state.Event) {
	h.publish(state.Item{Event: e}, func(f *filter) bool { return f.events })
}

// PublishLogs reads the log lines after id after from r (at most max, the
// newest, as LogRing.Since) and hands them to the log subscribers as one
// batch each: subscribers with the same log filter share one LogBatch, so
// a line is matched once per distinct filter, built once, and encoded by
// the stream once per batch, however many clients there are. It returns
// the newest id read. A subscriber with no room for the batch is dropped.
func (h *Hub) PublishLogs(r *LogRing, after uint64, max int) uint64 {
	if !h.WantLogs() {
		return r.Last()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var groups []logGroup // one per distinct filter; few
	group := func(f *filter) *logGroup {
		for i := range groups {
			if groups[i].key == f.key {
				return &groups[i]
			}
		}
		return nil
	}
	for s := range h.subs {
		if f := s.f.Load(); f.logs && group(f) == nil {
			groups = append(groups, logGroup{key: f.key, m: f.log})
		}
	}
	last := r.Since(after, max, func(x *Rec) {
		var e state.LogEntry
		built := false
		for i := range groups {
			g := &groups[i]
			if !x.Match(g.m) {
				continue
			}
			if !built {
				e, built = x.Entry(), true
			}
			g.entries = append(g.entries, e)
		}
	})
	for s := range h.subs {
		f := s.f.Load()
		if !f.logs {
			continue
		}
		g := group(f)
		if g == nil || len(g.entries) == 0 {
			continue
		}
		if g.batch == nil {
			g.batch = &state.LogBatch{Filter: g.key, Entries: g.entries}
		}
		h.sendLocked(s, state.Item{Logs: g.batch})
	}
	return last
}

// logGroup is the batch being built for one log filter.
type logGroup struct {
	key     state.LogFilter
	m       *LogMatcher
	entries []state.LogEntry
	batch   *state.LogBatch
}

func (h *Hub) publish(it state.Item, want func(*filter) bool) {
	if h.n.Load() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if want(s.f.Load()) {
			h.sendLocked(s, it)
		}
	}
}

// sendLocked sends without blocking; a full channel drops the subscriber.
func (h *Hub) sendLocked(s *sub, it state.Item) {
	select {
	case s.ch <- it:
	default:
		h.removeLocked(s, true)
	}
}

// CloseAll drops every subscriber (shutdown): their channels close.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.removeLocked(s, false)
	}
}
