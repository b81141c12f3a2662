package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/rlstore/rlstoretest"
)

// The scale-out test of contract §9: three sluice instances (this binary)
// share one frontend-wide rate limit through redis-server, behind a fourth
// sluice in tcp mode; the load goes through the front one.
const (
	scaleRate  = 150 // the limit: requests per second, cluster-wide
	scaleBurst = 15
)

// scaleInstanceConfig is instance i's configuration; redis "" = no store.
func scaleInstanceConfig(admin, listen, backend, redis string, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {listen: %q}\nlogging: {access_log: off, level: info}\nshutdown_timeout: 2s\n", admin)
	if redis != "" {
		fmt.Fprintf(&b, "rate_limit_store: {redis: %q, sync: 100ms}\n", redis)
	}
	fmt.Fprintf(&b, `frontends:
  - name: web
    listen: %q
    routes:
      - {name: all, backend: web, response_headers: {set: {X-Instance: "i%d"}}}
    rate_limits:
      - {name: api, key: frontend, rate: %d/s, burst: %d, match: {path_prefix: /api/}}
backends:
  - name: web
    servers: [{address: %q}]
`, listen, i, scaleRate, scaleBurst, backend)
	return b.String()
}

// scaleClient is one keep-alive client of the front sluice. It learns which
// instance its connection reached from /whoami (not rate limited), then
// sends /api/ requests at its pace; a failed request is counted against that
// instance and the client connects again.
type scaleClient struct {
	front    string
	every    time.Duration
	ok, lim  *atomic.Int64
	failures *scaleFailures
	spread   *scaleSpread
}

// scaleSpread keeps the clients spread evenly over the instances while it
// is on (a client landing on a full instance connects again), so that the
// per-instance phases measure what they mean whatever health flaps a
// loaded machine caused at start.
type scaleSpread struct {
	mu  sync.Mutex
	on  bool
	per int
	n   map[string]int
}

func (s *scaleSpread) take(inst string, force bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on && !force && s.n[inst] >= s.per {
		return false
	}
	s.n[inst]++
	return true
}

func (s *scaleSpread) drop(inst string) {
	s.mu.Lock()
	s.n[inst]--
	s.mu.Unlock()
}

func (s *scaleSpread) even(insts int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i <= insts; i++ {
		if s.n[fmt.Sprintf("i%d", i)] != s.per {
			return false
		}
	}
	return true
}

func (s *scaleSpread) stop() {
	s.mu.Lock()
	s.on = false
	s.mu.Unlock()
}

type scaleFailures struct {
	mu    sync.Mutex
	by    map[string]int // instance ("" = unknown: failed before /whoami answered)
	first []string
}

func (f *scaleFailures) add(inst string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.by[inst]++
	if len(f.first) < 10 {
		f.first = append(f.first, inst+": "+err.Error())
	}
}

func (f *scaleFailures) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for k, v := range f.by {
		m[k] = v
	}
	return m
}

