package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// receiver is a webhook endpoint that records every payload.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []Payload
	fail atomic.Int32 // answer 500 to this many more requests
	hang chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{hang: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil || req.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, p)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

// hanging is a webhook endpoint that never answers until the test ends.
func hanging(t *testing.T) *httptest.Server {
	stop := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-stop:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stop); s.Close() })
	return s
}

func (r *receiver) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.got {
		out = append(out, p.Alert+":"+p.State)
	}
	return out
}

func waitUntil(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// statsAt is a sample at t0+sec seconds with backend api's p99.
func statsAt(sec int, p99 float64) *state.Stats {
	return &state.Stats{Time: t0.Add(time.Duration(sec) * time.Second),
		Backends: []state.BackendStats{{Name: "api", P99Ms: p99}}}
}

func slowRule(hooks ...Webhook) Rule {
	return Rule{View: state.AlertRule{Name: "api-slow", When: "latency_p99", Scope: state.AlertScope{Backend: "api"},
		Threshold: "250ms", ResolveBelow: "200ms", For: "2s"},
		Kind: LatencyP99, Unit: UnitDuration, Threshold: 250, Resolve: 200, For: 2 * time.Second, Webhooks: hooks}
}

type eventLog struct {
	mu sync.Mutex
	ev []state.Event
}

func (l *eventLog) add(e state.Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }
func (l *eventLog) list() []state.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]state.Event(nil), l.ev...)
}

// TestAlertStateMachine: pending for `for`, firing once, hysteresis keeps
// it firing between resolve_below and threshold, resolved once; a dip
// below the threshold while pending restarts the wait silently. Exactly
// one firing and one resolved event and POST per episode.
func TestAlertStateMachine(t *testing.T) {
	rec := newReceiver(t)
	var evs eventLog
	e := New(Options{Emit: evs.add})
	defer e.Stop(time.Second)
	e.SetRules([]Rule{slowRule(Webhook{URL: rec.URL})})
	steps := []struct {
		p99  float64
		want string
	}{
		{100, "ok"}, {300, "pending"}, {240, "ok"}, // a dip restarts the wait
		{300, "pending"}, {300, "pending"}, {260, "firing"}, // 2s at or above 250ms
		{220, "firing"}, {249, "firing"}, // between resolve_below and threshold: still firing
		{199, "ok"},                                                      // resolved
		{300, "pending"}, {300, "pending"}, {300, "firing"}, {100, "ok"}, // a second episode
	}
	for i, s := range steps {
		e.Evaluate(statsAt(i, s.p99))
		if st := e.Status()[0]; st.State != s.want {
			t.Fatalf("step %d (p99 %vms): state %s, want %s", i, s.p99, st.State, s.want)
		}
	}
	e.Evaluate(statsAt(len(steps)-1, 900)) // not newer: ignored
	if st := e.Status()[0]; st.State != "ok" || st.Text != "100ms" {
		t.Fatalf("a stale sample was evaluated: %+v", st)
	}
	want := "api-slow:firing api-slow:resolved api-slow:firing api-slow:resolved"
	waitUntil(t, 5*time.Second, "4 webhook posts", func() bool { return len(rec.states()) == 4 })
	if got := strings.Join(rec.states(), " "); got != want {
		t.Fatalf("webhook posts %q, want %q", got, want)
	}
	ev := evs.list()
	if len(ev) != 4 || ev[0].Type != state.EventAlert || ev[0].State != "firing" || ev[0].Alert != "api-slow" ||
		ev[0].Backend != "api" || ev[0].Severity != "warn" ||
		ev[0].Reason != "latency_p99 of backend api is 260ms (threshold 250ms, for 2s)" {
		t.Fatalf("events %+v", ev)
	}
	if ev[1].State != "resolved" || ev[1].Reason != "latency_p99 of backend api is 199ms (below 200ms)" || ev[1].Severity != "info" {
		t.Fatalf("resolved event %+v", ev[1])
	}
	rec.mu.Lock()
	p := rec.got[0]
	rec.mu.Unlock()
	if p.Value != 260 || p.ValueText != "260ms" || p.Threshold != "250ms" || p.Scope.Backend != "api" || !p.Since.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("firing payload %+v", p)
	}
	// No data for the scope: nothing changes, the status says why.
	e.Evaluate(&state.Stats{Time: t0.Add(time.Minute)})
	if st := e.Status()[0]; st.State != "ok" || st.Error != "no data for backend api" {
		t.Fatalf("no data: %+v", st)
	}
}

// TestAlertWebhookRetries: a failing endpoint is retried with backoff
// until it answers 2xx; one that keeps failing is given up after its
// retries and counted.
func TestAlertWebhookRetries(t *testing.T) {
	rec := newReceiver(t)
	rec.fail.Store(2)
	var mu sync.Mutex
	counts := map[string]int{}
	e := New(Options{Backoff: 10 * time.Millisecond, Notified: func(r string) { mu.Lock(); counts[r]++; mu.Unlock() }})
	defer e.Stop(time.Second)
	r := slowRule(Webhook{URL: rec.URL, Retries: 2, Timeout: time.Second})
	r.For = 0
	e.SetRules([]Rule{r})
	e.Evaluate(statsAt(0, 300))
	waitUntil(t, 5*time.Second, "delivery after 2 failures", func() bool { return len(rec.states()) == 1 })
	rec.fail.Store(100)
	e.Evaluate(statsAt(1, 100))
	waitUntil(t, 5*time.Second, "give up", func() bool { mu.Lock(); defer mu.Unlock(); return counts["failed"] == 1 })
	mu.Lock()
	defer mu.Unlock()
	if counts["sent"] != 1 || counts["failed"] != 1 {
		t.Fatalf("counts %v", counts)
	}
}

// TestAlertHangingWebhookDelaysNothing: an endpoint that never answers
// holds neither the evaluation nor another endpoint's notifications; its
// queue is bounded (the excess is dropped and counted).
func TestAlertHangingWebhookDelaysNothing(t *testing.T) {
	rec := newReceiver(t)
	hang := hanging(t)
	var dropped atomic.Int32
	e := New(Options{QueueSize: 4, Notified: func(r string) {
		if r == "dropped" {
			dropped.Add(1)
		}
	}})
	defer e.Stop(100 * time.Millisecond)
	r := slowRule(Webhook{URL: hang.URL, Timeout: time.Hour}, Webhook{URL: rec.URL})
	r.For = 0
	e.SetRules([]Rule{r})
	for i := range 20 { // 10 episodes: 20 notices
		p := 300.0
		if i%2 == 1 {
			p = 100
		}
		start := time.Now()
		e.Evaluate(statsAt(i, p))
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("evaluation %d took %v behind a hanging webhook", i, d)
		}
		waitUntil(t, 2*time.Second, "the healthy endpoint's post", func() bool { return len(rec.states()) == i+1 })
	}
	// The hanging endpoint holds one POST and queues 4: 15 were dropped.
	if n := dropped.Load(); n != 15 {
		t.Fatalf("dropped %d, want 15", n)
	}
}
