package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/bench/apiclient"
	"github.com/sluicelb/sluice/bench/load"
	"github.com/sluicelb/sluice/bench/peer"
	"github.com/sluicelb/sluice/bench/report"
)

// runPeer runs every selected scenario against one peer in one repetition: a to f on one
// process, then the memory scenario g on fresh processes so that earlier load does not
// shape the memory figures. Failures become samples with Err set, so one broken scenario
// does not end the run.
func (r *runner) runPeer(ctx context.Context, pp *prepared, rep int) {
	name := pp.p.Name
	r.setup = pp.setup
	fail := func(ids []string, err error) {
		r.logf("rep %d %s: %v", rep, name, err)
		for _, id := range ids {
			r.res.Samples = append(r.res.Samples, report.Sample{Peer: name, Scenario: id, Rep: rep, Err: err.Error()})
		}
	}
	var ids []string
	memory := false
	for _, sc := range r.selected {
		switch {
		case sc.ID == "g":
			memory = true
		case l4Scenario(sc.ID) && !pp.p.L4, tlsScenario(sc.ID) && !pp.p.TLS:
			// n/a
		default:
			ids = append(ids, sc.ID)
		}
	}
	if len(ids) > 0 {
		proc, err := r.start(pp)
		var api *apiclient.Set
		if err == nil && pp.p.API != nil {
			if api, err = r.attach(ctx, pp); err != nil {
				r.stop(proc)
			}
		}
		if err != nil {
			fail(ids, err)
		} else {
			r.runScenarios(ctx, pp, proc, api, rep, ids)
			if api != nil {
				api.Close()
				r.logf("rep %d %s: %s", rep, name, api.Summary())
			}
			r.stop(proc)
		}
	}
	if memory && ctx.Err() == nil {
		s := report.Sample{Peer: name, Scenario: "g", Rep: rep, Values: map[string]float64{}}
		if err := r.memory(ctx, pp, &s); err != nil {
			s.Err, s.Values = err.Error(), nil
			r.logf("rep %d %s g: %v", rep, name, err)
		} else {
			r.logf("rep %d %-7s g: %s", rep, name, describe(s))
		}
		r.res.Samples = append(r.res.Samples, s)
	}
}

// start starts a fresh process of pp, waits for its listeners and checks one request
// goes through.
func (r *runner) start(pp *prepared) (*peer.Process, error) {
	proc, err := peer.Start(pp.p, pp.bin, pp.dir, pp.cfg, r.taskset, r.opts.ProxyCPUs)
	if err != nil {
		return nil, err
	}
	addrs := []string{r.setup.HTTPListen}
	if pp.p.L4 {
		addrs = append(addrs, r.setup.TCPListen)
	}
	if pp.p.TLS {
		addrs = append(addrs, r.setup.TLSListen)
	}
	if err := proc.WaitReady(15*time.Second, addrs...); err != nil {
		r.stop(proc)
		return nil, err
	}
	if err := r.sanity(); err != nil {
		r.stop(proc)
		return nil, fmt.Errorf("%s does not proxy: %v; log %s:\n%s", pp.p.Name, err, proc.LogPath, proc.LogTail(10))
	}
	return proc, nil
}

// proxyCore is the single CPU the proxies are pinned to, or -1.
func (r *runner) proxyCore() int {
	if r.taskset == "" {
		return -1
	}
	n, err := strconv.Atoi(r.opts.ProxyCPUs)
	if err != nil {
		return -1
	}
	return n
}

func (r *runner) stop(proc *peer.Process) {
	if err := proc.Stop(); err != nil {
		r.logf("%s: %v", proc.Peer.Name, err)
	}
}

// runScenarios runs ids on proc; api, when not nil, are the admin-API clients attached to
// it, checked after each scenario.
func (r *runner) runScenarios(ctx context.Context, pp *prepared, proc *peer.Process, api *apiclient.Set, rep int, ids []string) {
	name := pp.p.Name
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s := report.Sample{Peer: name, Scenario: id, Rep: rep, Values: map[string]float64{}}
		err := r.scenario(ctx, id, proc, api, &s)
		if err != nil {
			s.Err, s.Values = err.Error(), nil
			r.logf("rep %d %s %s: %v", rep, name, id, err)
		} else {
			r.logf("rep %d %-7s %s: %s", rep, name, id, describe(s))
		}
		r.res.Samples = append(r.res.Samples, s)
		if proc.Exited() {
			r.logf("%s exited during scenario %s; log %s:\n%s", name, id, proc.LogPath, proc.LogTail(10))
			return
		}
	}
}

