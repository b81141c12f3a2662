package alert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// TestAlertStateSurvivesUpgrade: with a state_dir, a firing alert stays
// firing in the next process (a binary upgrade or restart) without a
// second firing notification, and resolves there with exactly one
// resolved one. While the old process still runs, the new one does not
// evaluate (it waits for the state lock), so no episode is notified twice.
func TestAlertStateSurvivesUpgrade(t *testing.T) {
	dir := t.TempDir()
	rec := newReceiver(t)
	r := slowRule(Webhook{URL: rec.URL})
	r.For = 0
	stats := func(p99 float64) func() *state.Stats {
		return func() *state.Stats {
			return &state.Stats{Time: time.Now(), Backends: []state.BackendStats{{Name: "api", P99Ms: p99}}}
		}
	}
	old := New(Options{StateDir: dir, Period: 10 * time.Millisecond})
	old.SetRules([]Rule{r})
	old.Run(stats(300))
	waitUntil(t, 5*time.Second, "firing in the old process", func() bool { return old.Firing("api-slow") })

	next := New(Options{StateDir: dir, Period: 10 * time.Millisecond})
	defer next.Stop(time.Second)
	next.SetRules([]Rule{r})
	next.Run(stats(100)) // would resolve at once if it evaluated
	time.Sleep(100 * time.Millisecond)
	if st := next.Status()[0]; st.State != "ok" || st.Value != 0 {
		t.Fatalf("the new process evaluated while the old one held the lock: %+v", st)
	}
	old.Stop(time.Second)
	waitUntil(t, 5*time.Second, "resolved in the new process", func() bool { return len(rec.states()) == 2 })
	time.Sleep(50 * time.Millisecond)
	if got := strings.Join(rec.states(), " "); got != "api-slow:firing api-slow:resolved" {
		t.Fatalf("webhook posts across the upgrade: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
		t.Fatal(err)
	}
}

// TestAlertStateKeptAcrossRulesChange: a reload with the same rule (or a
// new threshold) keeps a firing alert firing without notifying; a rule
// whose scope changes, or that is removed, resolves with one notification.
func TestAlertStateKeptAcrossRulesChange(t *testing.T) {
	rec := newReceiver(t)
	e := New(Options{})
	defer e.Stop(time.Second)
	r := slowRule(Webhook{URL: rec.URL})
	r.For = 0
	e.SetRules([]Rule{r})
	e.Evaluate(statsAt(0, 300))
	r2 := r
	r2.Threshold, r2.View.Threshold = 280, "280ms"
	e.SetRules([]Rule{r2})
	if !e.Firing("api-slow") {
		t.Fatal("a new threshold reset a firing alert")
	}
	r3 := r2
	r3.View.Scope = state.AlertScope{Backend: "web"}
	e.SetRules([]Rule{r3})
	if e.Firing("api-slow") {
		t.Fatal("a rule watching something else kept the old state")
	}
	waitUntil(t, 5*time.Second, "2 posts", func() bool { return len(rec.states()) == 2 })
	rec.mu.Lock()
	p := rec.got[1]
	rec.mu.Unlock()
	if p.State != "resolved" || !strings.HasSuffix(p.Message, "the rule changed what it watches") {
		t.Fatalf("payload %+v", p)
	}
}

// TestAlertValues: each kind reads its value from the sample over each
// scope it allows.
func TestAlertValues(t *testing.T) {
	prev := &state.Stats{Time: t0, Backends: []state.BackendStats{{Name: "api", Servers: []state.ServerStats{
		{Address: "10.0.0.1:80", Failures: 10}}}}}
	s := &state.Stats{Time: t0.Add(2 * time.Second),
		Frontends: []state.FrontendStats{
			{Name: "web", P99Ms: 120, ErrorRate: 0.1, RequestsPerSec: 100, RateLimitedPerSec: 7, ActiveConnections: 40},
			{Name: "adm", P99Ms: 300, ErrorRate: 0.5, RequestsPerSec: 100, RateLimitedPerSec: 1, ActiveConnections: 2}},
		Backends: []state.BackendStats{{Name: "api", P99Ms: 80, ErrorRate: 0.2, RateLimitedPerSec: 3, ActiveConnections: 5,
			Servers: []state.ServerStats{
				{Address: "10.0.0.1:80", Health: "up", Enabled: true, P99Ms: 90, RequestsPerSec: 10, Failures: 15, ActiveConnections: 4},
				{Address: "10.0.0.2:80", Health: "down", Enabled: true},
				{Address: "10.0.0.3:80", Health: "damped", Enabled: true},
				{Address: "10.0.0.4:80", Health: "down", Enabled: false}, // disabled: not counted
				{Address: "10.0.0.5:80", Health: "down", Enabled: true, Draining: true},
			}}},
		Process: state.ProcessStats{RSSBytes: 3 << 20, OpenFDs: 77, CPUPercent: 150, ActiveConnections: 42}}
	sc := func(f, b, srv string) state.AlertScope { return state.AlertScope{Frontend: f, Backend: b, Server: srv} }
	for _, c := range []struct {
		kind  string
		scope state.AlertScope
		want  float64
	}{
		{ServerDown, sc("", "", ""), 2}, {ServerDown, sc("", "api", ""), 2}, {ServerDown, sc("", "api", "10.0.0.2:80"), 1},
		{ServerDown, sc("", "api", "[::ffff:10.0.0.1]:80"), 0},
		{LatencyP99, sc("", "", ""), 300}, {LatencyP99, sc("web", "", ""), 120}, {LatencyP99, sc("", "api", ""), 80},
		{LatencyP99, sc("", "api", "10.0.0.1:80"), 90},
		{ErrorRate, sc("", "", ""), 0.3}, {ErrorRate, sc("web", "", ""), 0.1}, {ErrorRate, sc("", "api", ""), 0.2},
		{ErrorRate, sc("", "api", "10.0.0.1:80"), 0.25}, // 5 failures of 20 attempts in 2s
		{RateLimited, sc("", "", ""), 11}, {RateLimited, sc("web", "", ""), 7}, {RateLimited, sc("", "api", ""), 3},
		{RSS, sc("", "", ""), 3 << 20}, {FDs, sc("", "", ""), 77}, {CPU, sc("", "", ""), 1.5},
		{Connections, sc("", "", ""), 42}, {Connections, sc("web", "", ""), 40}, {Connections, sc("", "api", ""), 5},
		{Connections, sc("", "api", "10.0.0.1:80"), 4},
	} {
		r := Rule{Kind: c.kind, View: state.AlertRule{Scope: c.scope}}
		v, ok, why := r.value(s, prev)
		if !ok || v != c.want {
			t.Errorf("%s over %s: %v %v %q, want %v", c.kind, scopeText(c.scope), v, ok, why, c.want)
		}
	}
	for _, c := range []state.AlertScope{sc("nope", "", ""), sc("", "nope", ""), sc("", "api", "10.9.9.9:80")} {
		r := Rule{Kind: LatencyP99, View: state.AlertRule{Scope: c}}
		if _, ok, why := r.value(s, prev); ok || why != "no data for "+scopeText(c) {
			t.Errorf("%s: ok %v %q", scopeText(c), ok, why)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct {
		unit string
		v    float64
		want string
	}{{UnitDuration, 312.4, "312ms"}, {UnitDuration, 1534, "1.53s"}, {UnitDuration, 0.25, "250µs"}, {UnitRatio, 0.0712, "0.0712"},
		{UnitCount, 3, "3"}, {UnitSize, 1.5 * (1 << 30), "1.5GiB"}, {UnitSize, 512, "512"}} {
		if got := Text(c.unit, c.v); got != c.want {
			t.Errorf("Text(%s, %v) = %q, want %q", c.unit, c.v, got, c.want)
		}
	}
}
