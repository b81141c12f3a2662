package app

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/l4"
	"github.com/sluicelb/sluice/l7"
	"github.com/sluicelb/sluice/proxyproto"
	"github.com/sluicelb/sluice/ratelimit"
)

// srvState is what the data path finds in a server's balance.ExtMetrics
// slot: its metric handles and passive health tracker (nil when passive
// checks are off). It is created with the server and kept across reloads.
type srvState struct {
	label   string // metrics and access-log name: the address, or NAME@IP:PORT (dns.go)
	met     *metrics.Server
	passive atomic.Pointer[health.Passive]
	flap    atomic.Pointer[health.Flap] // nil when flap damping is off
	be      *backendRT
	live    srvLive                // latency histogram (data path) and the sampler's view
	reason  atomic.Pointer[string] // why it last went down (health events)
	hist    history                // the last health transitions
}

func stateOf(s *balance.Server) *srvState {
	st, _ := s.Ext(balance.ExtMetrics).(*srvState)
	return st
}

// backendRT is one running backend. It is kept across reloads by name; its
// Balancer is updated in place, so frontends holding it see new servers at
// once.
type backendRT struct {
	id      int // small and unique in the process: indexes per-frontend tables
	name    string
	cfg     config.Backend
	bal     *balance.Balancer
	servers map[string]*balance.Server // by dial address
	// draining are servers removed by a reload that still drain, by dial
	// address: re-added before the drain ends, they come back as they were.
	draining map[string]*balance.Server
	l7       *l7.Backend
	l7opts   l7.BackendOptions
	rate     *ratelimit.Rule
	checker  *health.Checker
	live     *beLive
}

// l4Backend returns the l4 view of the backend as p plans it.
func (p *backendPlan) l4Backend() *l4.Backend {
	return &l4.Backend{Name: p.cfg.Name, Balancer: p.bal, ConnectTimeout: p.cfg.Timeouts.Connect, RateLimit: p.rate}
}

// labelOf returns a server's metrics and access-log label.
func labelOf(s *balance.Server) string {
	if st := stateOf(s); st != nil {
		return st.label
	}
	return s.Addr()
}

func balanceOptions(c *config.Backend) (balance.Options, error) {
	alg, err := balance.ParseAlgorithm(c.Algorithm)
	if err != nil {
		return balance.Options{}, err
	}
	return balance.Options{
		Algorithm:         alg,
		MaxConnsPerServer: int64(c.MaxConnectionsPerServer),
		SlowStart:         c.SlowStart,
		HashBalanceFactor: c.HashBalanceFactor,
	}, nil
}

func activeOptions(c *config.Backend, log *slog.Logger, startDown bool, hook func(health.Target, bool, string)) (health.ActiveOptions, bool, error) {
	a := c.Health.Active
	if a.Type == config.HealthNone || a.Type == "" {
		return health.ActiveOptions{}, false, nil
	}
	typ, err := health.ParseCheckType(a.Type)
	if err != nil {
		return health.ActiveOptions{}, false, err
	}
	return health.ActiveOptions{
		Type:               typ,
		Path:               a.Path,
		ExpectStatus:       expectStatus(a.ExpectStatus),
		Interval:           a.Interval,
		Timeout:            a.Timeout,
		HealthyThreshold:   a.HealthyThreshold,
		UnhealthyThreshold: a.UnhealthyThreshold,
		StartDown:          startDown,
		ProxyHeader:        probeProxyHeader(a.SendProxy),
		TLS:                tlsClient(c),
		Logger:             log.With("backend", c.Name, "check", a.Type),
		OnTransition:       hook,
	}, true, nil
}

// hookedProbe returns ph (may be nil) calling hook first: Options.probeHook.
func hookedProbe(ph func(health.Target) []byte, interval time.Duration, hook func(*balance.Server, time.Duration)) func(health.Target) []byte {
	return func(t health.Target) []byte {
		if s, ok := t.(*balance.Server); ok {
			hook(s, interval)
		}
		if ph == nil {
			return nil
		}
		return ph(t)
	}
}

