package app

// Integration tests of backend health through a running App (issue 7):
// active http/tcp checks, passive ejection and half-open return, all servers
// down, draining on reload and slow start. Every backend is a real server
// started by the test; timings are measured and logged (go test -v).
// What a loaded machine's scheduler stretches is asserted on the code's own
// schedule: probes counted as the checker runs them, cooldowns on the
// passive tracker's clock; the few wall-clock bounds left add the timer
// lateness measured meanwhile (hlLateness). Helpers are prefixed hl.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"

	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/metrics"
)

// ---- helpers ----

// hlLog is a goroutine-safe sink for JSON log lines (process or access log).
type hlLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *hlLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the parsed JSON records whose msg is msg ("" = any) and
// whose fields include every key/value pair of kv.
func (l *hlLog) records(msg string, kv ...string) []map[string]any {
	l.mu.Lock()
	data := append([]byte(nil), l.b.Bytes()...)
	l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		if msg != "" && m["msg"] != msg {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(m[kv[i]]) != kv[i+1] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func (l *hlLog) count(msg string, kv ...string) int { return len(l.records(msg, kv...)) }

// hlApp is an App started by a test with its captured logs and the
// active checks' probes.
type hlApp struct {
	*App
	log    *hlLog // process log (JSON, debug)
	alog   *hlLog // access log
	probes *hlProbes
}

// hlProbes records the active checker's probes of each server as they
// start, from the checker's goroutine (Options.probeHook), and can hold one.
type hlProbes struct {
	mu   sync.Mutex
	recs map[*balance.Server][]hlProbe
	hold map[*balance.Server]*hlHold
}

// hlProbe is one probe as it started.
type hlProbe struct {
	at       time.Time
	healthy  bool          // the server's state as the probe started
	interval time.Duration // the interval the checker was given
	done, ok bool          // the probe's outcome, once reported
}

type hlHold struct{ arrived, release chan struct{} }

func newHLProbes() *hlProbes {
	return &hlProbes{recs: map[*balance.Server][]hlProbe{}, hold: map[*balance.Server]*hlHold{}}
}

func (p *hlProbes) hook(s *balance.Server, interval time.Duration) {
	p.mu.Lock()
	p.recs[s] = append(p.recs[s], hlProbe{at: time.Now(), healthy: s.Healthy(), interval: interval})
	h := p.hold[s]
	delete(p.hold, s)
	p.mu.Unlock()
	if h != nil {
		close(h.arrived)
		<-h.release
	}
}

func (p *hlProbes) done(s *balance.Server, ok bool, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rs := p.recs[s]; len(rs) > 0 {
		rs[len(rs)-1].done, rs[len(rs)-1].ok = true, ok
	}
}

func (p *hlProbes) of(s *balance.Server) []hlProbe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.recs[s])
}

// before holds the next probe of s as it starts, runs f, lets the probe go
// on and returns its index in p.of(s): that probe and every later one see
// what f did (killed or started the server), whatever the scheduler does.
func (p *hlProbes) before(t *testing.T, s *balance.Server, f func()) int {
	t.Helper()
	h := &hlHold{arrived: make(chan struct{}), release: make(chan struct{})}
	defer close(h.release)
	p.mu.Lock()
	p.hold[s] = h
	p.mu.Unlock()
	select {
	case <-h.arrived:
	case <-time.After(5 * time.Second):
		p.mu.Lock()
		delete(p.hold, s)
		p.mu.Unlock()
		t.Fatalf("no probe of %s within 5s", s.Addr())
	}
	f()
	return len(p.of(s)) - 1
}

// hlFlips waits for a probe of s from index k on to start with s flipped
// from was, then replays every probe of s since the checker started
// (healthy) through the thresholds: a run of unhealthy_threshold failed
// outcomes takes it out, healthy_threshold passing ones bring it back, any
// other outcome restarts the run (a probe that timed out on a busy machine
// rightly counts as failed). Each probe must have started in the state the
// replay gives, so s flipped on exactly the probe that completed its run.
// It also checks the probes ran at the configured interval and started no
// closer than interval - 10%: thresholds and interval as configured,
// counted on the checker's own schedule (health's TestCheckerDetection
// bounds that schedule in time). It returns the probes from k on.
func hlFlips(t *testing.T, h *hlApp, s *balance.Server, k int, was bool) []hlProbe {
	t.Helper()
	var rs []hlProbe
	hlWait(t, 5*time.Second, fmt.Sprintf("a probe of %s seeing it flipped", s.Addr()), func() bool {
		rs = h.probes.of(s)
		return rs[len(rs)-1].healthy != was
	})
	up, run := true, 0
	for i, r := range rs {
		if r.healthy != up {
			t.Errorf("probe %d of %s started with it healthy=%v; after the outcomes before it, thresholds %d/%d say %v (outcomes from the change: %v)",
				i, s.Addr(), r.healthy, hlUnhealthy, hlHealthy, up, hlOutcomes(rs[k:]))
			break
		}
		if i == len(rs)-1 {
			break
		}
		if !r.done {
			t.Fatalf("probe %d of %s: no outcome reported before the next probe", i, s.Addr())
		}
		if r.ok == up {
			run = 0
			continue
		}
		need := hlUnhealthy
		if !up {
			need = hlHealthy
		}
		if run++; run == need {
			up, run = !up, 0
		}
	}
	for i, r := range rs {
		if r.interval != hlInterval {
			t.Errorf("probe %d of %s: checker interval %v, want %v", i, s.Addr(), r.interval, hlInterval)
		}
		if i > 0 {
			if gap := r.at.Sub(rs[i-1].at); gap < hlInterval*9/10 {
				t.Errorf("probes %d and %d of %s %v apart, want at least %v - 10%%", i-1, i, s.Addr(), gap, hlInterval)
			}
		}
	}
	return rs[k:]
}

// hlOutcomes lists probes' outcomes, for messages.
func hlOutcomes(ps []hlProbe) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = map[bool]string{true: "ok", false: "fail"}[p.ok]
		if !p.done {
			out[i] = "?"
		}
	}
	return out
}

func hlConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("health_test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cfg.Resolve(ctx); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return cfg
}

