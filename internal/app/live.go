package app

import (
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/live"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/internal/state"
)

// feLive are the live counters of one frontend, kept across reloads by
// name (App.feLive). The data path adds; the sampler alone reads and owns
// the fields below the line.
type feLive struct {
	req     atomic.Uint64 // http requests or tcp sessions
	errs    atomic.Uint64 // 5xx answers (http), sessions that reached no server or broke on the backend side (tcp)
	limited atomic.Uint64 // refused by a rate limit (http 429, tcp refused)
	lat     live.Hist

	rate rates
	lim  rates
	win  live.Window
}

// beLive are the live counters of one backend (requests routed to it,
// whether or not a server was reached). Latencies come from its servers.
type beLive struct {
	req     atomic.Uint64
	errs    atomic.Uint64
	limited atomic.Uint64 // requests (connections) to it refused by a rate limit

	rate rates
	lim  rates
}

// srvLive is a server's latency histogram and the sampler's view of it,
// part of srvState (kept across reloads with the server).
type srvLive struct {
	lat live.Hist

	win  live.Window
	prev uint64 // requests at the last sample
	rps  float64
	up   upRing // one bit per sample: up or not (the last hour)
}

// rates turns counters into per-second rates between two samples. Owned
// by the sampler.
type rates struct {
	prev [4]uint64
	per  [4]float64 // per second
	d    [4]uint64  // delta of the last sample
}

func (r *rates) advance(dt float64, cur ...uint64) {
	for i, c := range cur {
		d := c - r.prev[i]
		if c < r.prev[i] {
			d = 0
		}
		r.d[i], r.prev[i] = d, c
		r.per[i] = 0
		if dt > 0 {
			r.per[i] = float64(d) / dt
		}
	}
}

// published is what readers of the live view need, swapped as one pointer
// at the end of every apply (and when a removed server finished draining):
// the Snapshot and the objects the sampler reads.
type published struct {
	snap *state.Snapshot
	fes  []pubFE
	bes  []pubBE
}

type pubFE struct {
	name   string
	live   *feLive
	met    *metrics.Frontend
	active func() int64
}

type pubBE struct {
	name    string
	live    *beLive
	bal     *balance.Balancer
	servers []pubSrv
}

type pubSrv struct {
	s       *balance.Server
	st      *srvState
	removed bool
}

// failKinds names passive failure kinds, indexed by the metrics.Fail*
// reasons the hooks pass to health.Passive.FailureOf.
var failKinds = []string{
	metrics.FailConnect:   "connect error",
	metrics.FailTimeout:   "timeout",
	metrics.FailReset:     "reset",
	metrics.FailStatus5xx: "5xx",
}

// noKind is a failure of no named kind (health.Passive.Failure).
const noKind = 0xff

// sampleEvery is the sampler's default period (also the stream's stats
// period).
const sampleEvery = time.Second

// sampleEvery is the sampler's period: Options.SampleInterval or 1s.
func (a *App) sampleEvery() time.Duration {
	if a.opts.SampleInterval > 0 {
		return a.opts.SampleInterval
	}
	return sampleEvery
}

// sampler builds a Stats once a second from the published objects and the
// data path's atomics, stores it and hands it to the stream; every 50ms it
// hands new access-log entries to log subscribers. It runs until Shutdown.
func (a *App) sampler() {
	defer a.bg.Done()
	st := time.NewTicker(a.sampleEvery())
	defer st.Stop()
	lt := time.NewTicker(50 * time.Millisecond)
	defer lt.Stop()
	var lastLog uint64
	a.proc.init()
	last := time.Now()
	for {
		select {
		case <-a.stopping:
			return
		case <-lt.C:
			if a.hub.WantLogs() {
				lastLog = a.hub.PublishLogs(a.logs, lastLog, 100)
			} else {
				lastLog = a.logs.Last()
			}
		case now := <-st.C:
			s := a.sample(now, now.Sub(last).Seconds())
			last = now
			a.stats.Store(s)
			a.hub.PublishStats(s)
		}
	}
}

// sample builds one Stats over dt seconds since the last one.
func (a *App) sample(now time.Time, dt float64) *state.Stats {
	p := a.pub.Load()
	out := &state.Stats{Time: now, Frontends: make([]state.FrontendStats, 0, len(p.fes)),
		Backends: make([]state.BackendStats, 0, len(p.bes))}
	var conns int64
	for i := range p.fes {
		f := &p.fes[i]
		l := f.live
		l.rate.advance(dt, l.req.Load(), l.errs.Load(), f.met.BytesIn().Get(), f.met.BytesOut().Get())
		l.win.Advance(&l.lat)
		l.lim.advance(dt, l.limited.Load())
		fs := state.FrontendStats{Name: f.name, RequestsPerSec: l.rate.per[0], Requests: l.rate.prev[0],
			RateLimitedPerSec: l.lim.per[0],
			BytesInPerSec:     l.rate.per[2], BytesOutPerSec: l.rate.per[3],
			ErrorRate: ratio(l.rate.d[1], l.rate.d[0]),
			P50Ms:     l.win.Sum().Quantile(0.5), P99Ms: l.win.Sum().Quantile(0.99)}
		if f.active != nil {
			fs.ActiveConnections = f.active()
		}
		conns += fs.ActiveConnections
		out.Frontends = append(out.Frontends, fs)
	}
	for i := range p.bes {
		b := &p.bes[i]
		l := b.live
		l.rate.advance(dt, l.req.Load(), l.errs.Load())
		l.lim.advance(dt, l.limited.Load())
		bs := state.BackendStats{Name: b.name, RequestsPerSec: l.rate.per[0], ErrorRate: ratio(l.rate.d[1], l.rate.d[0]),
			RateLimitedPerSec: l.lim.per[0],
			Servers:           make([]state.ServerStats, 0, len(b.servers))}
		var lat live.Counts
		for _, ps := range b.servers {
			ss := a.serverStats(b, ps, dt)
			bs.ActiveConnections += ss.ActiveConnections
			lat.Add(ps.st.live.win.Sum())
			bs.Servers = append(bs.Servers, ss)
		}
		bs.P50Ms, bs.P99Ms = lat.Quantile(0.5), lat.Quantile(0.99)
		out.Backends = append(out.Backends, bs)
	}
	out.Process = a.proc.sample(now, dt)
	out.Process.ActiveConnections = conns
	return out
}