// cpuMeter records, between the two calls of its mark method (the driver's measurement
// window), the proxy's CPU time, the wall time and, when the proxy is pinned to one CPU,
// that CPU's busy time (so that other load on the proxy's core shows in results.json).
type cpuMeter struct {
	proc         *peer.Process
	core         int // the proxy's CPU, or -1
	cpu0, cpu1   time.Duration
	core0, core1 time.Duration
	t0, t1       time.Time
	err          error
}

func (m *cpuMeter) mark(open bool) {
	c, err := m.proc.CPUTime()
	if err != nil && m.err == nil {
		m.err = err
	}
	var core time.Duration
	if m.core >= 0 {
		core, _ = peer.CoreBusy(m.core)
	}
	if open {
		m.cpu0, m.core0, m.t0 = c, core, time.Now()
	} else {
		m.cpu1, m.core1, m.t1 = c, core, time.Now()
	}
}

// busy is the proxy's CPU time in the window and its share of the wall time.
func (m *cpuMeter) busy() (time.Duration, float64, bool) {
	if m.err != nil || m.t1.IsZero() || !m.t1.After(m.t0) {
		return 0, 0, false
	}
	d := m.cpu1 - m.cpu0
	return d, float64(d) / float64(m.t1.Sub(m.t0)) * 100, true
}

// otherPct is the share of the window the proxy's core spent on anything but the proxy.
func (m *cpuMeter) otherPct() (float64, bool) {
	if m.core < 0 || m.core1 == 0 || !m.t1.After(m.t0) {
		return 0, false
	}
	other := (m.core1 - m.core0) - (m.cpu1 - m.cpu0)
	return max(0, float64(other)/float64(m.t1.Sub(m.t0))*100), true
}

// sanity checks one GET through the proxy reaches a backend.
func (r *runner) sanity() error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + r.setup.HTTPListen + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "backend ") {
		return fmt.Errorf("GET / answered %d %q", resp.StatusCode, b)
	}
	return nil
}

func (r *runner) httpOpts(path string, conns int, newConn bool) load.HTTPOptions {
	return load.HTTPOptions{Addr: r.setup.HTTPListen, Path: path, Conns: conns, Duration: r.opts.Duration,
		Warmup: r.opts.Warmup, NewConnPerRequest: newConn}
}

// runHTTP uses wrk when available (its warm-up is a short run of the Go driver, since wrk
// counts whole seconds), else the Go driver.
func (r *runner) runHTTP(ctx context.Context, o load.HTTPOptions) (load.Result, error) {
	if r.wrk == "" {
		return load.RunHTTP(ctx, o)
	}
	w := o
	w.Duration, w.Warmup = o.Warmup, 0
	if _, err := load.RunHTTP(ctx, w); err != nil {
		return load.Result{}, err
	}
	o.Warmup = 0
	threads := max(1, runtimeProcs())
	return load.RunWrk(ctx, r.wrk, threads, o)
}