func hlStart(t *testing.T, yaml string) *hlApp {
	t.Helper()
	h := &hlApp{log: &hlLog{}, alog: &hlLog{}, probes: newHLProbes()}
	lg := slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Options{Logger: lg, AccessLogWriter: h.alog, Loops: 2, probeHook: h.probes.hook, probeDone: h.probes.done})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(hlConfig(t, yaml)); err != nil {
		t.Fatal(err)
	}
	h.App = a
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return h
}

// srv returns the running server addr of backend (nil if absent).
func (h *hlApp) srv(backend, addr string) *balance.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.backends[backend]; b != nil {
		return b.servers[addr]
	}
	return nil
}

// requests and failures read a server's sluice_backend_requests_total and
// sluice_backend_failures_total{reason}.
func (h *hlApp) requests(backend, addr string) uint64 {
	return stateOf(h.srv(backend, addr)).met.Requests().Get()
}

func (h *hlApp) failures(backend, addr string, reason uint8) uint64 {
	return stateOf(h.srv(backend, addr)).met.Failures(reason).Get()
}

// metric returns the value of the series family{backend=...,server=...} in
// the Prometheus exposition, and whether it is present.
func (h *hlApp) metric(family, backend, server string) (float64, bool) {
	var buf bytes.Buffer
	h.Metrics().WritePrometheus(&buf)
	want := []string{family + "{", `backend="` + backend + `"`, `server="` + server + `"`}
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.HasPrefix(line, want[0]) || !strings.Contains(line, want[1]) || !strings.Contains(line, want[2]) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		return v, err == nil
	}
	return 0, false
}

// mentions reports whether any series in /metrics names server.
func (h *hlApp) mentions(server string) bool {
	var buf bytes.Buffer
	h.Metrics().WritePrometheus(&buf)
	return strings.Contains(buf.String(), `server="`+server+`"`)
}

// hlPorts reserves n distinct free loopback ports (released on return).
func hlPorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for len(ports) < n {
		if p := freePort(t); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

func hlAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// hlListen binds addr, retrying briefly (a just-closed port).
func hlListen(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hlWait polls cond every 2ms until it holds and returns the time waited;
// it fails the test after limit.
func hlWait(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("timeout after %v waiting for %s", limit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// hlHTTP is an http backend answering its name (or status, when set) on
// every path but /health, which always answers 200.
type hlHTTP struct {
	name, addr string
	status     atomic.Int32 // 0 = 200
	hits       atomic.Int64
	mu         sync.Mutex
	srv        *http.Server
}

func hlStartHTTP(t *testing.T, name, addr string) *hlHTTP {
	b := &hlHTTP{name: name, addr: addr}
	b.start(t)
	t.Cleanup(b.kill)
	return b
}

func (b *hlHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		_, _ = io.WriteString(w, "ok")
		return
	}
	b.hits.Add(1)
	if st := b.status.Load(); st != 0 {
		w.WriteHeader(int(st))
	}
	_, _ = io.WriteString(w, b.name)
}

func (b *hlHTTP) start(t *testing.T) {
	ln := hlListen(t, b.addr)
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// kill closes the listener and every connection at once.
func (b *hlHTTP) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
}

// hlEcho is a tcp backend that answers each line "L" with "name:L".
type hlEcho struct {
	name, addr string
	lines      atomic.Int64
	mu         sync.Mutex
	ln         net.Listener
	conns      map[net.Conn]struct{}
}

func hlStartEcho(t *testing.T, name, addr string) *hlEcho {
	e := &hlEcho{name: name, addr: addr}
	e.start(t)
	t.Cleanup(e.kill)
	return e
}

func (e *hlEcho) start(t *testing.T) {
	ln := hlListen(t, e.addr)
	e.mu.Lock()
	e.ln, e.conns = ln, map[net.Conn]struct{}{}
	e.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			if e.ln != ln {
				e.mu.Unlock()
				_ = c.Close()
				return
			}
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			go e.serve(c)
		}
	}()
}

func (e *hlEcho) serve(c net.Conn) {
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		_ = c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		e.lines.Add(1)
		if _, err := io.WriteString(c, e.name+":"+line); err != nil {
			return
		}
	}
}

func (e *hlEcho) kill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return
	}
	_ = e.ln.Close()
	e.ln = nil
	for c := range e.conns {
		_ = c.Close()
	}
}

// hlSession is a tcp client session through sluice.
type hlSession struct {
	c net.Conn
	r *bufio.Reader
}

func hlDial(addr string) (*hlSession, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &hlSession{c: c, r: bufio.NewReader(c)}, nil
}

// ask sends msg and returns the name of the server that echoed it.
func (s *hlSession) ask(msg string) (string, error) {
	_ = s.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(s.c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := s.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	name, rest, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ":")
	if !ok || rest != msg {
		return "", fmt.Errorf("bad echo %q", line)
	}
	return name, nil
}

// hlTCPOnce runs one short session: connect, one line, close.
func hlTCPOnce(addr string) (string, error) {
	s, err := hlDial(addr)
	if err != nil {
		return "", err
	}
	defer s.c.Close()
	return s.ask("ping")
}

// hlHTTPClient returns a keep-alive client whose idle connections are
// closed when the test ends, before the App (started earlier) shuts down:
// a draining App keeps idle connections open until its deadline.
func hlHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 3 * time.Second, Transport: tr}
}

// hlGet returns the status and body of GET url.
func hlGet(cl *http.Client, url string) (int, string, error) {
	resp, err := cl.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// hlResult is one request or session of a load run.
type hlResult struct {
	start  time.Time
	server string
	err    error
}

// hlLoad runs do on workers goroutines until stop is called, which returns
// every result.
func hlLoad(workers int, do func() (string, error)) (stop func() []hlResult) {
	stop, _ = hlLoadCounted(workers, do)
	return stop
}

// hlLoadCounted is hlLoad that can also tell how many results so far
// started after a time: a test waits for a number of requests rather than
// for a time in which a loaded machine may serve fewer.
func hlLoadCounted(workers int, do func() (string, error)) (stop func() []hlResult, since func(time.Time) int) {
	var (
		mu   sync.Mutex
		res  []hlResult
		wg   sync.WaitGroup
		done atomic.Bool
	)
	since = func(t time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range res {
			if r.start.After(t) {
				n++
			}
		}
		return n
	}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				r := hlResult{start: time.Now()}
				r.server, r.err = do()
				mu.Lock()
				res = append(res, r)
				mu.Unlock()
			}
		}()
	}
	return func() []hlResult {
		done.Store(true)
		wg.Wait()
		return res
	}, since
}