// expectStatus converts the configured statuses for package health.
func expectStatus(s config.StatusCodes) []health.StatusRange {
	out := make([]health.StatusRange, len(s))
	for i, r := range s {
		out[i] = health.StatusRange{Lo: r.Lo, Hi: r.Hi}
	}
	return out
}

func passiveOptions(c *config.Backend, log *slog.Logger) (health.PassiveOptions, bool) {
	p := c.Health.Passive
	if p.UnhealthyThreshold <= 0 {
		return health.PassiveOptions{}, false
	}
	return health.PassiveOptions{
		UnhealthyThreshold: p.UnhealthyThreshold,
		Cooldown:           p.Cooldown,
		Logger:             log.With("backend", c.Name, "check", "passive"),
	}, true
}

// l7Options translates c; secret keys sticky-session cookies.
func l7Options(c *config.Backend, rule *ratelimit.Rule, secret [32]byte) l7.BackendOptions {
	o := l7.BackendOptions{
		Name:              c.Name,
		ConnectTimeout:    c.Timeouts.Connect,
		ResponseTimeout:   c.Timeouts.Response,
		IdleTimeout:       c.Timeouts.Idle,
		MaxConnsPerServer: c.MaxConnectionsPerServer,
		RateLimit:         rule,
	}
	if t := &c.TLS; t.Enabled {
		o.TLS = l7.TLSOptions{Enabled: true, ServerName: t.ServerName, RootCAs: t.RootCAs, RootsID: t.CASum,
			InsecureSkipVerify: t.InsecureSkipVerify}
	}
	if st := c.Sticky; st != nil {
		o.Sticky = l7.StickyOptions{Cookie: st.Cookie, TTL: st.TTL, Secret: secret}
	}
	return o
}

// backendPlan is a backend as the next configuration wants it, built
// without touching the running one; commit makes it live.
type backendPlan struct {
	cfg       config.Backend
	old       *backendRT // nil for a new backend
	rt        *backendRT // old, or the new backend (not yet running)
	bal       *balance.Balancer
	l7        *l7.Backend // what the frontends of the plan route to
	l7opts    l7.BackendOptions
	opts      balance.Options
	servers   []*balance.Server
	added     []*balance.Server
	labels    []string             // per added entry: its metrics and access-log label
	sendProxy []proxyproto.Version // per servers entry
	removed   []*balance.Server
	byAddr    map[string]*balance.Server
	weights   []int  // per servers entry
	enabled   []bool // operator state per servers entry (servers[].enabled)
	drain     []bool // operator state per servers entry (servers[].drain)
	active    health.ActiveOptions
	hasCheck  bool
	passive   health.PassiveOptions
	hasPass   bool
	flap      health.FlapOptions
	hasFlap   bool
	rate      *ratelimit.Rule
}

