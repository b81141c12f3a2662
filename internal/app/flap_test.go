package app

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// flapper is an http server that alternates every period between healthy
// (200 everywhere) and broken (500 everywhere, /health included), as a
// server with a failing disk or a crash-looping process does.
type flapper struct {
	start  atomic.Int64 // unix ns
	period time.Duration
	hits   atomic.Int64
}

func (f *flapper) bad() bool {
	return (time.Duration(time.Now().UnixNano()-f.start.Load())/f.period)%2 == 1
}

func (f *flapper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" {
		f.hits.Add(1)
	}
	if f.bad() {
		w.WriteHeader(http.StatusInternalServerError)
	}
	_, _ = io.WriteString(w, "flapper")
}

// flapRun runs one App over a stable server and a flapper (active http
// checks every 100ms: down after 2 failures, up after 1 success; passive
// checks off; flap
// block as given) under load for d, and returns every request's result,
// when the load (and the flapping) started, and the App.
func flapRun(t *testing.T, flap string, d time.Duration) (rs []hlResult, t0 time.Time, h *hlApp, fl *flapper) {
	t.Helper()
	p := hlPorts(t, 4)
	stable, flapAddr := hlAddr(p[2]), hlAddr(p[3])
	hlStartHTTP(t, "stable", stable)
	fl = &flapper{period: 300 * time.Millisecond}
	fl.start.Store(time.Now().UnixNano())
	srv := &http.Server{Handler: fl, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(hlListen(t, flapAddr)) }()
	t.Cleanup(func() { _ = srv.Close() })
	yaml := fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: "off"}
frontends:
  - {name: fe, listen: "127.0.0.1:%d", backend: be}
backends:
  - name: be
    servers: [{address: "%s"}, {address: "%s"}]
    health:
      active: {type: http, path: /health, interval: 100ms, timeout: 90ms, healthy_threshold: 1, unhealthy_threshold: 2}
      passive: {unhealthy_threshold: 0}