// hlErrors splits the errors of rs into those started before and after t.
func hlErrors(rs []hlResult, t time.Time) (before, after int, firstAfter error) {
	for _, r := range rs {
		if r.err == nil {
			continue
		}
		if r.start.After(t) {
			if after++; firstAfter == nil {
				firstAfter = r.err
			}
		} else {
			before++
		}
	}
	return
}

// hlActiveYAML is a config with one frontend of mode over backend "be" with
// active checks of typ (interval 100ms, healthy 2, unhealthy 3) and passive
// checks off, so that only the active checker decides.
func hlActiveYAML(admin, listen int, mode, typ string, servers []string, extra string) string {
	var sv strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&sv, "      - address: %s\n", s)
	}
	return fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: "off"}
frontends:
  - {name: fe, mode: %s, listen: "127.0.0.1:%d", backend: be}
backends:
  - name: be
%s    servers:
%s    health:
      active: {type: %s, path: /health, interval: 100ms, timeout: 80ms, healthy_threshold: 2, unhealthy_threshold: 3}
      passive: {unhealthy_threshold: 0}
`, admin, mode, listen, extra, sv.String(), typ)
}

// The active tests' checks: interval 100ms, out after 3 failures, back
// after 2 successes. Their timing (interval × threshold, +10% jitter) is
// the checker's, bounded exactly by health's TestCheckerDetection on a
// synctest clock; here the wiring is checked on the checker's own
// schedule (hlFlips), and the wall-clock times are only logged, since a
// loaded machine's scheduler stretches them at will.
const (
	hlInterval  = 100 * time.Millisecond
	hlUnhealthy = 3
	hlHealthy   = 2
)

// ---- 1. active checks ----

// TestHealthActiveHTTP: one of three http servers dies under load; the http
// check takes it out on the unhealthy_threshold-th failed probe, no request
// started after that fails or is sent to it, and after a restart on the
// same port it is back on the healthy_threshold-th passing probe and serves
// again. Each transition is logged once.
func TestHealthActiveHTTP(t *testing.T) {
	p := hlPorts(t, 5)
	addrs := []string{hlAddr(p[2]), hlAddr(p[3]), hlAddr(p[4])}
	bs := []*hlHTTP{hlStartHTTP(t, "a", addrs[0]), hlStartHTTP(t, "b", addrs[1]), hlStartHTTP(t, "c", addrs[2])}
	h := hlStart(t, hlActiveYAML(p[0], p[1], "http", "http", addrs, ""))
	url := "http://" + hlAddr(p[1]) + "/x"
	dead := addrs[2]
	cl := hlHTTPClient(t)
	hlActiveScenario(t, h, "be", dead, func() { bs[2].kill() }, func() { bs[2].start(t) },
		func() (string, error) {
			st, body, err := hlGet(cl, url)
			if err == nil && st != 200 {
				err = fmt.Errorf("status %d", st)
			}
			return body, err
		}, "c")
}

// TestHealthActiveTCP is TestHealthActiveHTTP for tcp checks behind a tcp
// frontend: sessions started after the server is out all succeed.
func TestHealthActiveTCP(t *testing.T) {
	p := hlPorts(t, 5)
	addrs := []string{hlAddr(p[2]), hlAddr(p[3]), hlAddr(p[4])}
	es := []*hlEcho{hlStartEcho(t, "a", addrs[0]), hlStartEcho(t, "b", addrs[1]), hlStartEcho(t, "c", addrs[2])}
	h := hlStart(t, hlActiveYAML(p[0], p[1], "tcp", "tcp", addrs, ""))
	fe := hlAddr(p[1])
	hlActiveScenario(t, h, "be", addrs[2], es[2].kill, func() { es[2].start(t) },
		func() (string, error) { return hlTCPOnce(fe) }, "c")
}

// hlActiveScenario runs the kill / detect / restart / return sequence of
// the active tests with do as the client load. The kill and the restart
// happen while a probe of the server is held as it starts (hlProbes.before),
// so that probe is the first to see them and the probes that flip the
// server can be counted exactly.
func hlActiveScenario(t *testing.T, h *hlApp, be, dead string, kill, restart func(), do func() (string, error), deadName string) {
	srv := h.srv(be, dead)
	h.mu.Lock()
	all := h.backends[be].bal.Servers()
	h.mu.Unlock()
	hlWait(t, 5*time.Second, "all servers healthy", func() bool {
		for _, s := range all {
			if !s.Healthy() {
				return false
			}
		}
		return true
	})
	stop, since := hlLoadCounted(4, do)
	hlWait(t, 5*time.Second, "load running", func() bool { return since(time.Time{}) >= 20 })

	var tKill time.Time
	k := h.probes.before(t, srv, func() { tKill = time.Now(); kill() })
	hlWait(t, 5*time.Second, "server out", func() bool { return !srv.Healthy() })
	tOut := time.Now()
	outProbes := hlFlips(t, h, srv, k, true)
	t.Logf("detection: out %v after kill, after probe %d from it (threshold %d); probes at +%v: %v",
		tOut.Sub(tKill).Round(time.Millisecond), len(outProbes)-2, hlUnhealthy, hlOffsets(outProbes, tKill), hlOutcomes(outProbes))
	if v, ok := h.metric(metrics.NameBackendHealth, be, dead); !ok || v != 0 {
		t.Errorf("sluice_backend_health = %v (present %v), want 0", v, ok)
	}
	// Attempts picked just before the flip may still be counted; after
	// that, no request or session is sent to the dead server.
	attempts := func() uint64 {
		return h.requests(be, dead) + h.failures(be, dead, metrics.FailConnect) + h.failures(be, dead, metrics.FailTimeout)
	}
	time.Sleep(50 * time.Millisecond)
	sent := attempts()
	time.Sleep(400 * time.Millisecond)
	if n := attempts() - sent; n != 0 {
		t.Errorf("%d attempts sent to the server while it was out", n)
	}

	var tRestart time.Time
	k = h.probes.before(t, srv, func() { tRestart = time.Now(); restart() })
	hlWait(t, 5*time.Second, "server back", func() bool { return srv.Healthy() })
	tBack := time.Now()
	backProbes := hlFlips(t, h, srv, k, false)
	t.Logf("recovery: back %v after restart, after probe %d from it (threshold %d); probes at +%v: %v",
		tBack.Sub(tRestart).Round(time.Millisecond), len(backProbes)-2, hlHealthy, hlOffsets(backProbes, tRestart), hlOutcomes(backProbes))
	// Enough requests after the return to see the server's share.
	hlWait(t, 20*time.Second, "60 requests after the return", func() bool { return since(tBack) >= 60 })
	rs := stop()

	before, after, first := hlErrors(rs, tOut)
	var servedAfterBack, total int
	for _, r := range rs {
		if r.err == nil && r.start.After(tBack) {
			total++
			if r.server == deadName {
				servedAfterBack++
			}
		}
	}
	t.Logf("load: %d results; client errors: %d before out (kill→out window %v), %d after out; after return %d/%d served by %s",
		len(rs), before, tOut.Sub(tKill).Round(time.Millisecond), after, servedAfterBack, total, deadName)
	if after != 0 {
		t.Errorf("%d client errors after the server was out, first: %v", after, first)
	}
	// round_robin without slow start: a full third at once.
	if share := float64(servedAfterBack) / float64(max(total, 1)); total < 30 || share < 0.2 || share > 0.45 {
		t.Errorf("returned server served %d of %d after coming back, want about a third", servedAfterBack, total)
	}
	if v, ok := h.metric(metrics.NameBackendHealth, be, dead); !ok || v != 1 {
		t.Errorf("sluice_backend_health = %v (present %v), want 1", v, ok)
	}
	if n := h.log.count("health check failed, server down", "server", dead); n != 1 {
		t.Errorf("%d 'server down' log lines, want 1", n)
	}
	if n := h.log.count("health check passed, server up", "server", dead); n != 1 {
		t.Errorf("%d 'server up' log lines, want 1", n)
	}
}

// hlOffsets lists when probes started relative to t0, for logs.
func hlOffsets(ps []hlProbe, t0 time.Time) []time.Duration {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		out[i] = p.at.Sub(t0).Round(time.Millisecond)
	}
	return out
}

// ---- 2. passive checks ----

const (
	hlPassiveN        = 3
	hlCooldown        = 600 * time.Millisecond
	hlPassiveYAMLTmpl = `admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: "off"}
