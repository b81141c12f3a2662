package alert

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// Defaults of [Options].
const (
	DefaultPeriod    = time.Second
	DefaultTimeout   = 5 * time.Second
	DefaultBackoff   = time.Second
	MaxBackoff       = 30 * time.Second
	DefaultQueueSize = 64
)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	// Logger gets one Warn line per firing and one Info line per
	// resolving (and a Warn per failed notification). Nil discards.
	Logger *slog.Logger
	// Emit, if set, records an alert event (state.EventAlert) per firing
	// and per resolving. It must not block.
	Emit func(state.Event)
	// StateDir, when set, keeps the alert state in StateDir/alerts.json so
	// that it survives a restart and a binary upgrade, and makes the Engine
	// evaluate only while it holds StateDir/alerts.lock: during an upgrade
	// the new process takes over once the old one has stopped its Engine,
	// so no episode is notified twice. "" = state in memory only.
	StateDir string
	// Notified, if set, counts each notification's outcome
	// (metrics.NotifySent, NotifyFailed, NotifyDropped). Safe to call
	// from several goroutines.
	Notified func(result string)
	// Client posts the webhooks; default a client of its own.
	Client *http.Client
	// Period of Run's evaluations; default 1s.
	Period time.Duration
	// Backoff is the delay before the first retry of a failed webhook; it
	// doubles per retry up to MaxBackoff. Default 1s.
	Backoff time.Duration
	// QueueSize bounds each webhook URL's queue of notifications; one that
	// finds it full is dropped (and counted). Default 64.
	QueueSize int
	// Instance names this process in webhook bodies (default the host name).
	Instance string
}

// Engine evaluates alert rules against the live Stats once a second (off
// the data path: it reads the sample the API reads) and notifies firing
// and resolving through events, the process log and webhooks.
//
// Each rule is a small state machine over the samples' times:
//
//   - ok: a value at or above Threshold makes it pending (firing at once
//     when For is 0);
//   - pending: a value below Threshold makes it ok again, silently; once
//     it has been at or above Threshold for For, it fires;
//   - firing: a value below Resolve (resolve_below, default Threshold)
//     resolves it (back to ok).
//
// A sample in which the rule's scope has no data changes nothing. Webhooks
// are posted by one goroutine per URL from a bounded queue: a slow or
// hanging endpoint delays only its own notifications, never an evaluation
// or another endpoint. All methods are safe for concurrent use.
type Engine struct {
	o      Options
	ctx    context.Context // cancelled by Stop: in-flight POSTs and backoffs end
	cancel context.CancelFunc

	mu       sync.Mutex
	rules    []*ruleState
	prev     *state.Stats
	owner    bool     // evaluates (holds the lock, or no state dir)
	lock     *os.File // StateDir/alerts.lock while owner
	saved    map[string]savedState
	hooks    map[string]*hook
	running  bool
	stopped  bool
	stopRun  chan struct{}
	runDone  chan struct{}
	hookWG   sync.WaitGroup
	saveMu   sync.Mutex // serializes writes of alerts.json
	saveFail bool       // the last save failed (logged once)
}

// ruleState is one rule and its state.
type ruleState struct {
	r     Rule
	state string // state.AlertOK | AlertPending | AlertFiring
	since time.Time
	fired time.Time
	value float64
	seen  bool // value holds a sample
	err   string
}