// roundTrip sends one GET and reads the answer.
func roundTrip(c net.Conn, br *bufio.Reader, path string) (*http.Response, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: scale.test\r\n\r\n", path); err != nil {
		return nil, err
	}
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_, err = bufio.NewReader(r.Body).WriteTo(discard{})
	r.Body.Close()
	return r, err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (sc *scaleClient) run(stop <-chan struct{}) {
	next := time.Now()
	tries := 0
	for {
		c, err := net.DialTimeout("tcp", sc.front, 2*time.Second)
		if err != nil {
			sc.failures.add("", err)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		br := bufio.NewReader(c)
		r, err := roundTrip(c, br, "/whoami")
		if err != nil || r.StatusCode != 200 {
			if err == nil {
				err = fmt.Errorf("status %d", r.StatusCode)
			}
			sc.failures.add("", err)
			c.Close()
			continue
		}
		inst := r.Header.Get("X-Instance")
		if tries++; !sc.spread.take(inst, tries > 200) {
			c.Close()
			continue
		}
		for {
			select {
			case <-stop:
				c.Close()
				return
			case <-time.After(time.Until(next)):
			}
			next = next.Add(sc.every)
			if d := time.Since(next); d > time.Second {
				next = time.Now() // fell far behind (a loaded machine): do not catch up in a burst
			}
			r, err := roundTrip(c, br, "/api/x")
			if err != nil {
				sc.failures.add(inst, err)
				sc.spread.drop(inst)
				c.Close()
				break
			}
			switch r.StatusCode {
			case 200:
				sc.ok.Add(1)
			case 429:
				sc.lim.Add(1)
			default:
				sc.failures.add(inst, fmt.Errorf("status %d", r.StatusCode))
			}
		}
	}
}

// TestRedisScaleOut: one frontend-wide limit of 150/s held by three
// instances together (each alone would allow 150/s, so 450/s without the
// store); service goes on with Redis stopped (each instance enforces
// limit/3 locally) and restarted (shared again); one instance killed
// without a failed request to the clients of the other two.
func TestRedisScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("scale-out load test")
	}
	rd := rlstoretest.StartRedis(t)
	backend := httpBackend(t, "ok")
	dir := t.TempDir()
	type inst struct {
		admin, listen, cfg string
		p                  *proc
	}
	insts := make([]*inst, 3)
	for i := range insts {
		in := &inst{admin: freeAddr(t), listen: freeAddr(t)}
		in.cfg = writeFile(t, dir, fmt.Sprintf("i%d.yaml", i+1), scaleInstanceConfig(in.admin, in.listen, backend, "", i+1))
		in.p = start(t, "run", "-c", in.cfg)
		insts[i] = in
	}
	frontAdmin, front := freeAddr(t), freeAddr(t)
	var fb strings.Builder
	fmt.Fprintf(&fb, "admin: {listen: %q}\nlogging: {access_log: off}\nshutdown_timeout: 2s\n", frontAdmin)
	fmt.Fprintf(&fb, "frontends:\n  - {name: front, mode: tcp, listen: %q, backend: cluster}\n", front)
	fb.WriteString("backends:\n  - name: cluster\n    timeouts: {connect: 1s}\n    servers:\n")
	for _, in := range insts {
		fmt.Fprintf(&fb, "      - {address: %q}\n", in.listen)
	}
	fb.WriteString("    health:\n      active: {type: tcp, interval: 200ms, timeout: 150ms, healthy_threshold: 1, unhealthy_threshold: 2}\n      passive: {unhealthy_threshold: 1, cooldown: 2s}\n")
	start(t, "run", "-c", writeFile(t, dir, "front.yaml", fb.String()))
	for _, a := range append([]string{frontAdmin}, insts[0].admin, insts[1].admin, insts[2].admin) {
		waitFor(t, "ready "+a, 20*time.Second, func() bool { c, _, _ := get("http://" + a + "/readyz"); return c == 200 })
	}

	var ok, lim atomic.Int64
	fails := &scaleFailures{by: map[string]int{}}
	spread := &scaleSpread{on: true, per: 3, n: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients, perClient = 9, 80 // 720 requests/s asked: 4.8× the limit, 1.6× what three lone instances allow
	for range clients {
		sc := &scaleClient{front: front, every: time.Second / perClient, ok: &ok, lim: &lim, failures: fails, spread: spread}
		wg.Go(func() { sc.run(stop) })
	}
	defer func() { close(stop); wg.Wait() }()

	measure := func(phase string, d time.Duration) float64 {
		t.Helper()
		o0, l0, s := ok.Load(), lim.Load(), time.Now()
		time.Sleep(d)
		el := time.Since(s).Seconds()
		o, l := ok.Load()-o0, lim.Load()-l0
		rate := float64(o) / el
		t.Logf("%s: %d admitted, %d refused (429) in %.2fs: %.1f/s admitted of %.1f/s asked (limit %d/s)", phase, o, l, el, rate, float64(o+l)/el, scaleRate)
		return rate
	}
	within := func(phase string, got, want, tol float64) {
		t.Helper()
		if got < want*(1-tol) || got > want*(1+tol) {
			t.Errorf("%s: %.1f/s, want %.0f/s ±%.0f%%", phase, got, want, tol*100)
		}
	}
	gauge := func(in *inst, name string) string { return metric(t, in.admin, name) }

	waitFor(t, "three clients on each instance", 30*time.Second, func() bool { return spread.even(3) })
	// 0. No store: each instance enforces the limit alone.
	time.Sleep(time.Second)
	base := measure("per instance (no store)", 4*time.Second)
	within("per instance (no store)", base, 3*scaleRate, 0.12)

	// 1. Shared through Redis (a reload turns the store on).
	for i, in := range insts {
		writeFile(t, dir, filepath.Base(in.cfg), scaleInstanceConfig(in.admin, in.listen, backend, rd.URL(), i+1))
		if err := in.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range insts {
		waitFor(t, "store instances seen", 10*time.Second, func() bool { return gauge(in, "sluice_ratelimit_store_instances") == "3" })
	}
	time.Sleep(time.Second)
	shared := measure("shared (redis)", 5*time.Second)
	within("shared (redis)", shared, scaleRate, 0.10)

	// 2. Redis stopped: fallback to limit/3 locally, service goes on.
	rd.Stop()
	for _, in := range insts {
		waitFor(t, "fallback", 5*time.Second, func() bool { return gauge(in, "sluice_ratelimit_store_fallback") == "1" })
	}
	fallback := measure("redis stopped (fallback limit/3)", 4*time.Second)
	within("redis stopped (fallback limit/3)", fallback, scaleRate, 0.15)
	for _, in := range insts {
		if n := strings.Count(in.p.log(), "rate limit store unreachable"); n != 1 {
			t.Errorf("%s logged the fallback %d times, want once", in.listen, n)
		}
		if e, _ := strconv.Atoi(gauge(in, "sluice_ratelimit_store_errors_total")); e < 1 {
			t.Errorf("%s: sluice_ratelimit_store_errors_total = %d", in.listen, e)
		}
	}

	// 3. Redis restarted (empty): shared again by itself.
	rd.Start()
	for _, in := range insts {
		waitFor(t, "recovery", 10*time.Second, func() bool { return gauge(in, "sluice_ratelimit_store_fallback") == "0" })
	}
	time.Sleep(500 * time.Millisecond)
	recovered := measure("redis restarted (shared again)", 4*time.Second)
	within("redis restarted (shared again)", recovered, scaleRate, 0.10)

	before := fails.snapshot()
	if len(before) != 0 {
		t.Fatalf("failed requests before any instance was killed: %v (%v)", before, fails.first)
	}

	// 4. Instance 3 killed: its clients' requests in flight fail, nobody
	// else's; they reconnect through the front sluice to the others.
	if !spread.even(3) {
		t.Fatalf("clients not spread 3/3/3 before the kill: %v", spread.n)
	}
	spread.stop()
	if err := insts[2].p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	two := measure("two instances left", 4*time.Second)
	within("two instances left", two, scaleRate, 0.10)
	after := fails.snapshot()
	if after["i1"] != 0 || after["i2"] != 0 || after[""] != 0 {
		t.Errorf("failed requests of clients not on the killed instance: %v (%v)", after, fails.first)
	}
	t.Logf("requests failed on the killed instance i3 (in flight or sent before the client saw its connection close): %d; elsewhere: %d", after["i3"], after["i1"]+after["i2"]+after[""])
	if os.Getenv("SLUICE_SCALE_SUMMARY") != "" {
		fmt.Printf("scale-out: no store %.1f/s, shared %.1f/s, fallback %.1f/s, recovered %.1f/s, two instances %.1f/s (limit %d/s); failed on killed instance %d, elsewhere %d\n",
			base, shared, fallback, recovered, two, scaleRate, after["i3"], after["i1"]+after["i2"]+after[""])
	}
}