// scenario runs one scenario on proc and fills s. With api, the attached clients' counts
// are marked with the window and checked after it (apiValues).
func (r *runner) scenario(ctx context.Context, id string, proc *peer.Process, api *apiclient.Set, s *report.Sample) error {
	if id == "f" {
		if err := r.addedLatency(ctx, s); err != nil {
			return err
		}
		if api != nil {
			return api.Err() // attached, not counted: the window is the direct run's and then the proxy's
		}
		return nil
	}
	m := &cpuMeter{proc: proc, core: r.proxyCore()}
	mark := m.mark
	if api != nil {
		mark = func(open bool) { m.mark(open); api.Mark(open) }
	}
	var res load.Result
	var err error
	switch id {
	case "a", "b", "c":
		path := map[string]string{"a": "/size/1024", "b": "/size/65536", "c": "/size/1024"}[id]
		o := r.httpOpts(path, 64, id == "c")
		o.Mark = mark
		res, err = r.runHTTP(ctx, o)
	case "d":
		res, err = load.RunTCPRR(ctx, load.TCPOptions{Addr: r.setup.TCPListen, Conns: 64, Size: 64,
			Duration: r.opts.Duration, Warmup: r.opts.Warmup, Mark: mark})
	case "e":
		res, err = load.RunTCPBulk(ctx, load.TCPOptions{Addr: r.setup.TCPListen, Conns: 4, Size: 64 << 10,
			Duration: r.opts.Duration, Warmup: r.opts.Warmup, Mark: mark})
	case "h", "i", "j":
		// The Go driver (wrk cannot choose between full and resumed
		// handshakes). TLS 1.3 only, the client skips verification so
		// that its CPU goes to the handshake itself, and offers X25519
		// alone: Go's default X25519MLKEM768 (post-quantum) costs more
		// and OpenSSL 3.0 (Debian's HAProxy and nginx) lacks it, so every
		// peer does the same key exchange.
		o := r.httpOpts("/size/1024", 32, id != "j")
		if id == "j" {
			o.Conns = 64
		}
		o.Addr, o.Host = r.setup.TLSListen, peer.TLSName
		o.TLS = &tls.Config{ServerName: peer.TLSName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
			NextProtos: []string{"http/1.1"}, CurvePreferences: []tls.CurveID{tls.X25519}}
		o.Resume = id == "i"
		o.Mark = mark
		res, err = load.RunHTTP(ctx, o)
		if err == nil && id == "i" && res.Handshakes > 0 {
			s.Values["resumed_pct"] = 100 * float64(res.Resumed) / float64(res.Handshakes)
		}
	}
	if err != nil {
		return err
	}
	if api != nil {
		if err := apiValues(api, s); err != nil {
			return err
		}
	}
	s.Driver, s.Errors, s.Non2xx = res.Driver, res.Errors, res.Non2xx
	if res.Requests == 0 && res.Bytes == 0 {
		return fmt.Errorf("no request completed (%d errors)", res.Errors)
	}
	cpu, pct, cpuOK := m.busy()
	if id == "e" {
		s.Values["mbps"] = res.MBps()
		if cpuOK && res.Bytes > 0 {
			s.Values["cpu_us_per_mb"] = float64(cpu) / 1e3 / (float64(res.Bytes) / 1e6)
		}
	} else {
		s.Values["rps"] = res.RPS()
		s.Values["p50_ms"] = ms(res.P50)
		s.Values["p99_ms"] = ms(res.P99)
		if cpuOK && res.Requests > 0 {
			s.Values["cpu_us_per_req"] = float64(cpu) / 1e3 / float64(res.Requests)
		}
	}
	if cpuOK {
		s.Values["cpu_pct"] = pct
	}
	if other, ok := m.otherPct(); ok {
		s.Values["core_other_pct"] = other // results.json only: noise on the proxy's core
	}
	return nil
}

// addedLatency measures one sequential connection directly to a backend and through the
// proxy, back to back, and reports the proxy's latency and the difference.
func (r *runner) addedLatency(ctx context.Context, s *report.Sample) error {
	o := load.HTTPOptions{Path: "/", Conns: 1, Duration: r.opts.Duration, Warmup: r.opts.Warmup}
	if r.opts.Quick {
		o.Duration /= 2
	}
	o.Addr = r.setup.HTTPBackends[0]
	direct, err := load.RunHTTP(ctx, o)
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	o.Addr = r.setup.HTTPListen
	o.Host = r.setup.HTTPListen
	via, err := load.RunHTTP(ctx, o)
	if err != nil {
		return err
	}
	s.Driver, s.Errors, s.Non2xx = "go", via.Errors, via.Non2xx
	s.Values["p50_ms"] = ms(via.P50)
	s.Values["p99_ms"] = ms(via.P99)
	s.Values["added_p50_us"] = float64(via.P50-direct.P50) / 1e3
	s.Values["added_p99_us"] = float64(via.P99-direct.P99) / 1e3
	s.Values["direct_p50_ms"] = ms(direct.P50)
	s.Values["direct_p99_ms"] = ms(direct.P99)
	return nil
}

