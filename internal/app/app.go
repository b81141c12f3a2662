package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/certs"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/accesslog"
	"github.com/sluicelb/sluice/internal/admin"
	"github.com/sluicelb/sluice/internal/admin/grpcapi"
	"github.com/sluicelb/sluice/internal/alert"
	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/confedit"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/live"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/internal/state"
	"github.com/sluicelb/sluice/ui"
)

// Options configure an App.
type Options struct {
	// Logger is the process log; Level, if set, is its level, which
	// Apply sets from logging.level. Defaults: slog.Default, none.
	Logger *slog.Logger
	Level  *slog.LevelVar
	// AccessLogWriter, if set, replaces stdout/stderr as the access-log
	// destination (tests).
	AccessLogWriter io.Writer
	// Loops is the number of engine event loops; 0 means GOMAXPROCS (one
	// per CPU the process may use, container CPU limits included).
	Loops int
	// Inherited are listening sockets handed over by a previous sluice
	// process (binary upgrade), by listen address as written in the
	// configuration. Start uses them instead of binding and closes the ones
	// the configuration does not name. The App owns them.
	Inherited map[string]*net.TCPListener
	// Overrides are the flag and environment values that replace keys of
	// the configuration file (contract §9). Reload applies them again to
	// the file it re-reads, so they hold across reloads; any other path
	// that parses new configuration text must apply them too.
	Overrides []config.Override
	// ConfigFile is the path of the configuration file: what a reload and
	// the change path read, and where changes are written back. Version and
	// Commit are the build's, for the Snapshot.
	ConfigFile      string
	Version, Commit string
	// StateDir, if set, replaces admin.state_dir as the directory of the
	// overlay (tests).
	StateDir string
	// LogEntries is the size of the in-memory access-log ring the API reads
	// (default live.DefaultLogEntries); Events the size of the events ring
	// (default live.DefaultEvents).
	LogEntries, Events int
	// SampleInterval is the period of the live Stats sample (the stream's
	// stats, the alerts' evaluation; latencies are over 60 samples).
	// Default 1s; tests shorten it.
	SampleInterval time.Duration
	// probeHook, if set, is called from the active checker's goroutine as
	// each probe of a server starts, with the interval the checker was
	// given, and probeDone with its outcome and reason (in-package tests: they count
	// probes on the checker's own schedule and may hold one to kill or
	// start a server just before it).
	probeHook func(s *balance.Server, interval time.Duration)
	probeDone func(s *balance.Server, ok bool, reason string)
}

// Reload sources, as Snapshot.LastReload.Source names them.
const (
	SourceStart   = "start"
	SourceUpgrade = "upgrade" // start with listeners inherited from a previous process
	SourceSignal  = "signal"
	SourceWatch   = "watch"
	SourceAPI     = "api"  // a change through the admin REST API or the web UI
	SourceGRPC    = "grpc" // a change through the gRPC control service (sluice ctl)
)

// App is a running Sluice: engine, frontends, backends, health checks,
// metrics, access log and admin listener.
type App struct {
	opts    Options
	log     *slog.Logger
	reg     *metrics.Registry
	eng     *engine.Engine
	global  *gate.Gate
	admin   *admin.Server
	adminLn *net.TCPListener
	sweep   *health.Sweeper

	mu        sync.Mutex // serialises Apply and Shutdown
	cfg       *config.Config
	backends  map[string]*backendRT
	frontends map[string]*frontendRT
	nextID    int // last backendRT.id handed out
	alog      *accesslog.Logger
	alogDest  string
	bals      atomic.Pointer[[]*balance.Balancer]
	store     *storeRT                          // rate_limit_store; nil: limits are per instance
	dnsBase   map[*config.Config]*config.Config // re-resolved config → the one it re-resolves (dns.go)

	// The live view (state.Control): published at the end of every apply
	// and sampled once a second; readers never take mu.
	generation uint64       // successful applies; under mu
	lastReload state.Reload // under mu
	feLive     map[string]*feLive
	pub        atomic.Pointer[published]
	stats      atomic.Pointer[state.Stats]
	proc       procSampler // the sampler's
	events     *live.EventRing
	logs       *live.LogRing
	hub        *live.Hub
	ctl        *control
	alerts     *alert.Engine    // nil before Start
	grpc       *grpcapi.Server  // nil when admin.grpc_listen is empty
	grpcLn     *net.TCPListener // its listener (handed to an upgrade)
	grpcAddr   string           // admin.grpc_listen as started

	// The configuration file (change path): what was last read from or
	// written to it, and the overlay edits running on top of it.
	fileSum atomic.Pointer[fileMark] // also read by --watch reloads without mu
	overlay []confedit.Edit          // under mu

	ready    atomic.Bool
	stopped  bool
	stopping chan struct{}
	drains   sync.WaitGroup
	bg       sync.WaitGroup

	// TLS secrets (tls.go), made at Start: session ticket keys of every TLS
	// frontend, and the key of sticky-session cookie values.
	tickets *certs.TicketKeys
	sticky  [32]byte
	// acmeRenewCheck and acmeRenewRatio, set by tests only, shorten ACME
	// renewal (0: certmagic's defaults).
	acmeRenewCheck time.Duration
	acmeRenewRatio float64

	// failStep, set by tests only, is called at each fallible step of a
	// plan (plan.go) with the step and the frontend, backend or destination
	// concerned; an error makes that step fail.
	failStep func(step, name string) error
}

