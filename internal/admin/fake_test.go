package admin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// fakeControl is a state.Control for tests: fixed views, recorded changes,
// and subscriptions with the producer rule of the contract (never block;
// a full subscription is closed and counts as dropped).
type fakeControl struct {
	snap  atomic.Pointer[state.Snapshot]
	stats atomic.Pointer[state.Stats]

	mu        sync.Mutex
	events    []state.Event
	logs      []state.LogEntry
	changes   []state.Change
	changeErr error
	result    state.Result
	invalid   []state.ConfigError
	lastLogs  state.LogFilter
	explained []state.ExplainQuery
	subs      map[*fakeSub]struct{}
	dropped   atomic.Int64
}

type fakeSub struct {
	c       chan state.Item
	dropped atomic.Bool
	once    sync.Once
	filter  atomic.Pointer[state.StreamFilter] // nil: everything
}

// wants applies the subscription's filter as a producer does.
func (fs *fakeSub) wants(it state.Item) bool {
	f := fs.filter.Load()
	switch {
	case f == nil:
		return true
	case it.Stats != nil:
		return f.Stats
	case it.Event != nil:
		return f.Events
	case it.Log != nil:
		m, err := state.CompileLogFilter(f.Log)
		return f.Logs && err == nil && m.Match(it.Log)
	case it.Logs != nil:
		return f.Logs
	}
	return false
}

// filters returns the filter every subscription has now.
func (f *fakeControl) filters() []state.StreamFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []state.StreamFilter
	for fs := range f.subs {
		if p := fs.filter.Load(); p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func newFakeControl() *fakeControl {
	f := &fakeControl{subs: map[*fakeSub]struct{}{}, result: state.Result{Applied: true, Changes: []string{"backend web: weight of 10.0.0.1:80 1 → 5"}, Persisted: "file", Checksum: "after"}}
	f.snap.Store(&state.Snapshot{Version: "test", Commit: "abc", GoVersion: "go1.26", Started: time.Now().Add(-time.Minute),
		ConfigFile: "/etc/sluice/sluice.yaml", Checksum: "before", Generation: 3,
		LastReload: state.Reload{Time: time.Now(), Result: "success", Source: "start"},
		Frontends: []state.Frontend{{Name: "web", Mode: "http", Listen: "127.0.0.1:8080", Backend: "web",
			Routes: []state.Route{{Name: "api", PathPrefix: "/api/", Backend: "api"}}}},
		Backends: []state.Backend{
			{Name: "web", Algorithm: "round_robin", HealthCheck: "http", Servers: []state.Server{
				{Address: "10.0.0.1:80", Weight: 1, Enabled: true}, {Address: "10.0.0.2:80", Weight: 3, Enabled: true, Drain: true}}},
			{Name: "api", Algorithm: "least_connections", HealthCheck: "none", Servers: []state.Server{}}},
		Text: []byte("admin:\n  users:\n    - {name: alice, password_hash: \"$2a$04$abcdefghijklmnopqrstuv\", role: admin}\n    - name: bob\n      password_hash: $2a$04$zyxwvutsrqponmlkjihgf\n      role: viewer\nfrontends: []\n")})
	f.stats.Store(&state.Stats{Time: time.Now(),
		Frontends: []state.FrontendStats{{Name: "web", ActiveConnections: 4, RequestsPerSec: 120.5, P50Ms: 1.5, P99Ms: 9}},
		Backends: []state.BackendStats{{Name: "web", ActiveConnections: 4, RequestsPerSec: 120.5, Servers: []state.ServerStats{
			{Address: "10.0.0.1:80", Health: state.HealthUp, ActiveUp: true, PassiveUp: true, Enabled: true, Weight: 1, ActiveConnections: 3, RequestsPerSec: 100},
			{Address: "10.0.0.2:80", Health: state.HealthDown, ActiveUp: false, PassiveUp: true, Enabled: true, Draining: true, Weight: 3, Reason: "connect refused"},
			{Address: "10.0.0.9:80", Health: state.HealthUp, Draining: true, Removed: true, ActiveConnections: 1}}}},
		Process: state.ProcessStats{Uptime: 60, RSSBytes: 20 << 20, ActiveConnections: 4, Goroutines: 30}})
	for i := 1; i <= 5; i++ {
		f.events = append(f.events, state.Event{ID: uint64(i), Type: state.EventHealth, Message: "server down"})
	}
	f.logs = []state.LogEntry{{ID: 1, Frontend: "web", Backend: "web", Status: 200, Path: "/"}, {ID: 2, Frontend: "web", Backend: "web", Status: 503, Path: "/x"}}
	return f
}

func (f *fakeControl) Snapshot() *state.Snapshot { return f.snap.Load() }
func (f *fakeControl) Stats() *state.Stats       { return f.stats.Load() }

func (f *fakeControl) Events(after uint64, limit int) []state.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []state.Event
	for _, e := range f.events {
		if e.ID > after && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeControl) Logs(flt state.LogFilter) []state.LogEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastLogs = flt
	m, err := state.CompileLogFilter(flt)
	if err != nil {
		return nil
	}
	var out []state.LogEntry
	for i := len(f.logs) - 1; i >= 0 && len(out) < flt.Limit; i-- {
		if m.Match(&f.logs[i]) {
			out = append(out, f.logs[i])
		}
	}
	return out
}