// memory measures, on a fresh process, the idle RSS and the RSS with IdleConns
// keep-alive HTTP client connections open (one request each); then, for L4 peers, on
// another fresh process, the RSS with IdleSessions idle TCP sessions (4 bytes echoed each).
func (r *runner) memory(ctx context.Context, pp *prepared, s *report.Sample) error {
	proc, err := r.start(pp)
	if err != nil {
		return err
	}
	idle, with, err := r.rssWith(ctx, proc, func() ([]net.Conn, error) {
		return load.OpenIdle(ctx, r.setup.HTTPListen, "/", r.opts.IdleConns)
	})
	r.stop(proc)
	if err != nil {
		return fmt.Errorf("%d idle HTTP connections: %w", r.opts.IdleConns, err)
	}
	s.Values["idle_rss_mib"] = float64(idle) / 1024
	s.Values["rss_conns_mib"] = float64(with) / 1024
	s.Values["kib_per_conn"] = float64(with-idle) / float64(r.opts.IdleConns)
	if !pp.p.L4 || ctx.Err() != nil {
		return nil
	}
	if proc, err = r.start(pp); err != nil {
		return err
	}
	idle, with, err = r.rssWith(ctx, proc, func() ([]net.Conn, error) {
		return load.OpenIdleTCP(ctx, r.setup.TCPListen, r.opts.IdleSessions)
	})
	r.stop(proc)
	if err != nil {
		return fmt.Errorf("%d idle TCP sessions: %w", r.opts.IdleSessions, err)
	}
	s.Values["rss_sessions_mib"] = float64(with) / 1024
	s.Values["kib_per_session"] = float64(with-idle) / float64(r.opts.IdleSessions)
	return nil
}

// rssWith reads the proxy's settled RSS (KiB), opens connections with open, waits
// until the proxy holds them (a connect completes in the kernel's backlog before the
// proxy accepts it, later still on a busy machine), lets it settle and reads the RSS
// again (the largest of a few readings), then closes them.
func (r *runner) rssWith(ctx context.Context, proc *peer.Process, open func() ([]net.Conn, error)) (idle, with int64, err error) {
	time.Sleep(200 * time.Millisecond)
	if idle, err = proc.RSS(); err != nil {
		return 0, 0, err
	}
	socks := peer.TreeSockets(proc.Pid())
	conns, err := open()
	if err != nil {
		return 0, 0, err
	}
	defer load.CloseAll(conns)
	for deadline := time.Now().Add(acceptWait); peer.TreeSockets(proc.Pid()) < socks+len(conns); {
		if time.Now().After(deadline) {
			r.logf("%s holds fewer than the %d connections opened after %v; measuring anyway",
				proc.Peer.Name, len(conns), acceptWait)
			break
		}
		if ctx.Err() != nil || proc.Exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		v, err := proc.RSS()
		if err != nil {
			return 0, 0, err
		}
		with = max(with, v)
	}
	if proc.Exited() {
		return 0, 0, fmt.Errorf("%s exited; log %s:\n%s", proc.Peer.Name, proc.LogPath, proc.LogTail(10))
	}
	return idle, with, ctx.Err()
}

// acceptWait bounds how long rssWith waits for the proxy to accept the connections.
const acceptWait = 10 * time.Second

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func describe(s report.Sample) string {
	var parts []string
	for _, k := range []string{"rps", "mbps", "p50_ms", "p99_ms", "cpu_us_per_req", "cpu_us_per_mb", "cpu_pct",
		"core_other_pct", "api_clients", "api_msgs_per_s", "api_min_client_msgs", "added_p50_us", "added_p99_us", "idle_rss_mib", "rss_conns_mib", "kib_per_conn", "rss_sessions_mib", "kib_per_session"} {
		if v, ok := s.Values[k]; ok {
			parts = append(parts, k+"="+report.FormatValue(v))
		}
	}
	if s.Errors > 0 || s.Non2xx > 0 {
		parts = append(parts, fmt.Sprintf("errors=%d non2xx=%d", s.Errors, s.Non2xx))
	}
	if s.Driver != "" {
		parts = append(parts, "("+s.Driver+")")
	}
	return strings.Join(parts, " ")
}