frontends:
  - {name: fe, mode: %s, listen: "127.0.0.1:%d", backend: be}
backends:
  - name: be
    servers: [{address: "%s"}, {address: "%s"}]
    health:
      passive: {unhealthy_threshold: %d, cooldown: %s}
`
)

func hlPassiveYAML(p []int, mode string) string {
	return fmt.Sprintf(hlPassiveYAMLTmpl, p[0], mode, p[1], hlAddr(p[2]), hlAddr(p[3]), hlPassiveN, hlCooldown)
}

// hlEjectedUntil returns when the ejection of srv ends on its passive
// tracker's clock (health.Now), and checks it is one cooldown after the
// ejection, which happened during the request that began at since.
func hlEjectedUntil(t *testing.T, srv *balance.Server, since int64) int64 {
	t.Helper()
	ej, until := stateOf(srv).passive.Load().Ejected()
	now := health.Now()
	if !ej {
		t.Fatalf("%s: passive tracker not ejected", srv.Addr())
	}
	if until < since+int64(hlCooldown) || until > now+int64(hlCooldown) {
		t.Errorf("%s: ejected until %v after the request that ejected it began and %v after it ended, want the cooldown %v in between",
			srv.Addr(), time.Duration(until-since), time.Duration(until-now), hlCooldown)
	}
	return until
}

// hlTrial runs req (then pauses 5ms) until took reports the half-open trial
// of srv has been taken, and checks it on the passive tracker's clock: no
// request that ended before until (the end of the cooldown) took it, and
// once the sweeper made srv half-open a request takes it within two (round
// robin over two servers). The sweeper's own cadence is health's to test;
// the wall-clock wait is only logged.
// It returns when the request that took the trial began (health.Now).
func hlTrial(t *testing.T, what string, srv *balance.Server, until int64, req func(), took func() bool) int64 {
	t.Helper()
	start, halfOpen := time.Now(), 0
	for {
		half, began := srv.HalfOpen(), health.Now()
		req()
		now := health.Now()
		if took() {
			if now < until {
				t.Errorf("%s: taken %v before the cooldown ended", what, time.Duration(until-now))
			}
			t.Logf("%s %v after the cooldown ended (%v waited)", what,
				time.Duration(now-until).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			return began
		}
		if half {
			if halfOpen++; halfOpen == 2 {
				t.Errorf("%s: half-open for 2 requests, none took the trial", what)
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: no trial within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHealthPassiveTCP: of two servers one refuses connections. Passive
// checks (active off) eject it after exactly N connect failures; clients see
// at most N failures (l4 dials the next server, so in fact none); while
// ejected it gets no attempt; after the cooldown one trial goes to it
// (fails: re-ejected), and once it listens the next trial brings it back.
func TestHealthPassiveTCP(t *testing.T) {
	p := hlPorts(t, 4)
	a, bAddr := hlStartEcho(t, "a", hlAddr(p[2])), hlAddr(p[3])
	h := hlStart(t, hlPassiveYAML(p, "tcp"))
	fe, sB := hlAddr(p[1]), h.srv("be", bAddr)
	clientFail, served := 0, map[string]int{}
	session := func() {
		name, err := hlTCPOnce(fe)
		if err != nil {
			clientFail++
			return
		}
		served[name]++
	}
	sessions, last := 0, int64(0)
	for sB.Healthy() && sessions < 100 {
		last = health.Now()
		session()
		sessions++
	}
	tEj := time.Now()
	if sB.Healthy() {
		t.Fatalf("refusing server not ejected after %d sessions", sessions)
	}
	until := hlEjectedUntil(t, sB, last)
	fails := h.failures("be", bAddr, metrics.FailConnect)
	t.Logf("ejected after %d sessions, %d connect failures, %d client-visible failures", sessions, fails, clientFail)
	if fails != hlPassiveN {
		t.Errorf("connect failures at ejection = %d, want %d", fails, hlPassiveN)
	}
	if clientFail > hlPassiveN {
		t.Errorf("%d client-visible failures, want ≤ %d", clientFail, hlPassiveN)
	}
	for i := 0; i < 10; i++ {
		session()
	}
	if f := h.failures("be", bAddr, metrics.FailConnect); f != hlPassiveN {
		t.Errorf("attempts on the ejected server: failures %d, want %d", f, hlPassiveN)
	}
	// Half-open: one trial after the cooldown; it fails, so the server is
	// ejected again at once.
	last = hlTrial(t, "first trial", sB, until, session, func() bool {
		return h.failures("be", bAddr, metrics.FailConnect) > hlPassiveN
	})
	until = hlEjectedUntil(t, sB, last) // the failed trial ejects it for another cooldown
	for i := 0; i < 10; i++ {
		session()
	}
	if f := h.failures("be", bAddr, metrics.FailConnect); f != hlPassiveN+1 || sB.Healthy() {
		t.Errorf("after a failed trial: failures %d (want %d), healthy %v (want false)", f, hlPassiveN+1, sB.Healthy())
	}
	// The server comes up; the next trial (one cooldown after the second
	// ejection) succeeds and it serves again.
	b := hlStartEcho(t, "b", bAddr)
	_ = hlTrial(t, "return", sB, until, session, sB.Healthy)
	before := b.lines.Load()
	for i := 0; i < 10; i++ {
		session()
	}
	if n := b.lines.Load() - before; n < 3 {
		t.Errorf("returned server took %d of 10 sessions", n)
	}
	if clientFail != 0 {
		t.Errorf("%d client-visible failures with another server up, want 0", clientFail)
	}
	t.Logf("sessions served: %v (a lines %d), client failures %d, since first ejection %v",
		served, a.lines.Load(), clientFail, time.Since(tEj).Round(time.Millisecond))
	hlWait(t, time.Second, "passive log records", func() bool {
		return h.log.count("passive health: server back", "server", bAddr) == 1
	})
	// A failed trial prolongs the ejection; it is not a new transition.
	if n := h.log.count("passive health: server ejected", "server", bAddr); n != 1 {
		t.Errorf("%d ejection log lines, want 1", n)
	}
}

// TestHealthPassiveHTTP: of two http servers one refuses connections. It is
// ejected after exactly N connect failures, and no client sees an error
// (each connect failure is retried on the other server). It gets no
// attempt while ejected; one cooldown after the ejection a trial request
// reaches it (now listening) and it serves again.
func TestHealthPassiveHTTP(t *testing.T) {
	p := hlPorts(t, 4)
	hlStartHTTP(t, "a", hlAddr(p[2]))
	bAddr := hlAddr(p[3])
	h := hlStart(t, hlPassiveYAML(p, "http"))
	cl, url, sB := hlHTTPClient(t), "http://"+hlAddr(p[1])+"/x", h.srv("be", bAddr)
	clientFail, served := 0, map[string]int{}
	get := func() {
		st, body, err := hlGet(cl, url)
		if err != nil || st != 200 {
			clientFail++
			return
		}
		served[body]++
	}
	reqs, last := 0, int64(0)
	for sB.Healthy() && reqs < 100 {
		last = health.Now()
		get()
		reqs++
	}
	fails := h.failures("be", bAddr, metrics.FailConnect)
	t.Logf("ejected after %d requests, %d connect failures, %d client-visible failures", reqs, fails, clientFail)
	if sB.Healthy() || fails != hlPassiveN {
		t.Fatalf("healthy %v, connect failures %d; want ejected after %d", sB.Healthy(), fails, hlPassiveN)
	}
	until := hlEjectedUntil(t, sB, last)
	b := hlStartHTTP(t, "b", bAddr) // up again, but resting until the cooldown ends
	attempts := h.requests("be", bAddr)
	_ = hlTrial(t, "return", sB, until, func() {
		get()
		if !sB.Healthy() && !sB.HalfOpen() && h.requests("be", bAddr) != attempts {
			t.Errorf("attempt on the ejected server")
			attempts = h.requests("be", bAddr)
		}
	}, sB.Healthy)
	before := b.hits.Load()
	for i := 0; i < 10; i++ {
		get()
	}
	if n := b.hits.Load() - before; n < 3 {
		t.Errorf("returned server took %d of 10 requests", n)
	}
	if clientFail != 0 {
		t.Errorf("%d client-visible failures with another server up, want 0", clientFail)
	}
	t.Logf("served: %v", served)
}

// TestHealthPassiveHTTP5xx: a server answering 500 is ejected after N
// answers; clients see exactly N 5xx (a 5xx is passed through, never
// retried), then none; after the cooldown a trial brings it back once it
// answers 200 again.
func TestHealthPassiveHTTP5xx(t *testing.T) {
	p := hlPorts(t, 4)
	hlStartHTTP(t, "a", hlAddr(p[2]))
	b := hlStartHTTP(t, "b", hlAddr(p[3]))
	b.status.Store(500)
	h := hlStart(t, hlPassiveYAML(p, "http"))
	cl, url, sB := hlHTTPClient(t), "http://"+hlAddr(p[1])+"/x", h.srv("be", b.addr)
	client5xx, clientErr := 0, 0
	get := func() {
		st, _, err := hlGet(cl, url)
		switch {
		case err != nil:
			clientErr++
		case st >= 500:
			client5xx++
		}
	}
	var last int64
	for i := 0; sB.Healthy() && i < 100; i++ {
		last = health.Now()
		get()
	}
	until := hlEjectedUntil(t, sB, last)
	for i := 0; i < 20; i++ {
		get()
	}
	fails := h.failures("be", b.addr, metrics.FailStatus5xx)
	t.Logf("ejected: %d status_5xx failures, client saw %d 5xx, %d errors", fails, client5xx, clientErr)
	if sB.Healthy() || fails != hlPassiveN || client5xx != hlPassiveN || clientErr != 0 {
		t.Errorf("healthy %v, status_5xx %d, client 5xx %d, errors %d; want false, %d, %d, 0",
			sB.Healthy(), fails, client5xx, clientErr, hlPassiveN, hlPassiveN)
	}
	b.status.Store(0)
	_ = hlTrial(t, "return", sB, until, get, sB.Healthy)
	if client5xx != hlPassiveN || clientErr != 0 {
		t.Errorf("client saw %d 5xx and %d errors in all, want %d and 0", client5xx, clientErr, hlPassiveN)
	}
}

// ---- 3. all servers down ----

// hlClosedAtOnce dials a tcp frontend and returns how long it took the
// proxy to close the connection without sending anything. A reset that
// arrives before the dial returns counts as closed at once.
func hlClosedAtOnce(t *testing.T, addr string) time.Duration {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if errors.Is(err, syscall.ECONNRESET) {
		return 0
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(time.Second))
	var buf [16]byte
	n, err := c.Read(buf[:])
	d := time.Since(start)
	var ne net.Error
	if n > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("tcp frontend with no server: read %d bytes, err %v; want closed", n, err)
	}
	return d
}

// TestHealthAllDown: with every server of an http and a tcp backend down
// (active checks), the http frontend answers 503 and the tcp frontend
// closes each connection at once; the process log says "no server
// available" once per frontend per transition and "servers available
// again" once when they are back, however many clients were turned away.
func TestHealthAllDown(t *testing.T) {
	p := hlPorts(t, 6)
	hs := []*hlHTTP{hlStartHTTP(t, "h1", hlAddr(p[3])), hlStartHTTP(t, "h2", hlAddr(p[4]))}
	e := hlStartEcho(t, "e1", hlAddr(p[5]))
	h := hlStart(t, fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: "off"}
frontends:
  - {name: web, mode: http, listen: "127.0.0.1:%d", backend: web}
  - {name: db, mode: tcp, listen: "127.0.0.1:%d", backend: db}
backends:
  - name: web
    servers: [{address: "%s"}, {address: "%s"}]
    health:
      active: {type: http, path: /health, interval: 100ms, timeout: 80ms, healthy_threshold: 2, unhealthy_threshold: 3}
      passive: {unhealthy_threshold: 0}
  - name: db
    servers: [{address: "%s"}]
    health:
      active: {type: tcp, interval: 100ms, timeout: 80ms, healthy_threshold: 2, unhealthy_threshold: 3}
      passive: {unhealthy_threshold: 0}
`, p[0], p[1], p[2], hs[0].addr, hs[1].addr, e.addr))
	cl, url, db := hlHTTPClient(t), "http://"+hlAddr(p[1])+"/x", hlAddr(p[2])
	servers := []*balance.Server{h.srv("web", hs[0].addr), h.srv("web", hs[1].addr), h.srv("db", e.addr)}
	all := func(up bool) func() bool {
		return func() bool {
			for _, s := range servers {
				if s.Healthy() != up {
					return false
				}
			}
			return true
		}
	}
	serving := func() {
		t.Helper()
		if st, _, err := hlGet(cl, url); err != nil || st != 200 {
			t.Fatalf("http: %d %v, want 200", st, err)
		}
		if _, err := hlTCPOnce(db); err != nil {
			t.Fatalf("tcp: %v", err)
		}
	}
	down := func(round, n int) {
		t.Helper()
		for _, b := range hs {
			b.kill()
		}
		e.kill()
		d := hlWait(t, 5*time.Second, "all servers down", all(false))
		var worst time.Duration
		lateness := hlLateness()
		for i := 0; i < n; i++ {
			if st, body, err := hlGet(cl, url); err != nil || st != 503 {
				t.Fatalf("http with no server: %d %q %v, want 503", st, body, err)
			}
			worst = max(worst, hlClosedAtOnce(t, db))
		}
		late := lateness()
		t.Logf("round %d: all down %v after the kill; %d × 503 and %d tcp closes, slowest close %v (timers up to %v late meanwhile)",
			round, d.Round(time.Millisecond), n, n, worst.Round(time.Microsecond), late.Round(time.Millisecond))
		// At once: no timer is involved, only the event loop's wake-up,
		// which a loaded machine delays as much as it delays timers.
		if worst > 200*time.Millisecond+late {
			t.Errorf("tcp close took %v, want at once (≤ 200ms + %v timer lateness)", worst, late)
		}
		for _, fe := range []string{"web", "db"} {
			if c := h.log.count("no server available: refusing clients", "frontend", fe); c != round {
				t.Errorf("frontend %s: %d 'no server available' lines after %d transitions, want %d", fe, c, round, round)
			}
		}
	}
	serving()
	down(1, 20)
	for _, b := range hs {
		b.start(t)
	}
	e.start(t)
	hlWait(t, 5*time.Second, "all servers back", all(true))
	for i := 0; i < 5; i++ {
		serving()
	}
	for _, fe := range []string{"web", "db"} {
		if c := h.log.count("servers available again", "frontend", fe); c != 1 {
			t.Errorf("frontend %s: %d 'servers available again' lines, want 1", fe, c)
		}
	}
	down(2, 5)
	for _, s := range []string{hs[0].addr, hs[1].addr, e.addr} {
		if c := h.log.count("health check failed, server down", "server", s); c != 2 {
			t.Errorf("server %s: %d 'server down' lines, want 2", s, c)
		}
	}
}