func (f *fakeControl) Subscribe(buffer int) *state.Subscription {
	fs := &fakeSub{c: make(chan state.Item, buffer)}
	f.mu.Lock()
	f.subs[fs] = struct{}{}
	f.mu.Unlock()
	return &state.Subscription{C: fs.c, Dropped: fs.dropped.Load, Close: func() {
		f.mu.Lock()
		delete(f.subs, fs)
		f.mu.Unlock()
	}, SetFilter: func(sf state.StreamFilter) { fs.filter.Store(&sf) }}
}

// publish sends it to every subscriber without blocking; a full one is
// dropped (closed).
func (f *fakeControl) publish(it state.Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fs := range f.subs {
		if !fs.wants(it) {
			continue
		}
		select {
		case fs.c <- it:
		default:
			fs.dropped.Store(true)
			close(fs.c)
			delete(f.subs, fs)
			f.dropped.Add(1)
		}
	}
}

func (f *fakeControl) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *fakeControl) Validate(text []byte) []state.ConfigError {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.invalid
}

func (f *fakeControl) Change(ctx context.Context, c state.Change) (state.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, c)
	if f.changeErr != nil {
		return state.Result{}, f.changeErr
	}
	r := f.result
	r.DryRun = c.DryRun
	r.Applied = !c.DryRun
	return r, nil
}

// Alerts makes the fake a state.AlertReader with one rule.
func (f *fakeControl) Alerts() []state.AlertStatus {
	return []state.AlertStatus{{AlertRule: state.AlertRule{Name: "api-slow", When: "latency_p99", Scope: state.AlertScope{Backend: "web"},
		Threshold: "250ms"}, State: state.AlertOK}}
}

func (f *fakeControl) lastChange() state.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.changes) == 0 {
		return state.Change{}
	}
	return f.changes[len(f.changes)-1]
}

func (f *fakeControl) Explain(q state.ExplainQuery) (state.Explanation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.explained = append(f.explained, q)
	if q.Host == "bad.example" {
		return state.Explanation{}, fmt.Errorf("host %q cannot be explained", q.Host)
	}
	if q.Frontend != "web" {
		return state.Explanation{}, fmt.Errorf("no frontend %q: %w", q.Frontend, state.ErrNotFound)
	}
	return state.Explanation{Frontend: "web", Mode: "http", Access: "allowed", Route: "api", Backend: "api", Pick: "10.0.0.1:80"}, nil
}

var _ state.Control = (*fakeControl)(nil)

// dropAll drops every subscription as a producer does with one that fell
// behind.
func (f *fakeControl) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fs := range f.subs {
		fs.dropped.Store(true)
		close(fs.c)
		delete(f.subs, fs)
		f.dropped.Add(1)
	}
}
