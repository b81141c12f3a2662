package app

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/gate"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/accesslog"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/guard"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/l4"
	"github.com/sluicelb/sluice/l7"
)

// plan is the next configuration built in full beside the running one.
// Every step that can fail runs while planning — backend options, health
// check options, listeners, guards, l7 proxies and routing tables, the
// access log — and none of them touches what is running. commit then only
// swaps and starts; abandon undoes what planning built. So a reload either
// applies whole or leaves the running configuration exactly as it was.
type plan struct {
	a        *App
	cfg      *config.Config
	backends []*backendPlan
	byName   map[string]*backendPlan
	fronts   []*frontendPlan
	alog     *accesslog.Logger
	newLog   bool      // alog was opened by this plan: abandon closes it
	store    storePlan // rate_limit_store (ratestore.go)
	admin    func()    // commits the admin server's next settings (users, protect_metrics, TLS certificate)

	// Metric series the plan created, removed again by abandon.
	newFrontMet []string    // frontends that had no series
	newPairs    [][2]string // {frontend, backend} pairs that had none
}

// frontendPlan is one frontend of the next configuration.
type frontendPlan struct {
	cfg   config.Frontend
	old   *frontendRT // the running frontend of this name; nil for a new one
	fresh *frontendRT // new or moved: listener bound, proxy built, not started; nil when old is kept
	guard *guard.Guard
	gkey  string
	http  *l7.Prepared // old kept (http): its next routing table
	tcp   l4.Options   // old kept (tcp): its next options
	tls   *tlsPlan     // http with tls: certificates, ACME, redirect_from
}

// Fallible steps of a plan, for the failure-injection hook of the tests.
const (
	stepBackend   = "backend"    // balancing, health-check and rate-limit options; the l7 backend
	stepListen    = "listen"     // binding a new frontend listener
	stepGuard     = "guard"      // access lists and rate limits
	stepProxy     = "proxy"      // building the l7 proxy of a new frontend
	stepUpdate    = "update"     // preparing the routing table of a kept http frontend
	stepAccessLog = "access_log" // opening a new access-log destination
	stepTLS       = "tls"        // a TLS frontend's ACME manager and redirect_from listener
)

// inject runs the test hook of step (nil outside tests).
func (a *App) inject(step, name string) error {
	if a.failStep == nil {
		return nil
	}
	return a.failStep(step, name)
}

// plan builds cfg beside the running configuration. On error everything it
// built is undone and the running configuration is untouched.
func (a *App) plan(cfg *config.Config, reload bool) (*plan, error) {
	pl := &plan{a: a, cfg: cfg, byName: make(map[string]*backendPlan, len(cfg.Backends))}
	if err := pl.build(reload); err != nil {
		pl.abandon()
		return nil, err
	}
	return pl, nil
}

func (pl *plan) build(reload bool) error {
	a, cfg := pl.a, pl.cfg
	pl.admin = func() {}
	if a.admin != nil {
		c, err := a.admin.Configure(adminSettings(cfg))
		if err != nil {
			return err
		}
		pl.admin = c
	}
	for i := range cfg.Backends {
		c := &cfg.Backends[i]
		p, err := a.planBackend(c, a.backends[c.Name], reload, sharedLimits(cfg))
		if err == nil {
			err = a.inject(stepBackend, c.Name)
		}
		if err != nil {
			return err
		}
		pl.backends = append(pl.backends, p)
		pl.byName[c.Name] = p
	}
	var err error
	if pl.store, err = a.planStore(cfg); err != nil {
		return err
	}
	if err := pl.openAccessLog(); err != nil {
		return err
	}
	for i := range cfg.Frontends {
		if err := pl.frontend(&cfg.Frontends[i]); err != nil {
			return err
		}
	}
	return nil
}

// openAccessLog opens the access log when its destination changed.
func (pl *plan) openAccessLog() error {
	a, dest := pl.a, pl.cfg.Logging.AccessLog
	pl.alog = a.alog
	if dest == a.alogDest {
		return nil
	}
	err := a.inject(stepAccessLog, dest)
	var l *accesslog.Logger
	if err == nil {
		l, err = accesslog.New(accesslog.Options{Destination: dest, Writer: a.accessWriter(dest),
			Dropped: a.reg.AccessLogDropped(), Logger: a.log})
	}
	if err != nil {
		return fmt.Errorf("logging.access_log: %w", err)
	}
	pl.alog, pl.newLog = l, true
	return nil
}

