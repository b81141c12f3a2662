package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluicelb/sluice/bench/load"
	"github.com/sluicelb/sluice/bench/peer"
	"github.com/sluicelb/sluice/bench/report"
)

// runPeer starts one peer, runs every selected scenario against it once and stops it.
// Failures become samples with Err set, so one broken scenario does not end the run.
func (r *runner) runPeer(ctx context.Context, pp *prepared, rep int) {
	name := pp.p.Name
	fail := func(ids []string, err error) {
		r.logf("rep %d %s: %v", rep, name, err)
		for _, id := range ids {
			r.res.Samples = append(r.res.Samples, report.Sample{Peer: name, Scenario: id, Rep: rep, Err: err.Error()})
		}
	}
	var ids []string
	for _, sc := range r.selected {
		if l4Scenario(sc.ID) && !pp.p.L4 {
			continue // n/a
		}
		ids = append(ids, sc.ID)
	}
	proc, err := peer.Start(pp.p, pp.bin, pp.dir, pp.cfg, r.taskset, r.opts.ProxyCPUs)
	if err != nil {
		fail(ids, err)
		return
	}
	defer func() {
		if err := proc.Stop(); err != nil {
			r.logf("%s: %v", name, err)
		}
	}()
	addrs := []string{r.setup.HTTPListen}
	if pp.p.L4 {
		addrs = append(addrs, r.setup.TCPListen)
	}
	if err := proc.WaitReady(15*time.Second, addrs...); err != nil {
		fail(ids, err)
		return
	}
	if err := r.sanity(); err != nil {
		fail(ids, fmt.Errorf("%s does not proxy: %v; log %s:\n%s", name, err, proc.LogPath, proc.LogTail(10)))
		return
	}
	time.Sleep(200 * time.Millisecond)
	idleRSS, _ := proc.RSS()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s := report.Sample{Peer: name, Scenario: id, Rep: rep, Values: map[string]float64{}}
		var err error
		if id == "g" {
			err = r.memory(ctx, proc, idleRSS, &s)
		} else {
			err = r.scenario(ctx, id, &s)
		}
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

func (r *runner) scenario(ctx context.Context, id string, s *report.Sample) error {
	var res load.Result
	var err error
	switch id {
	case "a":
		res, err = r.runHTTP(ctx, r.httpOpts("/size/1024", 64, false))
	case "b":
		res, err = r.runHTTP(ctx, r.httpOpts("/size/65536", 64, false))
	case "c":
		res, err = r.runHTTP(ctx, r.httpOpts("/size/1024", 64, true))
	case "d":
		res, err = load.RunTCPRR(ctx, load.TCPOptions{Addr: r.setup.TCPListen, Conns: 64, Size: 64,
			Duration: r.opts.Duration, Warmup: r.opts.Warmup})
	case "e":
		res, err = load.RunTCPBulk(ctx, load.TCPOptions{Addr: r.setup.TCPListen, Conns: 4, Size: 64 << 10,
			Duration: r.opts.Duration, Warmup: r.opts.Warmup})
	case "f":
		return r.addedLatency(ctx, s)
	}
	if err != nil {
		return err
	}
	s.Driver, s.Errors, s.Non2xx = res.Driver, res.Errors, res.Non2xx
	if id == "e" {
		s.Values["mbps"] = res.MBps()
	} else {
		s.Values["rps"] = res.RPS()
		s.Values["p50_ms"] = ms(res.P50)
		s.Values["p99_ms"] = ms(res.P99)
	}
	if res.Requests == 0 && res.Bytes == 0 {
		return fmt.Errorf("no request completed (%d errors)", res.Errors)
	}
	return nil
}

// addedLatency measures one sequential connection directly to a backend and through the
// proxy, back to back, and reports the proxy's latency and the difference.
func (r *runner) addedLatency(ctx context.Context, s *report.Sample) error {
	o := load.HTTPOptions{Path: "/", Conns: 1, Duration: r.opts.Duration, Warmup: r.opts.Warmup}
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

// memory opens IdleConns keep-alive client connections (one request each), then reads
// the proxy's RSS with them open.
func (r *runner) memory(ctx context.Context, proc *peer.Process, idleRSS int64, s *report.Sample) error {
	before, err := proc.RSS()
	if err != nil {
		return err
	}
	conns, err := load.OpenIdle(ctx, r.setup.HTTPListen, "/", r.opts.IdleConns)
	if err != nil {
		return err
	}
	defer load.CloseAll(conns)
	// Let the proxy settle, then take the largest of a few readings.
	var with int64
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		v, err := proc.RSS()
		if err != nil {
			return err
		}
		with = max(with, v)
	}
	s.Values["idle_rss_mib"] = float64(idleRSS) / 1024
	s.Values["rss_conns_mib"] = float64(with) / 1024
	s.Values["kib_per_conn"] = float64(with-before) / float64(r.opts.IdleConns)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func describe(s report.Sample) string {
	var parts []string
	for _, k := range []string{"rps", "mbps", "p50_ms", "p99_ms", "added_p50_us", "added_p99_us", "idle_rss_mib", "rss_conns_mib", "kib_per_conn"} {
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