// New returns an App that is not running yet; Start runs cfg.
func New(o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &App{
		opts:      o,
		log:       o.Logger,
		reg:       metrics.NewRegistry(),
		global:    gate.New(0),
		backends:  map[string]*backendRT{},
		frontends: map[string]*frontendRT{},
		stopping:  make(chan struct{}),
		feLive:    map[string]*feLive{},
		events:    live.NewEventRing(o.Events),
		logs:      live.NewLogRing(o.LogEntries),
		hub:       live.NewHub(),
	}
	a.proc.started = time.Now()
	a.ctl = &control{a: a}
	a.mu.Lock()
	a.publishLocked() // Snapshot is never nil
	a.mu.Unlock()
	a.stats.Store(&state.Stats{Time: a.proc.started, Frontends: []state.FrontendStats{}, Backends: []state.BackendStats{}})
	eng, err := engine.New(engine.Options{Loops: o.Loops, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	a.eng = eng
	a.sweep = health.NewSweeper(0, nil)
	return a, nil
}

// Metrics returns the registry (tests, the admin API).
func (a *App) Metrics() *metrics.Registry { return a.reg }

// Ready reports whether every listener is open and a config is loaded.
func (a *App) Ready() bool { return a.ready.Load() }

// Start starts the engine and the admin listener and applies cfg. An error
// names the address and the cause (exit code 2 in cmd/sluice); on error
// everything started is stopped again.
func (a *App) Start(cfg *config.Config) error {
	if err := a.eng.Start(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	a.secrets(cfg.Admin.StateDir)
	ln, err := a.listen("admin", cfg.Admin.Listen)
	if err != nil {
		a.abortStart()
		return err
	}
	a.adminLn = ln
	a.admin = admin.New(admin.Options{Listener: ln, Ready: a.Ready,
		Metrics: a.reg.WritePrometheus, Pprof: cfg.Admin.Pprof, Logger: a.log,
		StateDir: cfg.Admin.StateDir, Settings: adminSettings(cfg), Control: a.Control()})
	// The web UI: static assets only (a client of the admin API, whose every
	// data route keeps its role); its login page needs no credential.
	a.admin.Handle("GET "+ui.Prefix, auth.RoleNone, ui.Handler())
	a.admin.Handle("GET /{$}", auth.RoleNone, http.RedirectHandler(ui.Prefix, http.StatusFound))
	if err := a.admin.Start(); err != nil {
		a.abortStart()
		return fmt.Errorf("admin: %w", err)
	}
	if err := a.startGRPC(cfg); err != nil {
		a.abortStart()
		return err
	}
	a.startAlerts(cfg)
	source := SourceStart
	if len(a.opts.Inherited) > 0 {
		source = SourceUpgrade
	}
	a.mu.Lock()
	changes, err := a.applyLocked(cfg, false)
	if err == nil && a.opts.ConfigFile != "" {
		if lt, lerr := loadFile(a.opts.ConfigFile, a.opts.StateDir, a.opts.Overrides); lerr == nil {
			a.setFileLocked(lt)
		}
	}
	a.recordLocked(source, changes, err, nil)
	a.mu.Unlock()
	if err != nil {
		a.abortStart()
		return err
	}
	for addr, ln := range a.opts.Inherited { // not named by the configuration
		a.log.Warn("closing an inherited listener the configuration does not name", "listen", addr)
		_ = ln.Close()
	}
	a.opts.Inherited = nil
	a.bg.Add(3)
	go a.tickLoop()
	go a.sampler()
	go a.dnsLoop()
	a.alerts.Run(a.ctl.Stats)
	a.ready.Store(true)
	a.logSummary()
	return nil
}

func (a *App) abortStart() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if a.admin != nil {
		_ = a.admin.Shutdown(ctx)
	}
	a.stopGRPC(ctx)
	if a.alerts != nil {
		a.alerts.Stop(0)
	}
	_ = a.eng.Stop(ctx)
	_ = a.sweep.Stop()
}

// Reload is ReloadFrom(path, SourceSignal).
func (a *App) Reload(path string) error { return a.ReloadFrom(path, SourceSignal) }

// ReloadFrom loads, validates and resolves the file at path (with the
// state_dir overlay and Options.Overrides applied) and applies it; source (SourceSignal,
// SourceWatch, SourceAPI, SourceGRPC) is recorded in the Snapshot's LastReload and the
// reload event. A --watch reload of content the App wrote itself (a change
// written back) does nothing. On any error the running configuration
// stays and each problem is logged (FILE:LINE:COL: message). It counts
// sluice_config_reloads_total.
func (a *App) ReloadFrom(path, source string) error {
	_, err := a.reload(path, source, nil)
	return err
}

// reload is ReloadFrom for the change path too (actor: who asked).
func (a *App) reload(path, source string, actor *state.Actor) (state.Result, error) {
	var lt *loaded
	var err error
	// The file is read and resolved without the apply lock (DNS may take
	// seconds). If it changed meanwhile (an API change wrote it), what was
	// read is stale: read it again rather than undo the change. Under the
	// lock no change can write it.
	for try := 0; ; try++ {
		lt, err = loadFile(path, a.opts.StateDir, a.opts.Overrides)
		if err == nil && source == SourceWatch {
			if fm := a.fileSum.Load(); fm != nil && sha256.Sum256(lt.file) == fm.sum {
				a.log.Debug("configuration file holds what is running: not reloading", "file", path)
				return state.Result{}, nil
			}
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = lt.cfg.Resolve(ctx)
			cancel()
		}
		a.mu.Lock()
		if lt == nil {
			break // a.mu stays held
		}
		if now, rerr := fileSum(path); rerr != nil || bytes.Equal(now, sha256Of(lt.file)) {
			break
		}
		if try == 2 { // changes keep coming: read it with the lock held
			if lt, err = loadFile(path, a.opts.StateDir, a.opts.Overrides); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = lt.cfg.Resolve(ctx)
				cancel()
			}
			break
		}
		a.mu.Unlock()
	}
	var res state.Result
	if err == nil && a.stopped {
		err = errShuttingDown
	}
	var changes string
	if err == nil {
		old := a.cfg
		res.Changes = diffLines(old, lt.cfg)
		if changes, err = a.applyLocked(lt.cfg, true); err == nil {
			a.setFileLocked(lt)
			a.operatorEvents(old, lt.cfg, actor)
			if lt.trimmed {
				if serr := a.saveOverlay(lt.stateDir); serr != nil {
					lt.warnings = append(lt.warnings, serr.Error())
				}
			}
			res.Applied, res.Checksum, res.Warnings = true, lt.cfg.Checksum(), lt.warnings
		}
	}
	a.recordLocked(source, changes, err, actor)
	a.mu.Unlock()
	if lt != nil {
		for _, w := range lt.warnings {
			a.log.Warn("configuration overlay", "file", path, "warning", w)
		}
	}
	if err == nil {
		a.reg.ConfigReloaded(true)
		a.log.Info("configuration reloaded", "file", path, "source", source, "checksum", lt.cfg.Checksum(), "changes", changes)
		return res, nil
	}
	a.reg.ConfigReloaded(false)
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			a.log.Error("reload rejected", "error", e.Error())
		}
	} else {
		a.log.Error("reload rejected", "file", path, "error", err.Error())
	}
	a.log.Warn("keeping the running configuration", "file", path)
	return state.Result{}, err
}

