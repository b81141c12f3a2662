package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// Tests of the live view (state.Control's read side). Helpers start with lv.

// lvSlowBackend answers every request after delay with 200 "slow".
func lvSlowBackend(t *testing.T, delay time.Duration) string {
	return obsServe(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for obsReadHead(br) == nil {
			time.Sleep(delay)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"); err != nil {
				return
			}
		}
	})
}

// lvStats polls Control().Stats() until ok accepts one, or fails after 10s.
func lvStats(t *testing.T, c state.Control, what string, ok func(*state.Stats) error) *state.Stats {
	t.Helper()
	var st *state.Stats
	obsEventually(t, 10*time.Second, func() error {
		st = c.Stats()
		if err := ok(st); err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		return nil
	})
	return st
}

func lvBackend(st *state.Stats, name string) *state.BackendStats {
	for i := range st.Backends {
		if st.Backends[i].Name == name {
			return &st.Backends[i]
		}
	}
	return nil
}

func lvFrontend(st *state.Stats, name string) *state.FrontendStats {
	for i := range st.Frontends {
		if st.Frontends[i].Name == name {
			return &st.Frontends[i]
		}
	}
	return nil
}

// TestLiveStatsAndLogs drives requests of known latency and outcome through
// a running App (access log off) and checks the Stats sample (per-server
// p50/p99, request counts, failures, health views, process numbers) and
// the in-memory log ring with each filter.
func TestLiveStatsAndLogs(t *testing.T) {
	slow := lvSlowBackend(t, 30*time.Millisecond)
	fast1, fast2 := obsHTTPBackend(t, 200, "hello"), obsHTTPBackend(t, 200, "hello")
	errSrv := obsHTTPBackend(t, 503, "busy")
	echo := obsServe(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	admin, web, db := obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t)
	a := obsStart(t, fmt.Sprintf(`
admin: {listen: %q}
logging: {level: error, access_log: off}
frontends:
  - name: web
    listen: %q
    routes:
      - {match: {path_prefix: /slow}, backend: slow}
      - {match: {path_prefix: /err}, backend: err}
    backend: fast
  - {name: db, mode: tcp, listen: %q, backend: echo}
backends:
  - {name: slow, servers: [{address: %q}]}
  - {name: fast, algorithm: weighted_round_robin, servers: [{address: %q, weight: 2}, {address: %q, weight: 2}]}
  - name: err
    health: {passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}]
  - {name: echo, servers: [{address: %q}]}
`, admin, web, db, slow, fast1, fast2, errSrv, echo), Options{})
	c := a.Control()
	var slowMs []float64 // as the client saw them: sluice's own view can only be shorter
	for i := 0; i < 20; i++ {
		start := time.Now()
		if st, _ := obsGet(t, web, fmt.Sprintf("/slow/%d", i)); st != 200 {
			t.Fatalf("GET /slow = %d", st)
		}
		slowMs = append(slowMs, float64(time.Since(start))/1e6)
	}
	sort.Float64s(slowMs)
	// The histogram's buckets are at most 25% wide: an interpolated
	// percentile is within 25% of a value the client could see.
	clientP50, clientMax := slowMs[len(slowMs)/2], slowMs[len(slowMs)-1]
	for i := 0; i < 100; i++ {
		if st, _ := obsGet(t, web, fmt.Sprintf("/fast/%d", i)); st != 200 {
			t.Fatalf("GET /fast = %d", st)
		}
	}
	for i := 0; i < 10; i++ {
		if st, _ := obsGet(t, web, "/err"); st != 503 {
			t.Fatalf("GET /err = %d", st)
		}
	}
	conn, err := net.Dial("tcp", db)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	st := lvStats(t, c, "all requests counted", func(st *state.Stats) error {
		w, d := lvFrontend(st, "web"), lvFrontend(st, "db")
		if w == nil || d == nil {
			return fmt.Errorf("frontends %+v", st.Frontends)
		}
		if w.Requests != 130 || d.Requests != 1 {
			return fmt.Errorf("web %d requests, db %d sessions; want 130, 1", w.Requests, d.Requests)
		}
		return nil
	})
	sb, fb, eb := lvBackend(st, "slow"), lvBackend(st, "fast"), lvBackend(st, "err")
	if sb == nil || fb == nil || eb == nil || len(sb.Servers) != 1 || len(fb.Servers) != 2 {
		t.Fatalf("backends %+v", st.Backends)
	}
	if s := sb.Servers[0]; s.P50Ms < 30 || s.P50Ms > 1.25*clientP50 || s.P99Ms < 30 || s.P99Ms > 1.25*clientMax {
		t.Errorf("slow server p50 %.2fms p99 %.2fms; the backend waits 30ms, the client saw p50 %.2fms, max %.2fms",
			s.P50Ms, s.P99Ms, clientP50, clientMax)
	}
	if sb.P50Ms != sb.Servers[0].P50Ms {
		t.Errorf("slow backend p50 %.2fms, its one server's %.2fms", sb.P50Ms, sb.Servers[0].P50Ms)
	}
	for _, s := range fb.Servers {
		if s.P50Ms <= 0 || s.P50Ms > 25 {
			t.Errorf("fast server %s p50 %.2fms, want under 25ms", s.Address, s.P50Ms)
		}
		if s.Health != state.HealthUp || !s.ActiveUp || !s.PassiveUp || !s.Enabled || s.Draining || s.Removed || s.Weight != 2 {
			t.Errorf("fast server %+v", s)
		}
	}
	if f := eb.Servers[0].Failures; f != 10 {
		t.Errorf("err server failures_total %d, want 10", f)
	}
	w := lvFrontend(st, "web")
	if w.P50Ms <= 0 || w.P99Ms < 30 {
		t.Errorf("web p50 %.2fms p99 %.2fms: the slow requests are a sixth of them, p99 must see them", w.P50Ms, w.P99Ms)
	}
	p := st.Process
	if p.RSSBytes < 1<<20 || p.OpenFDs < 5 || p.Goroutines < 5 || p.Uptime <= 0 || p.CPUPercent < 0 {
		t.Errorf("process stats %+v", p)
	}
	t.Logf("web: %+v", *w)
	t.Logf("slow server: %+v", sb.Servers[0])
	t.Logf("process: %+v", p)

	// The log ring was fed although access_log is off.
	all := c.Logs(state.LogFilter{Limit: 1000})
	if len(all) != 131 {
		t.Fatalf("%d log entries, want 131", len(all))
	}
	if e := all[0]; e.Mode != "tcp" || e.Frontend != "db" || e.Backend != "echo" || e.Server != echo || e.BytesIn != 4 {
		t.Errorf("newest entry %+v, want the tcp session", e)
	}
	for _, q := range []struct {
		f state.LogFilter
		n int
	}{
		{state.LogFilter{Backend: "err", Limit: 1000}, 10},
		{state.LogFilter{Status: "503", Limit: 1000}, 10},
		{state.LogFilter{Status: "2xx", Limit: 1000}, 120},
		{state.LogFilter{Q: "/slow/1", Limit: 1000}, 11},
		{state.LogFilter{Frontend: "web", ClientIP: "127.0.0.0/8", Limit: 1000}, 130},
		{state.LogFilter{ClientIP: "10.0.0.0/8"}, 0},
		{state.LogFilter{Frontend: "web"}, 100},
		{state.LogFilter{Status: "600"}, 0},
	} {
		got := c.Logs(q.f)
		if len(got) != q.n {
			t.Errorf("Logs(%+v): %d entries, want %d", q.f, len(got), q.n)
		}
	}
	if e := c.Logs(state.LogFilter{Q: "/slow/19", Limit: 1})[0]; e.Method != "GET" || e.Path != "/slow/19" ||
		e.Status != 200 || e.Server != slow || e.DurationMs < 30 || e.ClientIP != "127.0.0.1" {
		t.Errorf("entry %+v", e)
	}
}