// frontend plans f: its guard, and either the next options of the running
// frontend (kept: same name, mode and listen address) or a new frontend on
// a newly bound listener.
func (pl *plan) frontend(f *config.Frontend) error {
	a := pl.a
	fp := &frontendPlan{cfg: *f, old: a.frontends[f.Name], gkey: guardKey(f, sharedLimits(pl.cfg))}
	pl.fronts = append(pl.fronts, fp)
	if fp.old != nil && fp.old.gkey == fp.gkey {
		fp.guard = fp.old.guard // unchanged rules keep their state
	} else {
		err := a.inject(stepGuard, f.Name)
		if err == nil {
			fp.guard, err = buildGuard(f, pl.frontendMet(f.Name), sharedLimits(pl.cfg))
		}
		if err != nil {
			return err
		}
	}
	if f.IsHTTP() && f.TLS != nil {
		err := a.inject(stepTLS, f.Name)
		if err == nil {
			fp.tls, err = pl.planTLS(f, fp.old)
		}
		if err != nil {
			fp.tls.abandon()
			fp.tls = nil
			return err
		}
	}
	if keeps(fp.old, f) {
		rt := *fp.old // a view with the next settings; the running one changes at commit
		rt.cfg, rt.guard, rt.gkey, rt.tlsPlan = *f, fp.guard, fp.gkey, fp.tls
		if !f.IsHTTP() {
			fp.tcp = a.tcpOptions(&rt, pl)
			return nil
		}
		err := a.inject(stepUpdate, f.Name)
		if err == nil {
			fp.http, err = fp.old.http.Prepare(a.httpOptions(&rt, pl))
		}
		if err != nil {
			return fmt.Errorf("frontend %q: %w", f.Name, err)
		}
		return nil
	}
	err := a.inject(stepListen, f.Name)
	if err != nil {
		return fmt.Errorf("frontend %q: cannot listen on %s: %w", f.Name, f.Listen, err)
	}
	ln, err := a.listen(fmt.Sprintf("frontend %q", f.Name), f.Listen)
	if err != nil {
		return err
	}
	rt := &frontendRT{cfg: *f, ln: ln, guard: fp.guard, gkey: fp.gkey, tlsPlan: fp.tls}
	fp.fresh = rt
	if fp.old != nil { // moved: counters and the no-server log carry over
		rt.met, rt.noSrv = fp.old.met, fp.old.noSrv
	} else {
		rt.met, rt.noSrv = pl.frontendMet(f.Name), &noServerLog{log: a.log}
	}
	if !f.IsHTTP() {
		rt.conns = gate.New(int64(f.MaxConnections))
		rt.tcp = l4.New(a.tcpOptions(rt, pl))
		return nil
	}
	err = a.inject(stepProxy, f.Name)
	if err == nil {
		rt.http, err = l7.New(a.httpOptions(rt, pl))
	}
	if err != nil {
		return fmt.Errorf("frontend %q: %w", f.Name, err)
	}
	return nil
}

// frontendMet returns the metric handles of frontend name, noting whether
// the plan created them.
func (pl *plan) frontendMet(name string) *metrics.Frontend {
	if !pl.a.reg.HasFrontend(name) {
		pl.newFrontMet = append(pl.newFrontMet, name)
	}
	return pl.a.reg.Frontend(name)
}

// pair returns the {frontend, backend} metric handles, noting whether the
// plan created them.
func (pl *plan) pair(frontend, backend string, mode metrics.Mode) *metrics.Pair {
	if !pl.a.reg.HasPair(frontend, backend) {
		pl.newPairs = append(pl.newPairs, [2]string{frontend, backend})
	}
	return pl.a.reg.Pair(frontend, backend, mode)
}

