package health

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const (
	testInterval  = 50 * time.Millisecond
	testHealthy   = 2
	testUnhealthy = 3
)

func startChecker(t *testing.T, o ActiveOptions, targets ...Target) *Checker {
	t.Helper()
	c, err := NewChecker(o, targets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func waitRequests(t *testing.T, be *backend, n int) {
	t.Helper()
	waitFor(t, 2*time.Second, "probe requests reach the handler", func() bool { h, _ := be.requests(); return len(h) >= n })
}

func waitAccepts(t *testing.T, be *backend, n int) {
	t.Helper()
	waitFor(t, 2*time.Second, "probes reach the backend", func() bool { return len(be.acceptTimes()) >= n })
}

// TestCheckerDetection: against a real server that stops listening, the
// active check (tcp and http) marks it down within interval ×
// unhealthy_threshold (+ one interval of jitter) and, once it listens again,
// back up within interval × healthy_threshold (+ one interval). Each
// transition calls SetActiveUp and OnTransition once and logs Warn (down) or
// Info (up) with the server and the reason.
//
// The checker runs in a synctest bubble: its timers and the times measured
// here are on the bubble's clock, which stands still while a probe waits on
// the (real) network, so the bounds hold exactly however loaded the machine
// is. The backend lives outside the bubble.
func TestCheckerDetection(t *testing.T) {
	for _, typ := range []CheckType{TCP, HTTP} {
		t.Run(typ.String(), func(t *testing.T) {
			var h http.HandlerFunc
			if typ == HTTP {
				h = func(w http.ResponseWriter, r *http.Request) {}
			}
			be := newBackend(t, h)
			outside := outsideRunner(t)
			synctest.Test(t, func(t *testing.T) { checkDetection(t, typ, be, outside) })
		})
	}
}

func checkDetection(t *testing.T, typ CheckType, be *backend, outside func(func())) {
	f := newFake(be.addr)
	log, records := newCapture()
	startChecker(t, ActiveOptions{
		Type: typ, Interval: testInterval, Timeout: 200 * time.Millisecond,
		HealthyThreshold: testHealthy, UnhealthyThreshold: testUnhealthy,
		Logger: log, OnTransition: onTransition,
	}, f)
	waitAccepts(t, be, 2)
	if ev := f.Events(); len(ev) != 0 || !f.active.Load() {
		t.Fatalf("healthy server: events %+v, active %v", ev, f.active.Load())
	}

	stopped := time.Now()
	be.stop()
	waitFor(t, 2*time.Second, "marked down", func() bool { return len(f.Events()) >= 1 })
	down := f.Events()[0]
	took := down.at.Sub(stopped)
	bound := testInterval*testUnhealthy + testInterval
	if down.up || f.active.Load() || down.reason != "connect: connection refused" {
		t.Fatalf("down event %+v (active flag %v), want down with reason %q", down, f.active.Load(), "connect: connection refused")
	}
	// Three failed probes need at least two jittered intervals (≥ 0.9 each).
	if took > bound || took < 2*testInterval*9/10 {
		t.Fatalf("marked down %v after the server stopped, want within [%v, %v]", took, 2*testInterval*9/10, bound)
	}

	restarted := time.Now()
	outside(be.restart)
	waitFor(t, 2*time.Second, "back up", func() bool { return len(f.Events()) >= 2 })
	up := f.Events()[1]
	back := up.at.Sub(restarted)
	boundUp := testInterval*testHealthy + testInterval
	wantReason := "connected"
	if typ == HTTP {
		wantReason = "status 200"
	}
	if !up.up || !f.active.Load() || up.reason != wantReason {
		t.Fatalf("up event %+v (active flag %v), want up with reason %q", up, f.active.Load(), wantReason)
	}
	if back > boundUp || back < testInterval*9/10 {
		t.Fatalf("back up %v after the server restarted, want within [%v, %v]", back, testInterval*9/10, boundUp)
	}
	t.Logf("%s, interval %v: down after %v (bound %v), up after %v (bound %v)", typ, testInterval, took.Round(time.Millisecond), bound, back.Round(time.Millisecond), boundUp)

	time.Sleep(3 * testInterval) // no further transitions while stable
	if n := len(f.Events()); n != 2 {
		t.Fatalf("%d transitions, want exactly 2", n)
	}
	recs := records()
	if len(recs) != 2 {
		t.Fatalf("%d log records, want 2: %+v", len(recs), recs)
	}
	if r := recs[0]; r.level != slog.LevelWarn || r.msg != "health check failed, server down" ||
		r.attrs["server"] != be.addr || r.attrs["reason"] != "connect: connection refused" || r.attrs["check"] != typ.String() {
		t.Fatalf("down record %+v", r)
	}
	if r := recs[1]; r.level != slog.LevelInfo || r.msg != "health check passed, server up" ||
		r.attrs["server"] != be.addr || r.attrs["reason"] != wantReason {
		t.Fatalf("up record %+v", r)
	}
}

// TestCheckerHTTPRequest: the probe sends GET Path with the configured Host
// (default: the server's address) and compares the status with ExpectStatus.
func TestCheckerHTTPRequest(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	f := newFake(be.addr)
	startChecker(t, ActiveOptions{
		Type: HTTP, Path: "/healthz?deep=1", Host: "api.example.com", ExpectStatus: []StatusRange{{204, 204}},
		Interval: testInterval, Timeout: 200 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 2,
		OnTransition: onTransition,
	}, f)
	waitRequests(t, be, 1)
	hosts, paths := be.requests()
	if hosts[0] != "api.example.com" || paths[0] != "/healthz" {
		t.Fatalf("probe sent Host %q path %q, want api.example.com /healthz", hosts[0], paths[0])
	}
	// 200 is not the expected 204: down after 2 probes, with the status as reason.
	status.Store(http.StatusOK)
	waitFor(t, time.Second, "down on status 200", func() bool { return len(f.Events()) == 1 })
	if ev := f.Events()[0]; ev.up || ev.reason != "status 200" {
		t.Fatalf("event %+v, want down with reason status 200", ev)
	}
	status.Store(http.StatusNoContent)
	waitFor(t, time.Second, "up on status 204", func() bool { return len(f.Events()) == 2 })
	if ev := f.Events()[1]; !ev.up || ev.reason != "status 204" {
		t.Fatalf("event %+v, want up with reason status 204", ev)
	}

	// Default Host: the server's address; no ExpectStatus: any 2xx or 3xx.
	be2 := newBackend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	f2 := newFake(be2.addr)
	startChecker(t, ActiveOptions{Type: HTTP, Interval: testInterval, HealthyThreshold: 1, UnhealthyThreshold: 1, OnTransition: onTransition}, f2)
	waitRequests(t, be2, 1)
	if hosts, paths := be2.requests(); hosts[0] != be2.addr || paths[0] != "/" {
		t.Fatalf("default probe sent Host %q path %q, want %q /", hosts[0], paths[0], be2.addr)
	}
	status.Store(http.StatusFound)
	h2, _ := be2.requests()
	waitRequests(t, be2, len(h2)+2)
	if len(f2.Events()) != 0 {
		t.Fatalf("302 without ExpectStatus must count as healthy: %+v", f2.Events())
	}
	status.Store(http.StatusInternalServerError)
	waitFor(t, time.Second, "down on 500", func() bool { return len(f2.Events()) == 1 })
	if ev := f2.Events()[0]; ev.up || ev.reason != "status 500" {
		t.Fatalf("event %+v", ev)
	}
}

// TestCheckerHTTPTimeout: a server that accepts but never answers fails each
// probe after Timeout.
func TestCheckerHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	f := newFake(be.addr)
	const timeout = 40 * time.Millisecond
	start := time.Now()
	startChecker(t, ActiveOptions{Type: HTTP, Interval: testInterval, Timeout: timeout, UnhealthyThreshold: 2, OnTransition: onTransition}, f)
	waitFor(t, 2*time.Second, "down on timeout", func() bool { return len(f.Events()) == 1 })
	ev := f.Events()[0]
	if ev.up || ev.reason != "timeout after 40ms" {
		t.Fatalf("event %+v, want down with reason %q", ev, "timeout after 40ms")
	}
	// Two probes of 40ms each, one jittered interval between them.
	if took := ev.at.Sub(start); took < 2*timeout+testInterval*9/10 {
		t.Fatalf("down after %v: probes did not wait for the timeout", took)
	}
}

// TestCheckerJitter: checks of different servers do not align: the first
// probe of each target starts at a random offset within one interval, and
// later probes are Interval ±10% apart. The checker runs in a synctest
// bubble and probe starts are recorded on its clock, on which a probe
// (real network I/O) takes no time: every gap is the jittered wait itself,
// whatever the scheduler does.
func TestCheckerJitter(t *testing.T) {
	const n = 8
	var bes []*backend
	for range n {
		bes = append(bes, newBackend(t, nil))
	}
	synctest.Test(t, func(t *testing.T) {
		var ts []Target
		for _, be := range bes {
			ts = append(ts, newFake(be.addr))
		}
		probes := newProbeLog()
		start := time.Now()
		startChecker(t, ActiveOptions{Interval: testInterval, ProxyHeader: probes.hook}, ts...)
		for _, be := range bes {
			waitAccepts(t, be, 6) // the probes do reach the servers
		}
		lo, hi := time.Hour, time.Duration(0)
		var gaps []time.Duration
		for i, tg := range ts {
			at := probes.of(tg)
			first := at[0].Sub(start)
			if first <= 0 || first > testInterval {
				t.Errorf("target %d: first probe after %v, want within one interval", i, first)
			}
			lo, hi = min(lo, first), max(hi, first)
			for j := 1; j < 6; j++ {
				g := at[j].Sub(at[j-1])
				gaps = append(gaps, g)
				if g < testInterval*9/10 || g > testInterval*11/10 {
					t.Errorf("target %d: probes %v apart, want %v ±10%%", i, g, testInterval)
				}
			}
		}
		if hi-lo < testInterval/4 {
			t.Errorf("first probes of %d targets all within %v: checks align", n, hi-lo)
		}
		slices.Sort(gaps)
		distinct := map[time.Duration]bool{}
		for _, g := range gaps {
			distinct[g.Round(100*time.Microsecond)] = true
		}
		if len(distinct) < len(gaps)/3 {
			t.Errorf("only %d distinct gaps among %d: intervals are not jittered", len(distinct), len(gaps))
		}
		t.Logf("first probes of %d targets spread over %v of a %v interval; gaps min %v median %v max %v", n,
			(hi - lo).Round(time.Millisecond), testInterval, gaps[0].Round(time.Millisecond),
			gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
	})
}

func TestJitterRange(t *testing.T) {
	const d = 100 * time.Millisecond
	lo, hi := d, d
	for range 20000 {
		j := jitter(d)
		if j < d*9/10 || j > d*11/10 {
			t.Fatalf("jitter(%v) = %v, outside ±10%%", d, j)
		}
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo > d*91/100 || hi < d*109/100 {
		t.Fatalf("jitter(%v) spans only [%v, %v]", d, lo, hi)
	}
	if jitter(3) != 3 {
		t.Fatal("jitter of a tiny interval must be the interval")
	}
}

// TestCheckerStartDown: with StartDown a target begins down and comes up
// after HealthyThreshold successful probes.
func TestCheckerStartDown(t *testing.T) {
	be := newBackend(t, nil)
	synctest.Test(t, func(t *testing.T) { checkStartDown(t, be) }) // see TestCheckerDetection
}

func checkStartDown(t *testing.T, be *backend) {
	f := newFake(be.addr)
	start := time.Now()
	c := startChecker(t, ActiveOptions{Interval: testInterval, HealthyThreshold: testHealthy, StartDown: true, OnTransition: onTransition}, f)
	if f.active.Load() {
		t.Fatal("StartDown: the target's active flag must start down")
	}
	if up, ok := c.Up(f); up || !ok {
		t.Fatalf("Up = %v, %v; want false, true", up, ok)
	}
	waitFor(t, time.Second, "up after 2 probes", func() bool { return len(f.Events()) == 1 })
	ev := f.Events()[0]
	if took := ev.at.Sub(start); !ev.up || took > testInterval+testInterval*11/10*(testHealthy-1) {
		t.Fatalf("event %+v after %v", ev, took)
	}
	if up, _ := c.Up(f); !up || !f.active.Load() {
		t.Fatal("not up after the healthy threshold")
	}
}

// TestCheckerUpdateSetOptionsStop: Update starts and stops targets, SetOptions
// applies to running checks, Stop ends all probing.
//
// It runs in a synctest bubble (see TestCheckerDetection); probes are
// counted as they start, on the checker's side.
func TestCheckerUpdateSetOptionsStop(t *testing.T) {
	a, b := newBackend(t, nil), newBackend(t, nil)
	outside := outsideRunner(t)
	synctest.Test(t, func(t *testing.T) { checkUpdateSetOptionsStop(t, a, b, outside) })
}

func checkUpdateSetOptionsStop(t *testing.T, a, b *backend, outside func(func())) {
	fa, fb := newFake(a.addr), newFake(b.addr)
	probes := newProbeLog()
	o := ActiveOptions{Interval: testInterval, UnhealthyThreshold: 5, OnTransition: onTransition, ProxyHeader: probes.hook}
	c, err := NewChecker(o, []Target{fa, fa})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() }) // on failure: the bubble ends with every goroutine
	if c.Len() != 1 {
		t.Fatalf("Len = %d with a duplicate target, want 1", c.Len())
	}
	c.Update([]Target{fa, fb})
	waitAccepts(t, b, 1)
	c.Update([]Target{fb})
	if _, ok := c.Up(fa); ok || c.Len() != 1 {
		t.Fatal("removed target still checked")
	}
	time.Sleep(testInterval * 2) // a probe in flight at Update may still land
	na := len(probes.of(fa))
	time.Sleep(testInterval * 3)
	if got := len(probes.of(fa)); got != na {
		t.Fatalf("removed target probed %d more times", got-na)
	}

	if err := c.SetOptions(ActiveOptions{Interval: -1}); err == nil {
		t.Fatal("SetOptions accepted a negative interval")
	}
	o.UnhealthyThreshold = 1
	if err := c.SetOptions(o); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	b.stop()
	waitFor(t, time.Second, "down after 1 failure", func() bool { return len(fb.Events()) == 1 })
	if took := fb.Events()[0].at.Sub(stopped); took > testInterval*2 {
		t.Fatalf("threshold 1: down after %v", took)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	nb := len(probes.of(fb))
	outside(b.restart)
	time.Sleep(testInterval * 3)
	if n := len(probes.of(fb)); n != nb {
		t.Fatalf("%d probes after Stop", n-nb)
	}
	c.Update([]Target{fa})
	if c.Len() != 0 {
		t.Fatal("Update after Stop started a check")
	}
	if err := c.Stop(); err != nil {
		t.Fatal("Stop is not idempotent:", err)
	}
}

func TestActiveOptionsValidation(t *testing.T) {
	_, err := NewChecker(ActiveOptions{
		Type: 9, Path: "health", Host: "a b", ExpectStatus: []StatusRange{{700, 700}}, Interval: -1, Timeout: -1,
		HealthyThreshold: -1, UnhealthyThreshold: -2,
	}, nil)
	for _, want := range []string{"unknown check type", `path "health"`, `host "a b"`, "expect_status 700-700",
		"interval -1ns", "timeout -1ns", "healthy_threshold -1", "unhealthy_threshold -2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: missing %q", err, want)
		}
	}
	o, err := ActiveOptions{}.normalized()
	if err != nil || o.Path != "/" || o.Interval != DefaultInterval || o.Timeout != DefaultTimeout ||
		o.HealthyThreshold != DefaultHealthyThreshold || o.UnhealthyThreshold != DefaultUnhealthyThreshold {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	for code, ok := range map[int]bool{199: false, 200: true, 204: true, 302: true, 399: true, 400: false, 503: false} {
		if o.statusOK(code) != ok {
			t.Errorf("no ExpectStatus: statusOK(%d) = %v", code, !ok)
		}
	}
	o.ExpectStatus = []StatusRange{{204, 204}}
	if o.statusOK(200) || !o.statusOK(204) {
		t.Error("ExpectStatus 204 must accept exactly 204")
	}
	o.ExpectStatus = []StatusRange{{200, 299}, {301, 301}}
	for code, ok := range map[int]bool{200: true, 204: true, 299: true, 301: true, 302: false, 404: false} {
		if o.statusOK(code) != ok {
			t.Errorf("ExpectStatus [2xx, 301]: statusOK(%d) = %v", code, !ok)
		}
	}
	if ty, err := ParseCheckType("http"); ty != HTTP || err != nil {
		t.Error("ParseCheckType(http)")
	}
	if _, err := ParseCheckType("none"); err == nil {
		t.Error(`ParseCheckType("none") must fail`)
	}
}

// TestCheckerOnProbe: OnProbe reports every probe's outcome, before the
// transition that outcome causes.
func TestCheckerOnProbe(t *testing.T) {
	be := newBackend(t, nil)
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seq []string
		note := func(s string) { mu.Lock(); seq = append(seq, s); mu.Unlock() }
		f := newFake(be.addr)
		startChecker(t, ActiveOptions{
			Interval: testInterval, UnhealthyThreshold: 2,
			OnProbe:      func(_ Target, ok bool, reason string) { note(fmt.Sprintf("probe %v %s", ok, reason)) },
			OnTransition: func(_ Target, up bool, reason string) { note(fmt.Sprintf("up=%v", up)) },
		}, f)
		waitAccepts(t, be, 2)
		be.stop()
		waitFor(t, 2*time.Second, "down", func() bool { return !f.active.Load() })
		mu.Lock()
		defer mu.Unlock()
		n := len(seq)
		if n < 5 || seq[0] != "probe true connected" || seq[n-1] != "up=false" ||
			seq[n-2] != "probe false connect: connection refused" || seq[n-3] != seq[n-2] || seq[n-4] != "probe true connected" {
			t.Fatalf("probes and transitions: %q", seq)
		}
	})
}
