package metrics

import (
	"sort"
	"sync"
	"sync/atomic"

	vm "github.com/VictoriaMetrics/metrics"
)

// Counter is a monotonically increasing counter handle; Inc and Add are a
// single atomic add, allocation-free and safe for concurrent use.
type Counter = vm.Counter

func init() {
	// `# TYPE` lines for the Go runtime and process metrics too.
	vm.ExposeMetadata(true)
}

// Registry owns every Sluice series. Create one per process with
// NewRegistry; its methods are safe for concurrent use. Get-or-create
// methods (Frontend, Pair, Server) are meant for the configuration path:
// they take a lock, build label strings and allocate. The handles they
// return are for the hot path.
//
// A Registry does not register its Sets with the VictoriaMetrics global
// registry, so several Registries (tests) never collide; WritePrometheus
// writes its own Sets plus the global ones.
type Registry struct {
	mu        sync.Mutex
	frontends map[string]*Frontend
	pairs     map[pairKey]*Pair
	servers   map[serverKey]*Server

	process          *vm.Set
	reloadsOK        *Counter
	reloadsFailed    *Counter
	lastReloadOK     atomic.Bool
	accessLogDropped *Counter
	store            *Store // nil until RateLimitStore
	alerts           alertSeries
}

type pairKey struct{ frontend, backend string }
type serverKey struct{ backend, addr string }

// NewRegistry returns an empty Registry with its process-level series
// (sluice_config_reloads_total{result}, sluice_config_last_reload_success,
// sluice_access_log_dropped_total) created. The last-reload gauge starts at
// 1: a running process has loaded a valid configuration.
func NewRegistry() *Registry {
	r := &Registry{
		frontends: make(map[string]*Frontend),
		pairs:     make(map[pairKey]*Pair),
		servers:   make(map[serverKey]*Server),
		process:   vm.NewSet(),
	}
	r.reloadsOK = r.process.NewCounter(seriesName(NameConfigReloads, "result", "success"))
	r.reloadsFailed = r.process.NewCounter(seriesName(NameConfigReloads, "result", "failure"))
	r.lastReloadOK.Store(true)
	r.process.NewGauge(NameConfigLastReload, func() float64 { return b2f(r.lastReloadOK.Load()) })
	r.accessLogDropped = r.process.NewCounter(NameAccessLogDropped)
	return r
}

// ConfigReloaded records the outcome of one reload attempt: it counts
// sluice_config_reloads_total{result="success"|"failure"} and sets
// sluice_config_last_reload_success to 1 or 0.
func (r *Registry) ConfigReloaded(ok bool) {
	if ok {
		r.reloadsOK.Inc()
	} else {
		r.reloadsFailed.Inc()
	}
	r.lastReloadOK.Store(ok)
}

// AccessLogDropped returns the sluice_access_log_dropped_total counter, to
// be handed to the access logger (its Inc method is all it needs).
func (r *Registry) AccessLogDropped() *Counter { return r.accessLogDropped }

// Frontend returns the handles for frontend name, creating them on first
// call. Later calls with the same name return the same *Frontend (counters
// survive reloads).
func (r *Registry) Frontend(name string) *Frontend {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.frontends[name]; f != nil {
		return f
	}
	f := newFrontend(name)
	r.frontends[name] = f
	return f
}

// HasFrontend reports whether the series of frontend name exist.
func (r *Registry) HasFrontend(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frontends[name] != nil
}

// HasPair reports whether the series labelled {frontend, backend} exist.
func (r *Registry) HasPair(frontend, backend string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pairs[pairKey{frontend, backend}] != nil
}

// RemoveFrontend unregisters the series of frontend name and of every Pair
// of that frontend. Handles still held keep working but are no longer
// exposed. It reports whether the frontend existed.
func (r *Registry) RemoveFrontend(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, p := range r.pairs {
		if k.frontend == name {
			p.set.UnregisterAllMetrics()
			delete(r.pairs, k)
		}
	}
	f := r.frontends[name]
	if f == nil {
		return false
	}
	f.set.UnregisterAllMetrics()
	delete(r.frontends, name)
	return true
}

// Pair returns the handles labelled {frontend, backend}, creating them on
// first call, and makes sure the series of mode exist (ModeHTTP: the
// request-duration histogram; ModeTCP: the tcp-sessions counter), so they
// are exposed at 0 before the first request. Later calls return the same
// *Pair.
func (r *Registry) Pair(frontend, backend string, mode Mode) *Pair {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := pairKey{frontend, backend}
	p := r.pairs[k]
	if p == nil {
		p = newPair(frontend, backend)
		r.pairs[k] = p
	}
	p.ensure(mode)
	return p
}

// RemovePair unregisters the series labelled {frontend, backend} and
// reports whether they existed.
func (r *Registry) RemovePair(frontend, backend string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := pairKey{frontend, backend}
	p := r.pairs[k]
	if p == nil {
		return false
	}
	p.set.UnregisterAllMetrics()
	delete(r.pairs, k)
	return true
}

// Server returns the handles of server addr in backend, creating them on
// first call; later calls return the same *Server and rebind its gauges to
// the given funcs. healthy and active are sampled at scrape time for
// sluice_backend_health and sluice_backend_active_connections; they must be
// safe for concurrent use and fast (an atomic load). A nil func reads as
// 0.
func (r *Registry) Server(backend, addr string, healthy func() bool, active func() int64) *Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := serverKey{backend, addr}
	s := r.servers[k]
	if s == nil {
		s = newServer(backend, addr)
		r.servers[k] = s
	}
	s.Bind(healthy, active)
	return s
}

// RemoveServer unregisters every series of server addr in backend (call it
// once the server has drained) and reports whether it existed. Handles
// still held keep working but are no longer exposed; a later Server call
// for the same identity creates fresh series.
func (r *Registry) RemoveServer(backend, addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := serverKey{backend, addr}
	s := r.servers[k]
	if s == nil {
		return false
	}
	s.set.UnregisterAllMetrics()
	delete(r.servers, k)
	return true
}

// sets returns the Registry's Sets in a stable order: process, frontends,
// pairs, servers, each sorted by name.
func (r *Registry) sets() []*vm.Set {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*vm.Set, 0, 1+len(r.frontends)+len(r.pairs)+len(r.servers))
	out = append(out, r.process)
	if r.alerts.firing != nil {
		out = append(out, r.alerts.firing)
	}

	fn := make([]string, 0, len(r.frontends))
	for n := range r.frontends {
		fn = append(fn, n)
	}
	sort.Strings(fn)
	for _, n := range fn {
		out = append(out, r.frontends[n].set)
	}

	pk := make([]pairKey, 0, len(r.pairs))
	for k := range r.pairs {
		pk = append(pk, k)
	}
	sort.Slice(pk, func(i, j int) bool {
		if pk[i].frontend != pk[j].frontend {
			return pk[i].frontend < pk[j].frontend
		}
		return pk[i].backend < pk[j].backend
	})
	for _, k := range pk {
		out = append(out, r.pairs[k].set)
	}

	sk := make([]serverKey, 0, len(r.servers))
	for k := range r.servers {
		sk = append(sk, k)
	}
	sort.Slice(sk, func(i, j int) bool {
		if sk[i].backend != sk[j].backend {
			return sk[i].backend < sk[j].backend
		}
		return sk[i].addr < sk[j].addr
	})
	for _, k := range sk {
		out = append(out, r.servers[k].set)
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