// serverStats samples one server.
func (a *App) serverStats(b *pubBE, ps pubSrv, dt float64) state.ServerStats {
	s, st := ps.s, ps.st
	l := &st.live
	req := st.met.Requests().Get()
	l.rps = 0
	if dt > 0 && req >= l.prev {
		l.rps = float64(req-l.prev) / dt
	}
	l.prev = req
	l.win.Advance(&l.lat)
	var fails uint64
	for r := range metrics.NumFailReasons {
		fails += st.met.Failures(r).Get()
	}
	ss := state.ServerStats{Address: s.Addr(), ActiveUp: s.ActiveUp(), PassiveUp: s.PassiveUp(),
		Enabled: s.Enabled(), Draining: s.Draining() || ps.removed, Removed: ps.removed,
		Weight: b.bal.EffectiveWeight(s), ActiveConnections: s.Active(), RequestsPerSec: l.rps,
		P50Ms: l.win.Sum().Quantile(0.5), P99Ms: l.win.Sum().Quantile(0.99), Failures: fails}
	switch {
	case s.Damped():
		ss.Health = state.HealthDamped
		if f := st.flap.Load(); f != nil {
			if d, until := f.Damped(); d {
				ss.DampedUntil = time.Now().Add(time.Duration(until - health.Now()))
			}
		}
	case s.HalfOpen():
		ss.Health = state.HealthHalfOpen
	case s.Healthy():
		ss.Health = state.HealthUp
	default:
		ss.Health = state.HealthDown
	}
	if r := st.reason.Load(); r != nil && ss.Health != state.HealthUp {
		ss.Reason = *r
	}
	if !ps.removed {
		l.up.add(ss.Health == state.HealthUp)
	}
	ss.UpRatio = l.up.ratio()
	return ss
}

func ratio(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// activeHook and passiveHooks wire backend's health checks to the events:
// each transition becomes an event with its reason, and a server's last
// down reason is kept for Stats. They run on checker and sweeper
// goroutines and never block.
func (a *App) activeHook(backend string) func(t health.Target, up bool, reason string) {
	return func(t health.Target, up bool, reason string) {
		a.healthEvent(backend, t.Addr(), "active", up, "active check: "+reason, t)
	}
}

func (a *App) passiveHooks(backend string, o *health.PassiveOptions) {
	o.Kinds = failKinds
	o.OnTransition = func(t health.PassiveTarget, up bool, reason string) {
		a.healthEvent(backend, t.Addr(), "passive", up, reason, t)
	}
	o.OnHalfOpen = func(t health.PassiveTarget, reason string) {
		a.addEvent(state.Event{Type: state.EventHealth, Severity: "info", Backend: backend, Server: t.Addr(),
			Source: "passive", State: state.HealthHalfOpen, Reason: reason,
			Message: "server " + t.Addr() + " of backend " + backend + " is half-open: " + reason})
	}
	o.OnTrialFailed = func(t health.PassiveTarget, reason string) {
		a.setReason(t, reason)
		a.addEvent(state.Event{Type: state.EventHealth, Severity: "warn", Backend: backend, Server: t.Addr(),
			Source: "passive", State: state.HealthDown, Reason: reason,
			Message: "server " + t.Addr() + " of backend " + backend + " stays down: " + reason})
	}
}

func (a *App) healthEvent(backend, addr, source string, up bool, reason string, t any) {
	healthTransition(t) // flap damping counts every transition, active or passive
	e := state.Event{Type: state.EventHealth, Backend: backend, Server: addr, Source: source, Reason: reason}
	if up {
		e.Severity, e.State = "info", state.HealthUp
		e.Message = "server " + addr + " of backend " + backend + " is up (" + source + "): " + reason
	} else {
		e.Severity, e.State = "warn", state.HealthDown
		e.Message = "server " + addr + " of backend " + backend + " is down (" + source + "): " + reason
		a.setReason(t, reason)
	}
	a.addEvent(e)
}

// setReason keeps the reason of a server's last down transition for Stats.
func (a *App) setReason(t any, reason string) {
	if s, ok := t.(*balance.Server); ok {
		if st := stateOf(s); st != nil {
			st.reason.Store(&reason)
		}
	}
}

// addEvent stores e in the ring and hands it to the stream.
func (a *App) addEvent(e state.Event) {
	e = a.events.Add(e)
	a.recordHistory(&e)
	a.hub.PublishEvent(&e)
}