// planBackend prepares c, reusing servers of old (may be nil) by address.
// It fails only on options the config package should have rejected. A new
// backend gets its balancer and l7 backend here (nothing routes to them
// before commit); a running one keeps its balancer, and a new l7 backend
// when its options changed, which commit switches to.
// shared makes its rate_limit one limit for all instances (rate_limit_store).
func (a *App) planBackend(c *config.Backend, old *backendRT, reload, shared bool) (*backendPlan, error) {
	p := &backendPlan{cfg: *c, old: old, byAddr: make(map[string]*balance.Server, len(c.Servers))}
	var err error
	if p.opts, err = balanceOptions(c); err != nil {
		return nil, fmt.Errorf("backend %q: %w", c.Name, err)
	}
	if err := p.opts.Validate(); err != nil {
		return nil, fmt.Errorf("backend %q: %w", c.Name, err)
	}
	// Servers added by a reload are probed before they get traffic.
	if p.active, p.hasCheck, err = activeOptions(c, a.log, reload, a.activeHook(c.Name)); err != nil {
		return nil, fmt.Errorf("backend %q: %w", c.Name, err)
	}
	if p.hasCheck {
		if err := p.active.Validate(); err != nil {
			return nil, fmt.Errorf("backend %q: health.active: %w", c.Name, err)
		}
		if hook := a.opts.probeHook; hook != nil {
			p.active.ProxyHeader = hookedProbe(p.active.ProxyHeader, p.active.Interval, hook)
		}
		if done := a.opts.probeDone; done != nil {
			p.active.OnProbe = func(t health.Target, ok bool, reason string) {
				if s, isSrv := t.(*balance.Server); isSrv {
					done(s, ok, reason)
				}
			}
		}
	}
	p.passive, p.hasPass = passiveOptions(c, a.log)
	a.passiveHooks(c.Name, &p.passive)
	p.flap, p.hasFlap = flapOptions(c, a.log)
	p.flap.OnDamp = a.flapHook(c.Name)
	for i := range c.Servers {
		for _, sa := range expandServer(&c.Servers[i]) {
			addr := sa.dial
			if _, dup := p.byAddr[addr]; dup {
				continue // two names resolving to one address: one server
			}
			var srv *balance.Server
			if old != nil {
				if srv = old.servers[addr]; srv == nil {
					srv = old.draining[addr] // revived; commit cancels its drain
				}
			}
			if srv == nil {
				srv = balance.NewServer(c.Name, addr, sa.weight)
				p.added = append(p.added, srv)
				p.labels = append(p.labels, sa.label)
			}
			p.byAddr[addr] = srv
			p.servers = append(p.servers, srv)
			p.weights = append(p.weights, sa.weight)
			p.enabled = append(p.enabled, serverEnabled(&c.Servers[i]))
			p.drain = append(p.drain, serverDrain(&c.Servers[i]))
			p.sendProxy = append(p.sendProxy, sendProxyOf(&c.Servers[i]))
		}
	}
	if old != nil {
		for addr, srv := range old.servers {
			if p.byAddr[addr] == nil {
				p.removed = append(p.removed, srv)
			}
		}
		p.rate = old.rate
	}
	if rl := c.RateLimit; rl == nil {
		p.rate = nil
	} else if o := old; o == nil || o.cfg.RateLimit == nil || o.cfg.RateLimit.Rate.PerSecond != rl.Rate.PerSecond || o.cfg.RateLimit.Burst != rl.Burst || o.rate.Shared() != shared {
		if p.rate, err = ratelimit.NewRule(ratelimit.RuleOptions{Name: c.Name, Rate: rl.Rate.PerSecond, Burst: rl.Burst,
			Shared: shared, ID: backendRuleID(c.Name)}); err != nil {
			return nil, fmt.Errorf("backend %q: rate_limit: %w", c.Name, err)
		}
	}
	if old != nil {
		p.rt, p.bal = old, old.bal
	} else {
		a.nextID++ // an id lost to an abandoned plan is harmless
		p.rt = &backendRT{id: a.nextID, name: c.Name, live: &beLive{}}
		p.bal = balance.New(p.opts, p.servers) // all its servers are new: nothing live changes
	}
	p.l7opts = l7Options(c, p.rate, a.sticky)
	if old != nil && old.l7 != nil && old.l7opts.Equal(p.l7opts) {
		p.l7 = old.l7
	} else if p.l7, err = l7.NewBackend(p.l7opts, p.bal); err != nil {
		return nil, err
	}
	return p, nil
}