%s`, p[0], p[1], stable, flapAddr, flap)
	h = hlStart(t, yaml)
	cl := hlHTTPClient(t)
	url := "http://" + hlAddr(p[1]) + "/x"
	t0 = time.Now()
	fl.start.Store(t0.UnixNano()) // flapping starts with the load
	stop := hlLoad(4, func() (string, error) {
		st, body, err := hlGet(cl, url)
		if err == nil && st != 200 {
			err = fmt.Errorf("status %d", st)
		}
		return body, err
	})
	time.Sleep(d)
	return stop(), t0, h, fl
}

func countErrs(rs []hlResult) (n int) {
	for _, r := range rs {
		if r.err != nil {
			n++
		}
	}
	return n
}

// TestFlapDampingCutsClientErrors: a server alternating between healthy
// and broken every 300ms under load. Without flap damping the active
// check follows every flip and clients get the broken answers of each
// detection lag; with health.flap it is held out after 3 changes within
// the window (for 10s: the rest of the run), and the clients' error count
// drops. Both numbers are logged (go test -v): the totals, and the errors
// of requests started after the moment damping held the flapper out (the
// same offset from the start for both runs).
func TestFlapDampingCutsClientErrors(t *testing.T) {
	const d = 5 * time.Second
	offRs, offT0, hOff, _ := flapRun(t, "", d)
	if n := hOff.log.count("flap damping: server held out"); n != 0 {
		t.Fatalf("damping off, yet %d hold-outs logged", n)
	}
	onRs, onT0, hOn, fl := flapRun(t, "      flap: {max_transitions: 2, window: 10s, penalty: 10s, max_penalty: 20s}\n", d)
	recs := hOn.log.records("flap damping: server held out")
	if len(recs) == 0 {
		t.Fatalf("no hold-out logged:\n%s", hOn.log.b.String())
	}
	heldAt, err := time.Parse(time.RFC3339Nano, fmt.Sprint(recs[0]["time"]))
	if err != nil {
		t.Fatal(err)
	}
	lead := heldAt.Sub(onT0) + 50*time.Millisecond // requests in flight at that moment may still fail
	_, onLate, firstOn := hlErrors(onRs, onT0.Add(lead))
	if firstOn != nil {
		t.Logf("first error with damping on after the hold-out: %v", firstOn)
	}
	_, offLate, _ := hlErrors(offRs, offT0.Add(lead))
	offErrs, onErrs := countErrs(offRs), countErrs(onRs)
	t.Logf("client errors over %v: damping off %d of %d requests, damping on %d of %d; after the hold-out began (%v in): off %d, on %d",
		d, offErrs, len(offRs), onErrs, len(onRs), lead.Round(time.Millisecond), offLate, onLate)
	if offLate < 20 {
		t.Fatalf("damping off: only %d errors after %v; the flapping server did not show", offLate, lead)
	}
	// Once held out the flapper costs nothing, while without damping every
	// flip still costs its detection lag.
	if onErrs >= offErrs || onLate != 0 {
		t.Fatalf("damping on: %d errors (%d after the hold-out), not clearly fewer than %d (%d) with damping off", onErrs, onLate, offErrs, offLate)
	}
	// The flapper is held out (logged with its reason, shown as damped)
	// and gets no request while held out.
	if r := fmt.Sprint(recs[0]["reason"]); recs[0]["backend"] != "be" || r != "flapping: 3 state changes within 10s; held out for 10s" {
		t.Fatalf("first hold-out reason %q", r)
	}
	// The hold-out is in the server's health history, with its reason.
	var held bool
	for _, h := range hOn.Control().(state.HistoryReader).History("be", fmt.Sprint(recs[0]["server"])) {
		held = held || (h.Source == "damping" && h.State == state.HealthDamped &&
			h.Reason == "flapping: 3 state changes within 10s; held out for 10s")
	}
	if !held {
		t.Fatalf("no damping entry in the history: %+v", hOn.Control().(state.HistoryReader).History("be", fmt.Sprint(recs[0]["server"])))
	}
	var srv = hOn.srv("be", fmt.Sprint(recs[0]["server"]))
	if srv == nil || !srv.Damped() {
		t.Fatalf("server %v not damped at the end", recs[0]["server"])
	}
	before := fl.hits.Load()
	time.Sleep(300 * time.Millisecond)
	if after := fl.hits.Load(); after != before {
		t.Fatalf("a damped server got %d requests", after-before)
	}
}

// TestFlapReloadOnOff: without a flap block no server has a tracker (the
// data path and health are exactly as before the feature); a reload that
// adds one gives every server a tracker, kept by the next reload; a reload
// that removes it lets a held-out server go at once.
func TestFlapReloadOnOff(t *testing.T) {
	p := hlPorts(t, 3)
	hlStartHTTP(t, "a", hlAddr(p[2]))
	yaml := func(flap string) string {
		return fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: "off"}
frontends:
  - {name: fe, listen: "127.0.0.1:%d", backend: be}
backends:
  - name: be
    servers: [{address: "%s"}]
    health:
%s`, p[0], p[1], hlAddr(p[2]), flap)
	}
	h := hlStart(t, yaml(""))
	srv := h.srv("be", hlAddr(p[2]))
	if f := stateOf(srv).flap.Load(); f != nil {
		t.Fatal("a flap tracker without health.flap")
	}
	on := yaml("      flap: {max_transitions: 1, window: 1m, penalty: 1h}\n")
	if _, err := h.Apply(hlConfig(t, on)); err != nil {
		t.Fatal(err)
	}
	f := stateOf(srv).flap.Load()
	if f == nil {
		t.Fatal("no flap tracker after a reload turned flap damping on")
	}
	healthTransition(srv)
	healthTransition(srv)
	if !srv.Damped() {
		t.Fatal("2 transitions with max_transitions 1 did not damp")
	}
	if _, err := h.Apply(hlConfig(t, on)); err != nil {
		t.Fatal(err)
	}
	if stateOf(srv).flap.Load() != f || !srv.Damped() {
		t.Fatal("a reload with the same flap block lost the tracker or its hold-out")
	}
	if _, err := h.Apply(hlConfig(t, yaml(""))); err != nil {
		t.Fatal(err)
	}
	if stateOf(srv).flap.Load() != nil || srv.Damped() {
		t.Fatal("flap damping turned off, yet the server is still held out")
	}
	if n := h.log.count("flap damping: server trusted again", "reason", "flap damping turned off"); n != 1 {
		t.Fatalf("%d release records", n)
	}
}
