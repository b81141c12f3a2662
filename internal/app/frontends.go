package app

import (
	"context"
	"net"

	"github.com/sluicelb/sluice/gate"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/guard"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/l4"
	"github.com/sluicelb/sluice/l7"
)

// frontendRT is one running frontend. It is kept across reloads while its
// name, mode and listen address stay, so its socket is never rebound.
type frontendRT struct {
	cfg   config.Frontend
	met   *metrics.Frontend
	noSrv *noServerLog
	ln    *net.TCPListener
	tcp   *l4.Frontend
	conns *gate.Gate // tcp: max_connections
	http  *l7.Proxy
	done  chan struct{} // http: closed when Serve returned
	guard *guard.Guard  // nil: no access lists or rate limits
	gkey  string        // guardKey of the guard
	tls   *frontendTLS  // http with tls: its certificates, ACME, redirect_from
	// tlsPlan is set while a plan builds the frontend's options (the
	// *tls.Config a new proxy is built with).
	tlsPlan *tlsPlan
}

// keeps reports whether the running frontend old can take cfg by update.
func keeps(old *frontendRT, f *config.Frontend) bool {
	if old == nil || old.cfg.Mode != f.Mode || old.cfg.Listen != f.Listen || (old.cfg.TLS == nil) != (f.TLS == nil) {
		return false // TLS on or off: a new proxy on a new socket
	}
	if f.IsHTTP() { // fixed at l7.New
		return old.cfg.MaxConnections == f.MaxConnections &&
			f.Limits.MaxHeaderBytes <= old.cfg.Limits.MaxHeaderBytes
	}
	return true
}

// tcpOptions builds the l4 options of rt's frontend over the backends of
// the plan pl.
func (a *App) tcpOptions(rt *frontendRT, pl *plan) l4.Options {
	f := &rt.cfg
	h := &tcpHooks{name: f.Name, backend: f.Backend, fe: rt.met, alog: pl.alog, noSrv: rt.noSrv,
		routes: make([]obsBackend, len(f.Routes)+1),
		fl:     a.frontendLive(f.Name), logs: a.logs}
	o := l4.Options{
		Name:         f.Name,
		Engine:       a.eng,
		HelloTimeout: f.Timeouts.ClientHeader,
		IdleTimeout:  f.Timeouts.ClientIdle,
		Conns:        rt.conns,
		Global:       a.global,
		Admit:        tcpAdmit(rt.guard),
		Hooks:        h,
		Log:          a.log,

		ProxyProtocol: f.ProxyProtocol,
		Trusted:       trustedFunc(f.TrustedProxies),
		HeaderTimeout: f.Timeouts.ClientHeader,
	}
	if f.Backend != "" {
		o.Backend = pl.byName[f.Backend].l4Backend()
		h.routes[0] = obsBackend{pair: pl.pair(f.Name, f.Backend, metrics.ModeTCP), live: pl.byName[f.Backend].rt.live}
	}
	for i := range f.Routes {
		r := &f.Routes[i]
		o.Routes = append(o.Routes, l4.Route{Name: r.Name, Names: r.Match.SNI, Backend: pl.byName[r.Backend].l4Backend()})
		h.routes[i+1] = obsBackend{pair: pl.pair(f.Name, r.Backend, metrics.ModeTCP), live: pl.byName[r.Backend].rt.live}
	}
	return o
}

// httpOptions builds the l7 options of rt's frontend over the backends of
// the plan pl.
func (a *App) httpOptions(rt *frontendRT, pl *plan) l7.Options {
	f := &rt.cfg
	obs := &httpObserver{name: f.Name, fe: rt.met, alog: pl.alog, noSrv: rt.noSrv,
		byName: map[string]obsBackend{"": {pair: pl.pair(f.Name, "", metrics.ModeHTTP)}},
		fl:     a.frontendLive(f.Name), logs: a.logs}
	use := func(name string) *l7.Backend {
		b := pl.byName[name]
		if obs.byName[name].pair == nil {
			ob := obsBackend{pair: pl.pair(f.Name, name, metrics.ModeHTTP), live: b.rt.live}
			if id := b.rt.id; id >= len(obs.byID) {
				obs.byID = append(obs.byID, make([]obsBackend, id+1-len(obs.byID))...)
			}
			obs.byID[b.rt.id], obs.byName[name] = ob, ob
		}
		return b.l7
	}
	o := l7.Options{
		Frontend: f.Name,
		Timeouts: l7.Timeouts{
			ClientHeader: f.Timeouts.ClientHeader,
			ClientIdle:   f.Timeouts.ClientIdle,
			ClientRead:   f.Timeouts.ClientRead,
			ClientWrite:  f.Timeouts.ClientWrite,
		},
		Limits:         l7.Limits{MaxHeaderBytes: int(f.Limits.MaxHeaderBytes), MaxBodyBytes: int64(f.Limits.MaxBodyBytes)},
		MaxConns:       f.MaxConnections,
		TrustedProxies: f.TrustedProxies,
		ProxyProtocol:  f.ProxyProtocol,
		Logger:         a.log,
		Observer:       obs,
		Global:         a.global,
		Engine:         a.eng,
	}
	if t := f.TLS; t != nil {
		o.TLSObserver, o.HSTS = rt.met, t.HSTS
		if tp := rt.tlsPlan; tp != nil {
			o.TLS = tp.srv.Config()
		}
	}
	if rt.guard != nil { // a nil *guard.Guard in the interface would not be nil
		o.Guard = rt.guard
	}
	if f.Backend != "" {
		o.Default = use(f.Backend)
	}
	o.Routes = l7Routes(f, use)
	return o
}

// l7Routes translates f's routes, use giving each backend's l7 view.
func l7Routes(f *config.Frontend, use func(name string) *l7.Backend) []l7.Route {
	var out []l7.Route
	for i := range f.Routes {
		r := &f.Routes[i]
		out = append(out, l7.Route{
			Name:            r.Name,
			Host:            r.Match.Host,
			PathPrefix:      r.Match.PathPrefix,
			Methods:         r.Match.Methods,
			Backend:         use(r.Backend),
			RequestHeaders:  headerOps(&r.RequestHeaders),
			ResponseHeaders: headerOps(&r.ResponseHeaders),
		})
	}
	return out
}

func headerOps(h *config.HeaderRules) l7.HeaderOps {
	ops := l7.HeaderOps{Remove: h.Remove}
	for _, s := range h.Set {
		ops.Set = append(ops.Set, l7.HeaderField{Name: s.Name, Value: s.Value})
	}
	return ops
}

// startFrontend starts a frontend the plan built on its bound listener.
func (a *App) startFrontend(rt *frontendRT) {
	if rt.tcp != nil {
		rt.tcp.Start(rt.ln)
		return
	}
	p := rt.http
	rt.met.BindActive(func() int64 { return p.Stats().ActiveConns })
	rt.done = make(chan struct{})
	go func() {
		defer close(rt.done)
		if err := p.Serve(rt.ln); err != nil {
			a.log.Error("http listener stopped", "frontend", rt.cfg.Name, "listen", rt.cfg.Listen, "error", err.Error())
		}
	}()
}

// stop closes the frontend's listener and drains it: connections in flight
// go on until they end or ctx is done (see l7.Proxy.Shutdown, l4.Close).
func (rt *frontendRT) stop(ctx context.Context) {
	if rt.tcp != nil {
		rt.tcp.Close()
		return
	}
	if rt.http != nil {
		_ = rt.http.Shutdown(ctx) // its Serve returns at once (listener closed)
		select {
		case <-rt.done:
		case <-ctx.Done():
		}
	}
	rt.tls.stop(ctx)
}