// LoadConfig reads, validates and resolves (DNS, bounded by 10 s) the
// configuration file at path, with the overrides (flags, environment)
// applied before validation and the changes kept in the state_dir overlay
// applied: what start-up and every reload run. A validation failure is
// config.Errors, one FILE:LINE:COL error each (an error about an override
// names the flag or variable instead).
func LoadConfig(path string, ovs ...config.Override) (*config.Config, error) {
	lt, err := loadFile(path, "", ovs)
	if err != nil {
		return nil, err
	}
	cfg := lt.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cfg.Resolve(ctx); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Apply makes cfg (loaded, validated and resolved) the running
// configuration and returns a one-line summary of the changes. It binds new
// listeners and builds every new object first; if any of that fails nothing
// changes. It is recorded as a reload from SourceAPI.
func (a *App) Apply(cfg *config.Config) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	changes, err := a.applyLocked(cfg, true)
	a.recordLocked(SourceAPI, changes, err, nil)
	return changes, err
}

// applyLocked is Apply with a.mu held; the caller records the outcome
// (recordLocked), which also publishes the new Snapshot.
func (a *App) applyLocked(cfg *config.Config, reload bool) (string, error) {
	if a.stopped {
		return "", errors.New("shutting down")
	}
	if err := a.checkReresolved(cfg); err != nil {
		return "", err
	}
	if a.cfg != nil && cfg.Admin.Listen != a.cfg.Admin.Listen {
		a.log.Warn("admin.listen changed: it takes effect at the next restart", "listen", a.cfg.Admin.Listen, "new", cfg.Admin.Listen)
	}
	if a.cfg != nil && cfg.Admin.GRPCListen != a.grpcAddr {
		a.log.Warn("admin.grpc_listen changed: it takes effect at the next restart", "listen", a.grpcAddr, "new", cfg.Admin.GRPCListen)
	}
	if a.cfg != nil && cfg.Admin.StateDir != a.cfg.Admin.StateDir {
		a.log.Warn("admin.state_dir changed: it takes effect at the next restart", "state_dir", a.cfg.Admin.StateDir, "new", cfg.Admin.StateDir)
	}
	if a.cfg != nil && cfg.Admin.Pprof != a.cfg.Admin.Pprof {
		a.log.Warn("admin.pprof changed: it takes effect at the next restart")
	}
	pl, err := a.plan(cfg, reload)
	if err != nil {
		return "", err
	}
	changes := a.commit(pl)
	a.generation++
	a.warnTLS(cfg)
	return changes, nil
}