// abandon undoes what the plan built: its listeners are closed (proxies and
// tcp frontends built on them never started), a newly opened access log is
// closed, and metric series it created are removed.
func (pl *plan) abandon() {
	for _, fp := range pl.fronts {
		if fp.fresh != nil && fp.fresh.ln != nil {
			_ = fp.fresh.ln.Close()
		}
		fp.tls.abandon()
		if fp.old != nil && fp.old.met != nil { // rate-limit series of rules it added
			fp.old.met.RetainRules(ruleNames(&fp.old.cfg))
		}
	}
	if pl.newLog && pl.alog != nil {
		_ = pl.alog.Close()
	}
	if rt := pl.store.next; rt != nil {
		_ = rt.store.Close() // never started
	}
	reg := pl.a.reg
	for _, p := range pl.newPairs {
		reg.RemovePair(p[0], p[1])
	}
	for _, name := range pl.newFrontMet {
		if pl.a.frontends[name] == nil {
			reg.RemoveFrontend(name)
		}
	}
}

func ruleNames(f *config.Frontend) []string {
	names := make([]string, len(f.RateLimits))
	for i := range f.RateLimits {
		names[i] = f.RateLimits[i].Name
	}
	return names
}

// commit makes the plan the running configuration. Nothing in it can fail:
// it swaps what the plan built and starts the new frontends; replaced ones
// drain in the background. It returns a summary of the changes.
func (a *App) commit(pl *plan) string {
	cfg := pl.cfg
	var ch changeLog
	oldLog := a.alog
	pl.admin()
	a.alog, a.alogDest = pl.alog, cfg.Logging.AccessLog
	if a.opts.Level != nil {
		a.opts.Level.Set(ParseLevel(cfg.Logging.Level))
	}
	a.global.SetMax(int64(cfg.MaxConnections))
	next := make(map[string]*backendRT, len(pl.backends))
	var passives []*health.Passive
	var flaps []*health.Flap
	bals := make([]*balance.Balancer, 0, len(pl.backends))
	for _, p := range pl.backends {
		ch.backend(p)
		b := a.commitBackend(p)
		next[b.name] = b
		bals = append(bals, b.bal)
		for _, s := range p.servers {
			if ps := stateOf(s).passive.Load(); ps != nil {
				passives = append(passives, ps)
			}
			if f := stateOf(s).flap.Load(); f != nil {
				flaps = append(flaps, f)
			}
		}
	}
	a.sweep.Set(passives)
	a.sweep.SetFlaps(flaps)
	a.bals.Store(&bals)
	nextFE := make(map[string]*frontendRT, len(pl.fronts))
	var retired []*frontendRT
	for _, fp := range pl.fronts {
		name := fp.cfg.Name
		if rt := fp.fresh; rt != nil {
			if fp.old != nil {
				retired = append(retired, fp.old)
				ch.add("frontend %s moved to %s", name, fp.cfg.Listen)
			} else {
				ch.add("frontend %s added on %s", name, fp.cfg.Listen)
			}
			if fp.cfg.IsHTTP() {
				a.commitTLS(rt, fp.tls, &fp.cfg, fp.old)
			}
			rt.tlsPlan = nil
			a.startFrontend(rt)
			nextFE[name] = rt
			continue
		}
		rt := fp.old
		rt.cfg, rt.guard, rt.gkey = fp.cfg, fp.guard, fp.gkey
		if fp.http != nil {
			fp.http.Commit()
			a.commitTLS(rt, fp.tls, &fp.cfg, nil)
		} else {
			rt.conns.SetMax(int64(fp.cfg.MaxConnections))
			rt.tcp.Update(fp.tcp)
		}
		rt.met.RetainRules(ruleNames(&fp.cfg))
		nextFE[name] = rt
	}
	for name, old := range a.frontends {
		if nextFE[name] == nil {
			retired = append(retired, old)
			ch.add("frontend %s removed", name)
		}
	}
	for name, b := range a.backends {
		if next[name] == nil {
			a.retireBackend(b)
			ch.add("backend %s removed", name)
		}
	}
	a.backends, a.frontends, a.cfg = next, nextFE, cfg
	a.commitStore(pl.store)
	a.setAlertRules(cfg)
	// Replaced frontends stop accepting and drain in the background.
	for _, rt := range retired {
		a.drains.Add(1)
		go func(rt *frontendRT) {
			defer a.drains.Done()
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			rt.stop(ctx)
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.frontends[rt.cfg.Name] == nil { // not re-added meanwhile
				a.reg.RemoveFrontend(rt.cfg.Name)
			}
		}(rt)
	}
	if oldLog != nil && oldLog != a.alog {
		go func() { time.Sleep(cfg.ShutdownTimeout); _ = oldLog.Close() }()
	}
	return ch.String()
}
