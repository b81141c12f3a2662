package app

import (
	"runtime"
	"sort"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/state"
)

// publishLocked builds the Snapshot of the running configuration and the
// sampler's view of the running objects, and swaps both in with one store.
// Called with a.mu held: at the end of every apply, after a refused reload
// (LastReload changed) and when a removed server finished draining.
func (a *App) publishLocked() {
	cfg := a.cfg
	snap := &state.Snapshot{Version: a.opts.Version, Commit: a.opts.Commit, GoVersion: runtime.Version(),
		Started: a.proc.started, ConfigFile: a.opts.ConfigFile, Generation: a.generation,
		LastReload: a.lastReload, Frontends: []state.Frontend{}, Backends: []state.Backend{}}
	p := &published{snap: snap}
	if cfg != nil {
		snap.Checksum, snap.Text = cfg.Checksum(), cfg.Raw
		for i := range cfg.Frontends {
			snap.Frontends = append(snap.Frontends, frontendView(&cfg.Frontends[i]))
		}
		for i := range cfg.Backends {
			snap.Backends = append(snap.Backends, backendView(&cfg.Backends[i]))
		}
	}
	names := make([]string, 0, len(a.frontends))
	for name := range a.frontends {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rt := a.frontends[name]
		f := pubFE{name: name, live: a.frontendLive(name), met: rt.met, active: rt.met.Active}
		if px := rt.http; px != nil {
			f.active = func() int64 { return px.Stats().ActiveConns }
		}
		p.fes = append(p.fes, f)
	}
	for _, bv := range snap.Backends {
		b := a.backends[bv.Name]
		if b == nil {
			continue
		}
		pb := pubBE{name: b.name, live: b.live, bal: b.bal}
		for _, s := range b.bal.Servers() {
			if st := stateOf(s); st != nil {
				pb.servers = append(pb.servers, pubSrv{s: s, st: st})
			}
		}
		for _, addr := range sortedKeys(b.draining) {
			s := b.draining[addr]
			if st := stateOf(s); st != nil {
				pb.servers = append(pb.servers, pubSrv{s: s, st: st, removed: true})
			}
		}
		p.bes = append(p.bes, pb)
	}
	a.pub.Store(p)
}

// frontendLive returns the live counters of frontend name, kept across
// reloads (also when the frontend moves to another address).
func (a *App) frontendLive(name string) *feLive {
	l := a.feLive[name]
	if l == nil {
		l = &feLive{}
		a.feLive[name] = l
	}
	return l
}

func frontendView(f *config.Frontend) state.Frontend {
	v := state.Frontend{Name: f.Name, Mode: f.Mode, Listen: f.Listen, Backend: f.Backend}
	for i := range f.Routes {
		r := &f.Routes[i]
		v.Routes = append(v.Routes, state.Route{Name: r.Name, Host: r.Match.Host, PathPrefix: r.Match.PathPrefix,
			Methods: r.Match.Methods, Backend: r.Backend})
	}
	return v
}

func backendView(b *config.Backend) state.Backend {
	v := state.Backend{Name: b.Name, Algorithm: b.Algorithm, HealthCheck: b.Health.Active.Type, Servers: []state.Server{}}
	if v.HealthCheck == "" {
		v.HealthCheck = config.HealthNone
	}
	for i := range b.Servers {
		s := &b.Servers[i]
		v.Servers = append(v.Servers, state.Server{Address: s.Address, Weight: s.Weight,
			Enabled: serverEnabled(s), Drain: serverDrain(s)})
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