// recordLocked records the outcome of an attempt to change the
// configuration: LastReload, a reload event (actor, when an API change),
// and a new Snapshot. Called with a.mu held.
func (a *App) recordLocked(source, changes string, err error, actor *state.Actor) {
	r := state.Reload{Time: time.Now(), Source: source, Result: "success", Changes: changes}
	e := state.Event{Type: state.EventReload, Severity: "info", Source: source}
	if actor != nil {
		e.Type, e.Actor = state.EventConfig, actorName(actor)
	}
	if err != nil {
		r.Result, r.Changes, r.Error = "failure", "", firstError(err)
		e.Severity, e.Reason = "error", err.Error()
		e.Message = "configuration change from " + source + " refused: " + r.Error
	} else {
		e.Reason = changes
		e.Message = "configuration applied (" + source + "): " + changes
	}
	a.lastReload = r
	a.publishLocked()
	a.addEvent(e)
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// firstError is the first line of err (config.Errors: the first problem).
func firstError(err error) string {
	var errs config.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		return errs[0].Error()
	}
	return err.Error()
}

// accessWriter returns the test writer for stdout/stderr destinations.
func (a *App) accessWriter(dest string) io.Writer {
	if a.opts.AccessLogWriter != nil && (dest == "stdout" || dest == "stderr") {
		return a.opts.AccessLogWriter
	}
	return nil
}

// ReopenLogs reopens a file access log (SIGUSR1, for logrotate).
func (a *App) ReopenLogs() {
	a.mu.Lock()
	l := a.alog
	a.mu.Unlock()
	if err := l.Reopen(); err != nil {
		a.log.Error("access log not reopened", "error", err.Error())
		return
	}
	a.log.Info("access log reopened")
}

// tickLoop advances slow start and rotates TLS session ticket keys.
func (a *App) tickLoop() {
	defer a.bg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	nextRotate := time.Now().Add(time.Minute)
	for {
		select {
		case <-a.stopping:
			return
		case now := <-t.C:
			for _, b := range *a.bals.Load() {
				b.Tick(now)
			}
			if now.After(nextRotate) {
				nextRotate = now.Add(time.Minute)
				if _, err := a.tickets.Rotate(now); err != nil {
					a.log.Warn("tls session ticket keys not saved", "error", err.Error())
				}
			}
		}
	}
}