// New returns an Engine with no rules. It does not start evaluating: call
// Run (or Evaluate).
func New(o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}}
	}
	if o.Period <= 0 {
		o.Period = DefaultPeriod
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Instance == "" {
		o.Instance, _ = os.Hostname()
	}
	e := &Engine{o: o, hooks: map[string]*hook{}, owner: o.StateDir == ""}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// SetRules makes rules the evaluated set (start, reload, API change). A
// rule whose name, kind and scope are unchanged keeps its state (a firing
// alert stays firing, a pending one keeps its start); a firing rule that
// is removed, or whose kind or scope changed, is resolved with a
// notification to its old webhooks ("the rule was removed" or "changed").
func (e *Engine) SetRules(rules []Rule) {
	e.mu.Lock()
	old := map[string]*ruleState{}
	for _, rs := range e.rules {
		old[rs.r.Name()] = rs
	}
	next := make([]*ruleState, 0, len(rules))
	for _, r := range rules {
		rs := &ruleState{r: r, state: state.AlertOK}
		if o := old[r.Name()]; o != nil && o.r.identity() == r.identity() {
			rs.state, rs.since, rs.fired, rs.value, rs.seen = o.state, o.since, o.fired, o.value, o.seen
			delete(old, r.Name())
		} else if sv, ok := e.saved[r.Name()]; ok && sv.Identity == r.identity() {
			rs.state, rs.since, rs.fired, rs.value, rs.seen = sv.State, sv.Since, sv.Fired, sv.Value, true
		}
		next = append(next, rs)
	}
	e.rules = next
	var out []notice
	now := time.Now()
	for _, o := range old {
		if o.state == state.AlertFiring {
			why := "the rule was removed"
			for _, r := range rules {
				if r.Name() == o.r.Name() {
					why = "the rule changed what it watches"
				}
			}
			out = append(out, e.noticeLocked(o, state.AlertResolved, now, why))
		}
	}
	e.syncHooksLocked(out)
	e.mu.Unlock()
	e.deliver(out)
	e.save()
}

// Firing reports whether the rule named name is firing (the
// sluice_alerts_firing gauge).
func (e *Engine) Firing(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rs := range e.rules {
		if rs.r.Name() == name {
			return rs.state == state.AlertFiring
		}
	}
	return false
}

// Status returns every rule with its state, in rule order.
func (e *Engine) Status() []state.AlertStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]state.AlertStatus, 0, len(e.rules))
	for _, rs := range e.rules {
		st := state.AlertStatus{AlertRule: rs.r.View, State: rs.state, Since: rs.since, Fired: rs.fired, Error: rs.err}
		if rs.seen {
			st.Value, st.Text = rs.value, Text(rs.r.Unit, rs.value)
		}
		out = append(out, st)
	}
	return out
}

// Evaluate runs every rule once against s (its Time is the evaluation's
// time; a sample not newer than the last one is ignored). It never
// blocks on a notification.
func (e *Engine) Evaluate(s *state.Stats) {
	if s == nil {
		return
	}
	e.mu.Lock()
	if e.prev != nil && !s.Time.After(e.prev.Time) {
		e.mu.Unlock()
		return
	}
	now, prev := s.Time, e.prev
	var out []notice
	for _, rs := range e.rules {
		v, ok, why := rs.r.value(s, prev)
		if !ok {
			rs.err = why
			continue
		}
		rs.err, rs.value, rs.seen = "", v, true
		switch rs.state {
		case state.AlertOK:
			if v >= rs.r.Threshold {
				rs.state, rs.since = state.AlertPending, now
				if rs.r.For <= 0 {
					out = append(out, e.fireLocked(rs, now))
				}
			}
		case state.AlertPending:
			switch {
			case v < rs.r.Threshold:
				rs.state, rs.since = state.AlertOK, now
			case now.Sub(rs.since) >= rs.r.For:
				out = append(out, e.fireLocked(rs, now))
			}
		case state.AlertFiring:
			if v < rs.r.Resolve {
				out = append(out, e.noticeLocked(rs, state.AlertResolved, now, ""))
				rs.state, rs.since = state.AlertOK, now
			}
		}
	}
	e.prev = s
	e.mu.Unlock()
	if len(out) > 0 {
		e.deliver(out)
		e.save()
	}
}

func (e *Engine) fireLocked(rs *ruleState, now time.Time) notice {
	rs.state, rs.since, rs.fired = state.AlertFiring, now, now
	return e.noticeLocked(rs, state.AlertFiring, now, "")
}

// Run evaluates stats() every Period until Stop. With a StateDir it
// evaluates only while it holds the state lock, taking it over (and the
// saved state with it) when the process that held it stops.
func (e *Engine) Run(stats func() *state.Stats) {
	e.mu.Lock()
	if e.running || e.stopped {
		e.mu.Unlock()
		return
	}
	e.running = true
	e.stopRun, e.runDone = make(chan struct{}), make(chan struct{})
	stop, done := e.stopRun, e.runDone
	e.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(e.o.Period)
		defer t.Stop()
		for {
			if e.own() {
				e.Evaluate(stats())
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends Run, saves the state, releases the state lock, and gives the
// webhook queues up to grace to drain (then abandons what is left). It is
// idempotent. Alerts are not resolved by a stop: their state is kept for
// the next process.
func (e *Engine) Stop(grace time.Duration) {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	stop, done := e.stopRun, e.runDone
	e.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	e.save()
	e.mu.Lock()
	if e.lock != nil {
		_ = e.lock.Close() // releases the flock
		e.lock = nil
	}
	for url, h := range e.hooks {
		close(h.ch)
		delete(e.hooks, url)
	}
	e.mu.Unlock()
	waited := make(chan struct{})
	go func() { e.hookWG.Wait(); close(waited) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-waited:
	case <-t.C:
	}
	e.cancel()
}