// TestLiveReadersNeverTakeTheApplyLock: with the apply lock held (as a slow
// apply would), every reader of Control answers at once.
func TestLiveReadersNeverTakeTheApplyLock(t *testing.T) {
	a := lvSimpleApp(t, "")
	c := a.Control()
	a.mu.Lock()
	done := make(chan string, 1)
	go func() {
		if s := c.Snapshot(); s == nil || len(s.Frontends) != 1 || s.Generation != 1 {
			done <- fmt.Sprintf("bad snapshot %+v", s)
			return
		}
		_ = c.Stats()
		_ = c.Events(0, 0)
		_ = c.Logs(state.LogFilter{})
		sub := c.Subscribe(8)
		sub.Close()
		if errs := c.Validate([]byte("frontends: []\n")); len(errs) == 0 {
			done <- "Validate found no error in an invalid text"
			return
		}
		done <- ""
	}()
	select {
	case msg := <-done:
		a.mu.Unlock()
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(5 * time.Second):
		a.mu.Unlock()
		t.Fatal("a reader blocked on the apply lock")
	}
}

// lvSimpleApp starts an App with one http frontend over one backend
// answering 200; extra is appended to the backend's YAML mapping.
func lvSimpleApp(t *testing.T, extra string) *App {
	t.Helper()
	return obsStart(t, lvSimpleYAML(t, obsFreeAddr(t), obsFreeAddr(t), obsHTTPBackend(t, 200, "hello"), extra), Options{})
}