// Shutdown stops gracefully: /readyz turns 503 at once, listeners close,
// in-flight requests and TCP sessions may finish until ctx is done, then
// the rest are closed. It returns nil when everything finished in time.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	a.ready.Store(false)
	if a.admin != nil {
		a.admin.BeginShutdown()
	}
	fes := a.frontends
	a.mu.Unlock()
	// Alerts stop first: their state is saved and the state lock released,
	// so the process of a binary upgrade takes over at once.
	if a.alerts != nil {
		a.alerts.Stop(time.Second)
	}
	a.log.Info("shutting down", "tcp_sessions", a.eng.Sessions())
	var wg sync.WaitGroup
	for _, rt := range fes {
		wg.Add(1)
		go func(rt *frontendRT) { defer wg.Done(); rt.stop(ctx) }(rt)
	}
	wg.Wait()
	var err error
	t := time.NewTicker(10 * time.Millisecond)
	for a.eng.Sessions() > 0 && err == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
		}
	}
	t.Stop()
	if n := a.eng.Sessions(); n > 0 {
		a.log.Warn("shutdown timeout: closing sessions", "tcp_sessions", n)
	}
	close(a.stopping)
	a.hub.CloseAll()
	a.mu.Lock()
	if a.store != nil {
		a.store.stop()
	}
	a.mu.Unlock()
	hard, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.eng.AbortAll(hard)
	_ = a.eng.Stop(hard)
	a.drains.Wait()
	a.bg.Wait()
	for _, b := range a.backends {
		if b.checker != nil {
			_ = b.checker.Stop()
		}
	}
	_ = a.sweep.Stop()
	a.stopGRPC(hard)
	if a.admin != nil {
		_ = a.admin.Shutdown(hard)
	}
	if a.alog != nil {
		_ = a.alog.Close()
	}
	a.log.Info("stopped")
	return err
}

// logSummary writes one start-up line per frontend and backend.
func (a *App) logSummary() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.cfg.Frontends {
		a.log.Info("frontend", "name", f.Name, "mode", f.Mode, "listen", f.Listen, "backend", f.Backend, "routes", len(f.Routes))
	}
	for _, b := range a.cfg.Backends {
		addrs := make([]string, len(b.Servers))
		for i, s := range b.Servers {
			addrs[i] = s.Address
		}
		a.log.Info("backend", "name", b.Name, "algorithm", b.Algorithm, "servers", strings.Join(addrs, ","), "health", b.Health.Active.Type)
	}
	a.log.Info("sluice started", "admin", a.cfg.Admin.Listen, "frontends", len(a.cfg.Frontends), "backends", len(a.cfg.Backends), "checksum", a.cfg.Checksum())
}

// changeLog collects what a reload changed for its one summary line.
type changeLog []string

func (c *changeLog) add(format string, args ...any) { *c = append(*c, fmt.Sprintf(format, args...)) }

func (c *changeLog) backend(p *backendPlan) {
	if p.old == nil {
		c.add("backend %s added", p.cfg.Name)
		return
	}
	for _, s := range p.added {
		c.add("server %s/%s added", p.cfg.Name, s.Addr())
	}
	for _, s := range p.removed {
		c.add("server %s/%s removed", p.cfg.Name, labelOf(s))
	}
	for i, s := range p.servers {
		if s.Weight() != p.weights[i] {
			c.add("server %s/%s weight %d→%d", p.cfg.Name, labelOf(s), s.Weight(), p.weights[i])
		}
	}
	if p.old.cfg.Algorithm != p.cfg.Algorithm {
		c.add("backend %s algorithm %s", p.cfg.Name, p.cfg.Algorithm)
	}
}

func (c changeLog) String() string {
	if len(c) == 0 {
		return "none"
	}
	sort.Strings(c)
	return strings.Join(c, "; ")
}

// listen returns the inherited listener for addr, or binds it (SO_REUSEADDR
// and SO_REUSEPORT). The error names what and the address, and the cause.
func (a *App) listen(what, addr string) (*net.TCPListener, error) {
	if ln := a.opts.Inherited[addr]; ln != nil {
		delete(a.opts.Inherited, addr)
		return ln, nil
	}
	ln, err := engine.Listen(addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("%s: cannot listen on %s: %w", what, addr, err)
	}
	return ln, nil
}

// ListenerFiles returns duplicates of every listening socket (frontends and
// admin) with the address each was configured with, for handing them to a
// new sluice process (binary upgrade); the sockets stay non-blocking
// (engine.ListenerFile). The caller closes the files.
func (a *App) ListenerFiles() (addrs []string, files []*os.File, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	add := func(addr string, ln *net.TCPListener) {
		if err != nil || ln == nil {
			return
		}
		var f *os.File
		if f, err = engine.ListenerFile(ln); err == nil {
			addrs, files = append(addrs, addr), append(files, f)
		}
	}
	add(a.cfg.Admin.Listen, a.adminLn)
	add(a.grpcAddr, a.grpcLn)
	for _, rt := range a.frontends {
		add(rt.cfg.Listen, rt.ln)
		if rt.tls != nil && rt.tls.redirect != nil {
			add(rt.tls.redirect.addr, rt.tls.redirect.ln)
		}
	}
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, err
	}
	return addrs, files, nil
}