// commit makes the plan live and returns the running backend. Nothing here
// can fail: every fallible step happened in planBackend.
func (a *App) commitBackend(p *backendPlan) *backendRT {
	b := p.rt
	for i, srv := range p.added {
		st := &srvState{be: b, label: p.labels[i]}
		st.met = a.reg.Server(p.cfg.Name, st.label, healthyNow(srv), srv.Active)
		srv.SetExt(balance.ExtMetrics, st)
	}
	// Operator state (weight, enabled, drain) is configuration: the file
	// (or the state_dir overlay) holds what the API set, so every apply
	// sets it as written. A server revived before its removal drain ended
	// is no longer removed.
	for i, srv := range p.servers {
		setSendProxy(srv, p.sendProxy[i])
		srv.SetWeight(p.weights[i])
		srv.SetEnabled(p.enabled[i])
		srv.SetDraining(p.drain[i])
		srv.SetRemoved(false)
		st := stateOf(srv)
		switch ps := st.passive.Load(); {
		case !p.hasPass:
			st.passive.Store(nil)
			srv.SetPassiveUp(true)
		case ps == nil:
			st.passive.Store(health.NewPassive(srv, p.passive))
		default:
			ps.SetOptions(p.passive)
		}
		commitFlap(srv, st, p.flap, p.hasFlap)
	}
	// Health of new servers is settled before they become pickable: with
	// active checks on they start down and are probed first.
	targets := make([]health.Target, len(p.servers))
	for i, s := range p.servers {
		targets[i] = s
	}
	switch {
	case !p.hasCheck && b.checker != nil:
		_ = b.checker.Stop()
		b.checker = nil
		for _, s := range p.servers {
			s.SetActiveUp(true)
		}
	case p.hasCheck && b.checker == nil:
		for _, s := range p.added {
			s.SetActiveUp(!p.active.StartDown)
		}
		ck, err := health.NewChecker(p.active, targets)
		if err != nil { // options were validated by planBackend
			a.log.Error("health checks not started", "backend", b.name, "error", err.Error())
		}
		b.checker = ck
	case p.hasCheck:
		if err := b.checker.SetOptions(p.active); err != nil {
			a.log.Error("health check options not applied", "backend", b.name, "error", err.Error())
		}
		for _, s := range p.added {
			s.SetActiveUp(!p.active.StartDown)
		}
		b.checker.Update(targets)
	}
	if b.bal == nil {
		b.bal = p.bal // built by planBackend
	} else {
		b.bal.Update(p.opts, p.servers)
	}
	b.cfg = p.cfg
	b.servers = p.byAddr
	if b.draining == nil {
		b.draining = map[string]*balance.Server{}
	}
	for addr := range p.byAddr {
		delete(b.draining, addr)
	}
	b.rate = p.rate
	b.l7, b.l7opts = p.l7, p.l7opts
	b.l7.Update(b.bal) // servers switch to its pools (new options, new servers)
	for _, srv := range p.removed {
		b.draining[srv.Addr()] = srv
		a.drain(b, srv, p.cfg.DrainTimeout)
	}
	return b
}

// retire drains every server of a backend no longer in the configuration.
func (a *App) retireBackend(b *backendRT) {
	if b.checker != nil {
		_ = b.checker.Stop()
	}
	if b.draining == nil {
		b.draining = map[string]*balance.Server{}
	}
	for addr, srv := range b.servers {
		b.draining[addr] = srv
		a.drain(b, srv, b.cfg.DrainTimeout)
	}
}

// drain marks srv removed: it gets no new connections; existing ones may
// finish for up to timeout, then they are closed and the server's metrics
// are removed. A reload that adds the server again before that cancels the
// drain (it clears the removed flag). The operator's drain is a separate
// flag, so an undrain never cancels this one. Called with a.mu held.
func (a *App) drain(b *backendRT, srv *balance.Server, timeout time.Duration) {
	backend := b.name
	srv.SetRemoved(true)
	a.drains.Add(1)
	go func() {
		defer a.drains.Done()
		deadline := time.Now().Add(timeout)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for srv.Removed() && srv.Active() > 0 && time.Now().Before(deadline) {
			select {
			case <-t.C:
			case <-a.stopping:
				return
			}
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if !srv.Removed() || b.draining[srv.Addr()] != srv {
			return // revived by a reload
		}
		delete(b.draining, srv.Addr())
		if n := srv.Active(); n > 0 {
			a.log.Warn("drain timeout: closing connections", "backend", backend, "server", labelOf(srv), "connections", n)
			a.eng.Abort(func(user any) bool { return l4.ServerOf(user) == srv })
		}
		l7.CloseIdle(srv)
		a.reg.RemoveServer(backend, labelOf(srv))
		a.log.Info("server drained", "backend", backend, "server", labelOf(srv))
		if !a.stopped {
			a.publishLocked() // it leaves the live view
		}
	}()
}