func lvSimpleYAML(t *testing.T, admin, web, server, extra string) string {
	return fmt.Sprintf(`admin: {listen: %q}
logging: {level: error, access_log: off}
frontends:
  - {name: web, listen: %q, backend: app}
backends:
  - name: app
    servers: [{address: %q}]
%s`, admin, web, server, extra)
}

// lvEvent polls Control().Events until one satisfies ok.
func lvEvent(t *testing.T, c state.Control, what string, ok func(state.Event) bool) state.Event {
	t.Helper()
	var found state.Event
	obsEventually(t, 10*time.Second, func() error {
		for _, e := range c.Events(0, 0) {
			if ok(e) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no event: %s; have %+v", what, c.Events(0, 0))
	})
	return found
}

// TestLiveEventsWithReasons: health transitions become events that say why
// (an active probe's status, the passive failure kinds, the half-open
// trial and its failure), and reloads become events with their source, a
// refused one with its error; the Snapshot's LastReload follows.
func TestLiveEventsWithReasons(t *testing.T) {
	bad := obsHTTPBackend(t, 500, "boom")
	sick := obsHTTPBackend(t, 503, "sick")
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	yaml := fmt.Sprintf(`admin: {listen: %q}
logging: {level: error, access_log: off}
frontends:
  - name: web
    listen: %q
    routes: [{match: {path_prefix: /sick}, backend: sick}]
    backend: bad
backends:
  - name: bad
    health: {passive: {unhealthy_threshold: 3, cooldown: 300ms}}
    servers: [{address: %q}]
  - name: sick
    health: {active: {type: http, path: /health, interval: 100ms, timeout: 50ms, unhealthy_threshold: 1}}
    servers: [{address: %q}]
`, admin, web, bad, sick)
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	a := obsStart(t, yaml, Options{ConfigFile: path})
	c := a.Control()
	if r := c.Snapshot().LastReload; r.Source != SourceStart || r.Result != "success" {
		t.Fatalf("LastReload at start %+v", r)
	}
	e := lvEvent(t, c, "sick down", func(e state.Event) bool { return e.Server == sick && e.State == state.HealthDown })
	if e.Type != state.EventHealth || e.Source != "active" || e.Reason != "active check: status 503" || e.Backend != "sick" || e.Severity != "warn" {
		t.Errorf("active event %+v", e)
	}
	for i := 0; i < 3; i++ {
		if st, _ := obsGet(t, web, "/"); st != 500 {
			t.Fatalf("GET / = %d", st)
		}
	}
	e = lvEvent(t, c, "bad ejected", func(e state.Event) bool { return e.Server == bad && e.State == state.HealthDown })
	if e.Source != "passive" || e.Reason != "3 consecutive failures on live traffic: 5xx" {
		t.Errorf("passive event %+v", e)
	}
	lvEvent(t, c, "bad half-open", func(e state.Event) bool { return e.Server == bad && e.State == state.HealthHalfOpen })
	if st, _ := obsGet(t, web, "/"); st != 500 { // the trial
		t.Fatalf("trial = %d", st)
	}
	e = lvEvent(t, c, "trial failed", func(e state.Event) bool {
		return e.Server == bad && strings.HasPrefix(e.Reason, "trial failed")
	})
	if e.Reason != "trial failed: 5xx; ejected for another 300ms" {
		t.Errorf("trial event %+v", e)
	}
	st := lvStats(t, c, "reason in stats", func(st *state.Stats) error {
		if b := lvBackend(st, "sick"); b == nil || b.Servers[0].Reason != "active check: status 503" || b.Servers[0].Health != state.HealthDown || b.Servers[0].ActiveUp {
			return fmt.Errorf("sick %+v", b)
		}
		return nil
	})
	_ = st

	gen := c.Snapshot().Generation
	if err := os.WriteFile(path, []byte(yaml+"# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadFrom(path, SourceWatch); err != nil {
		t.Fatal(err)
	}
	s := c.Snapshot()
	if s.Generation != gen+1 || s.LastReload.Source != SourceWatch || s.LastReload.Result != "success" {
		t.Fatalf("after a watch reload: generation %d (was %d), last reload %+v", s.Generation, gen, s.LastReload)
	}
	lvEvent(t, c, "watch reload", func(e state.Event) bool { return e.Type == state.EventReload && e.Source == SourceWatch })
	if err := os.WriteFile(path, []byte(yaml+"bogus_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.ReloadFrom(path, SourceSignal); err == nil {
		t.Fatal("reload of an invalid file succeeded")
	}
	s = c.Snapshot()
	if s.Generation != gen+1 || s.LastReload.Result != "failure" || !strings.Contains(s.LastReload.Error, "bogus_key") {
		t.Fatalf("after a refused reload: generation %d, last reload %+v", s.Generation, s.LastReload)
	}
	e = lvEvent(t, c, "refused reload", func(e state.Event) bool { return e.Type == state.EventReload && e.Severity == "error" })
	if e.Source != SourceSignal || !strings.Contains(e.Reason, "bogus_key") {
		t.Errorf("refused reload event %+v", e)
	}
}

// TestLiveSubscribe: a subscriber gets a stats item once a second, events
// as they happen and log lines (filtered as it asks); one that never reads
// is dropped and the others go on.
func TestLiveSubscribe(t *testing.T) {
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	be := obsHTTPBackend(t, 200, "hello")
	yaml := lvSimpleYAML(t, admin, web, be, "")
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	a := obsStart(t, yaml, Options{ConfigFile: path})
	c := a.Control()
	sub := c.Subscribe(256)
	defer sub.Close()
	stalled := c.Subscribe(2)
	logsOnly := c.Subscribe(64)
	defer logsOnly.Close()
	logsOnly.SetFilter(state.StreamFilter{Logs: true, Log: state.LogFilter{Q: "/wanted"}})

	start := time.Now()
	var stats, events, logs int
	deadline := time.After(3500 * time.Millisecond)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = a.ReloadFrom(path, SourceSignal)
		obsGet(t, web, "/wanted")
		obsGet(t, web, "/other")
	}()
loop:
	for {
		select {
		case it, ok := <-sub.C:
			if !ok {
				t.Fatal("the reading subscriber was dropped")
			}
			switch {
			case it.Stats != nil:
				stats++
			case it.Event != nil:
				events++
			case it.Logs != nil:
				logs += len(it.Logs.Entries)
			}
		case <-deadline:
			break loop
		}
	}
	if stats < 3 || stats > 4 || events < 1 || logs != 2 {
		t.Fatalf("in %v: %d stats, %d events, %d log lines; want 3-4, >= 1, 2", time.Since(start).Round(time.Millisecond), stats, events, logs)
	}
	if !stalled.Dropped() {
		t.Fatal("the subscriber that never read was not dropped")
	}
	var got []string
	for len(logsOnly.C) > 0 {
		it := <-logsOnly.C
		if it.Logs == nil {
			t.Fatalf("a logs-only subscriber got %+v", it)
		}
		for _, e := range it.Logs.Entries {
			got = append(got, e.Path)
		}
	}
	if len(got) != 1 || got[0] != "/wanted" {
		t.Fatalf("filtered log lines %v, want [/wanted]", got)
	}
}

// TestControlValidate: Validate checks a text as a reload would, binding
// and resolving nothing, and names the line and column of each error.
func TestControlValidate(t *testing.T) {
	a := lvSimpleApp(t, "")
	c := a.Control()
	ok := lvSimpleYAML(t, "127.0.0.1:1", "127.0.0.1:2", "no-such-host.invalid:80", "") // not resolved
	if errs := c.Validate([]byte(ok)); errs != nil {
		t.Fatalf("valid text: %+v", errs)
	}
	errs := c.Validate([]byte(ok + "    weight: 999\n    colour: red\n"))
	if len(errs) != 2 {
		t.Fatalf("errors %+v, want 2", errs)
	}
	if e := errs[0]; e.Line != 8 || e.Col == 0 || !strings.Contains(e.Message, "weight") {
		t.Errorf("first error %+v, want line 8 about the weight", e)
	}
	if e := errs[1]; e.Line != 9 || !strings.Contains(e.Message, "colour") {
		t.Errorf("second error %+v, want line 9 about the unknown key", e)
	}
}