// ---- 4. draining ----

// TestHealthDrain: a reload removes a server that holds two tcp sessions,
// with drain_timeout 1s. Both keep working while it drains, new sessions go
// to the other server, the one the client ends early ends normally, the
// other is closed at about drain_timeout, the server's active connections
// fall to 0 and its series disappear from /metrics.
func TestHealthDrain(t *testing.T) {
	const drain = time.Second
	p := hlPorts(t, 4)
	a, b := hlStartEcho(t, "a", hlAddr(p[2])), hlStartEcho(t, "b", hlAddr(p[3]))
	yaml := func(servers ...string) string {
		var sv strings.Builder
		for _, s := range servers {
			fmt.Fprintf(&sv, "{address: %q}, ", s)
		}
		return fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: stdout}
frontends:
  - {name: fe, mode: tcp, listen: "127.0.0.1:%d", backend: be}
backends:
  - name: be
    drain_timeout: %s
    servers: [%s]
`, p[0], p[1], drain, strings.TrimSuffix(sv.String(), ", "))
	}
	h := hlStart(t, yaml(a.addr, b.addr))
	fe, sB := hlAddr(p[1]), h.srv("be", b.addr)
	var onA, onB []*hlSession
	for i := 0; len(onB) < 2 && i < 20; i++ {
		s, err := hlDial(fe)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.c.Close() })
		name, err := s.ask("hello")
		switch {
		case err != nil:
			t.Fatal(err)
		case name == "b":
			onB = append(onB, s)
		default:
			onA = append(onA, s)
		}
	}
	if len(onB) != 2 || len(onA) == 0 {
		t.Fatalf("sessions: %d on a, %d on b; want ≥1 and 2", len(onA), len(onB))
	}
	if v, ok := h.metric(metrics.NameBackendActive, "be", b.addr); v != 2 || !ok {
		t.Fatalf("active connections of b = %v (present %v), want 2", v, ok)
	}

	lateness := hlLateness()
	tApply := time.Now()
	if _, err := h.Apply(hlConfig(t, yaml(a.addr))); err != nil {
		t.Fatal(err)
	}
	if !sB.Removed() || sB.Draining() {
		t.Fatalf("removed server: removed=%v, operator drain=%v; want removed, no operator drain", sB.Removed(), sB.Draining())
	}
	for i := 0; i < 6; i++ {
		if name, err := hlTCPOnce(fe); err != nil || name != "a" {
			t.Fatalf("new session during drain: %q %v, want a", name, err)
		}
	}
	at := func(d time.Duration) { time.Sleep(time.Until(tApply.Add(d))) }
	// One session works at 300ms and then ends (client side): not cut.
	at(300 * time.Millisecond)
	if name, err := onB[0].ask("early"); err != nil || name != "b" {
		t.Fatalf("draining session at 300ms: %q %v", name, err)
	}
	_ = onB[0].c.Close()
	hlWait(t, time.Second, "b's active connections to fall to 1", func() bool { return sB.Active() == 1 })
	// The other still works at 800ms.
	at(800 * time.Millisecond)
	if name, err := onB[1].ask("late"); err != nil || name != "b" {
		t.Fatalf("draining session at 800ms: %q %v", name, err)
	}
	if v, ok := h.metric(metrics.NameBackendActive, "be", b.addr); v != 1 || !ok {
		t.Errorf("active connections of b at 800ms = %v (present %v), want 1", v, ok)
	}
	// ... until drain_timeout, when sluice closes it.
	_ = onB[1].c.SetReadDeadline(tApply.Add(3 * drain))
	var buf [8]byte
	n, err := onB[1].c.Read(buf[:])
	cut := time.Since(tApply)
	late := lateness()
	t.Logf("draining session closed %v after the reload (drain_timeout %v, timers up to %v late meanwhile): read %d, %v",
		cut.Round(time.Millisecond), drain, late.Round(time.Millisecond), n, err)
	var ne net.Error
	if n != 0 || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("draining session not closed by drain_timeout: read %d, %v", n, err)
	}
	// The drain's deadline is checked by a 50ms ticker, and the cut goes
	// through the event loop: each wake-up may be as late as this process's
	// timers were, which the lateness meter measured on the same machine at
	// the same time (0 when it is idle, leaving the 300ms bound as it was).
	if limit := drain + 300*time.Millisecond + 2*late; cut < drain || cut > limit {
		t.Errorf("draining session closed after %v, want drain_timeout %v (+300ms, +2 × %v timer lateness)", cut, drain, late)
	}
	hlWait(t, time.Second, "b's active connections to fall to 0", func() bool { return sB.Active() == 0 })
	gone := hlWait(t, time.Second, "b to disappear from /metrics", func() bool { return !h.mentions(b.addr) })
	t.Logf("b gone from /metrics %v after the cut", gone.Round(time.Millisecond))
	if !h.mentions(a.addr) {
		t.Error("a is missing from /metrics")
	}
	if name, err := onA[0].ask("still"); err != nil || name != "a" {
		t.Errorf("session on a after the drain: %q %v", name, err)
	}
	// Access log: the session the client ended closed normally ("client"),
	// the other was cut.
	hlWait(t, 2*time.Second, "access log of b's sessions", func() bool {
		return h.alog.count("", "mode", "tcp", "server", b.addr) >= 2
	})
	var closes []string
	for _, r := range h.alog.records("", "mode", "tcp", "server", b.addr) {
		closes = append(closes, fmt.Sprint(r["close"]))
	}
	t.Logf("access log close reasons of b's sessions: %v", closes)
	if len(closes) != 2 || closes[0] != "client" || closes[1] == "client" {
		t.Errorf("close reasons of b's sessions = %v, want [client <cut>]", closes)
	}
	if c := h.log.count("drain timeout: closing connections", "server", b.addr); c != 1 {
		t.Errorf("%d 'drain timeout' log lines, want 1", c)
	}
}

// hlLateness starts a meter of how late this process's timers fire: a
// goroutine sleeping 20ms at a time. The returned stop ends it and returns
// the worst lateness of one sleep, which a loaded machine's scheduler adds
// to every timer-driven step of the code under test.
func hlLateness() (stop func() time.Duration) {
	const nap = 20 * time.Millisecond
	done, res := make(chan struct{}), make(chan time.Duration)
	go func() {
		var worst time.Duration
		for {
			select {
			case <-done:
				res <- worst
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(nap)
			worst = max(worst, time.Since(t0)-nap)
		}
	}()
	return func() time.Duration { close(done); return <-res }
}

// ---- 5. slow start ----

// TestHealthSlowStart: with slow_start 2s on a round_robin backend of three
// http servers, a server coming back after an active-check outage starts
// with a small share that ramps up to a third over slow_start. Shares are
// measured over successive 500ms windows from the moment it is back.
func TestHealthSlowStart(t *testing.T) {
	const slow = 2 * time.Second
	p := hlPorts(t, 5)
	addrs := []string{hlAddr(p[2]), hlAddr(p[3]), hlAddr(p[4])}
	c := hlStartHTTP(t, "c", addrs[2])
	hlStartHTTP(t, "a", addrs[0])
	hlStartHTTP(t, "b", addrs[1])
	h := hlStart(t, hlActiveYAML(p[0], p[1], "http", "http", addrs, "    slow_start: "+slow.String()+"\n"))
	sC := h.srv("be", c.addr)
	time.Sleep(300 * time.Millisecond)
	c.kill()
	hlWait(t, 2*time.Second, "c out", func() bool { return !sC.Healthy() })
	c.start(t)
	hlWait(t, 2*time.Second, "c back", func() bool { return sC.Healthy() })
	tBack := time.Now()
	cl, url := hlHTTPClient(t), "http://"+hlAddr(p[1])+"/x"
	stop := hlLoad(4, func() (string, error) {
		st, body, err := hlGet(cl, url)
		if err == nil && st != 200 {
			err = fmt.Errorf("status %d", st)
		}
		return body, err
	})
	const window, windows = 500 * time.Millisecond, 6
	time.Sleep(time.Until(tBack.Add(windows * window)))
	rs := stop()
	var tot, onC [windows]int
	for _, r := range rs {
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		if i := int(r.start.Sub(tBack) / window); i < windows {
			tot[i]++
			if r.server == "c" {
				onC[i]++
			}
		}
	}
	var share [windows]float64
	var desc []string
	for i := range share {
		share[i] = float64(onC[i]) / float64(max(tot[i], 1))
		desc = append(desc, fmt.Sprintf("%.1f%% (%d/%d)", 100*share[i], onC[i], tot[i]))
	}
	t.Logf("share of the recovered server per %v window: %s", window, strings.Join(desc, ", "))
	last := share[windows-1]
	if last < 0.25 || last > 0.42 {
		t.Errorf("share after slow_start = %.3f, want about 1/3", last)
	}
	if share[0] > 0.2 || share[1] > last-0.1 {
		t.Errorf("first windows' shares %.3f, %.3f; want a ramp (< 0.2, and < final %.3f - 0.1)", share[0], share[1], last)
	}
	for i := 1; i < windows; i++ {
		if share[i] < share[i-1]-0.05 {
			t.Errorf("share falls from %.3f to %.3f in window %d: not a ramp", share[i-1], share[i], i)
		}
	}
}

// ---- 6. bounded loads ----

// hlDialFrom is hlDial from the loopback source address ip, so that one
// test has many client keys for ip_hash.
func hlDialFrom(ip, addr string) (*hlSession, error) {
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &hlSession{c: c, r: bufio.NewReader(c)}, nil
}

// TestHealthHashBalanceFactor: ip_hash over three tcp servers with a skewed
// key distribution (24 held sessions from one hot client address, 6 from
// six others; clients bind distinct 127.0.0.x sources). Without a factor
// every hot session lands on one server; with hash_balance_factor 1.25 no
// server ever holds more than ceil(1.25 × total / 3) sessions, and once
// the load is gone the hot key returns to its own server.
func TestHealthHashBalanceFactor(t *testing.T) {
	const factor, n = 1.25, 3
	p := hlPorts(t, 6)
	es := []*hlEcho{hlStartEcho(t, "e0", hlAddr(p[3])), hlStartEcho(t, "e1", hlAddr(p[4])), hlStartEcho(t, "e2", hlAddr(p[5]))}
	sv := fmt.Sprintf("[{address: %q}, {address: %q}, {address: %q}]", es[0].addr, es[1].addr, es[2].addr)
	h := hlStart(t, fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: debug, access_log: "off"}
frontends:
  - {name: plain, mode: tcp, listen: "127.0.0.1:%d", backend: plain}
  - {name: bounded, mode: tcp, listen: "127.0.0.1:%d", backend: bounded}
backends:
  - {name: plain, algorithm: ip_hash, servers: %s}
  - {name: bounded, algorithm: ip_hash, hash_balance_factor: %v, servers: %s}
`, p[0], p[1], p[2], sv, factor, sv))
	probe, err := hlDialFrom("127.0.0.10", hlAddr(p[1]))
	if err != nil {
		t.Skipf("cannot bind a 127.0.0.x source address: %v", err)
	}
	_ = probe.c.Close()
	clients := make([]string, 0, 30)
	for i := 0; i < 24; i++ {
		clients = append(clients, "127.0.0.10")
	}
	for i := 20; i < 26; i++ {
		clients = append(clients, "127.0.0."+strconv.Itoa(i))
	}
	// open holds one session per client and returns, per server, how many
	// of the hot client's sessions it took, and the first one's server.
	open := func(fe string, check func(total int)) (map[string]int, string, []*hlSession) {
		count, first, all := map[string]int{}, "", []*hlSession(nil)
		for i, ip := range clients {
			s, err := hlDialFrom(ip, fe)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, s)
			name, err := s.ask("k")
			if err != nil {
				t.Fatal(err)
			}
			if ip == "127.0.0.10" {
				if count[name]++; first == "" {
					first = name
				}
			}
			if check != nil {
				check(i + 1)
			}
		}
		return count, first, all
	}
	closeAll := func(ss []*hlSession) {
		for _, s := range ss {
			_ = s.c.Close()
		}
	}
	plainHot, _, plainSS := open(hlAddr(p[1]), nil)
	t.Logf("no factor: the hot client's 24 sessions per server: %v", plainHot)
	if len(plainHot) != 1 {
		t.Errorf("without a factor the hot key spread over %v; want one server", plainHot)
	}
	closeAll(plainSS)

	servers := []*balance.Server{h.srv("bounded", es[0].addr), h.srv("bounded", es[1].addr), h.srv("bounded", es[2].addr)}
	// The hot key's first session finds every server empty: it goes to
	// the key's own server, home.
	hot, home, ss := open(hlAddr(p[2]), func(total int) {
		limit := int64(math.Ceil(factor * float64(total) / n))
		for _, s := range servers {
			if a := s.Active(); a > limit {
				t.Errorf("%d sessions open: server %s holds %d, want ≤ ceil(%.2f × %d/%d) = %d", total, s.Addr(), a, factor, total, n, limit)
			}
		}
	})
	var loads []string
	for _, e := range es {
		v, _ := h.metric(metrics.NameBackendActive, "bounded", e.addr)
		loads = append(loads, fmt.Sprintf("%s=%v", e.name, v))
	}
	t.Logf("factor %.2f: the hot client's 24 sessions per server: %v (home %s); sluice_backend_active_connections at 30 sessions: %s (limit %v)",
		factor, hot, home, strings.Join(loads, " "), math.Ceil(factor*30/n))
	closeAll(ss)
	hlWait(t, 2*time.Second, "bounded sessions to end", func() bool {
		return servers[0].Active()+servers[1].Active()+servers[2].Active() == 0
	})
	s, err := hlDialFrom("127.0.0.10", hlAddr(p[2]))
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	if name, err := s.ask("again"); err != nil || name != home {
		t.Errorf("hot key after the load fell: %q %v, want its own server %s", name, err, home)
	}
}
