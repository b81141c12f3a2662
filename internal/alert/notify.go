package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// Notification results (the values internal/metrics counts).
const (
	resultSent    = "sent"
	resultFailed  = "failed"
	resultDropped = "dropped"
)

// notice is one firing or resolving to deliver: an event, a log line and a
// POST to each webhook of the rule.
type notice struct {
	ev    state.Event
	body  []byte
	hooks []Webhook
}

// Payload is the JSON body a webhook receives (one per firing, one per
// resolving).
type Payload struct {
	Alert     string           `json:"alert"`
	State     string           `json:"state"` // firing | resolved
	When      string           `json:"when"`
	Resource  string           `json:"resource,omitempty"`
	Scope     state.AlertScope `json:"scope"`
	Value     float64          `json:"value"`
	ValueText string           `json:"value_text"`
	Threshold string           `json:"threshold"`
	Resolve   string           `json:"resolve_below,omitempty"`
	For       string           `json:"for,omitempty"`
	Since     time.Time        `json:"since"` // when it started firing (resolved: when it had fired)
	Time      time.Time        `json:"time"`
	Message   string           `json:"message"`
	Instance  string           `json:"instance,omitempty"`
}

// noticeLocked builds the notice of rs entering st (firing or resolved)
// at now; why, if set, replaces the value as the reason. Called with e.mu
// held.
func (e *Engine) noticeLocked(rs *ruleState, st string, now time.Time, why string) notice {
	r := &rs.r
	v := r.View
	what := v.When
	if v.Resource != "" {
		what += " " + v.Resource
	}
	val := Text(r.Unit, rs.value)
	var msg, reason string
	switch {
	case why != "":
		reason = why
	case st == state.AlertFiring:
		reason = what + " of " + scopeText(v.Scope) + " is " + val + " (threshold " + v.Threshold
		if r.For > 0 {
			reason += ", for " + v.For
		}
		reason += ")"
	default:
		below := v.ResolveBelow
		if below == "" {
			below = v.Threshold
		}
		reason = what + " of " + scopeText(v.Scope) + " is " + val + " (below " + below + ")"
	}
	msg = "alert " + v.Name + " " + st + ": " + reason
	ev := state.Event{Time: now, Type: state.EventAlert, Severity: "info", Message: msg, Reason: reason,
		Frontend: v.Scope.Frontend, Backend: v.Scope.Backend, Server: v.Scope.Server, Alert: v.Name, State: st}
	if st == state.AlertFiring {
		ev.Severity = "warn"
	}
	since := rs.fired
	if since.IsZero() {
		since = rs.since
	}
	body, _ := json.Marshal(Payload{Alert: v.Name, State: st, When: v.When, Resource: v.Resource, Scope: v.Scope,
		Value: rs.value, ValueText: val, Threshold: v.Threshold, Resolve: v.ResolveBelow, For: v.For,
		Since: since, Time: now, Message: msg, Instance: e.o.Instance})
	return notice{ev: ev, body: body, hooks: r.Webhooks}
}

// deliver logs, records and queues each notice; it never blocks.
func (e *Engine) deliver(ns []notice) {
	for _, n := range ns {
		if n.ev.State == state.AlertFiring {
			e.o.Logger.Warn("alert firing", "alert", n.ev.Alert, "reason", n.ev.Reason)
		} else {
			e.o.Logger.Info("alert resolved", "alert", n.ev.Alert, "reason", n.ev.Reason)
		}
		if e.o.Emit != nil {
			e.o.Emit(n.ev)
		}
		e.mu.Lock()
		for _, w := range n.hooks {
			h := e.hooks[w.URL]
			if h == nil {
				continue // stopped
			}
			select {
			case h.ch <- job{w: w, body: n.body, alert: n.ev.Alert, state: n.ev.State}:
			default:
				e.o.Logger.Warn("alert webhook queue full: notification dropped", "alert", n.ev.Alert, "webhook", w.URL)
				e.count(resultDropped)
			}
		}
		e.mu.Unlock()
	}
}

// hook is one webhook URL's queue and its goroutine.
type hook struct {
	url string
	ch  chan job
}

type job struct {
	w            Webhook
	body         []byte
	alert, state string
}

// syncHooksLocked starts a goroutine per webhook URL of the current rules
// (and of the pending notices ns), and closes the queues of URLs no
// longer used (their goroutine drains what was queued). Called with e.mu
// held.
func (e *Engine) syncHooksLocked(ns []notice) {
	if e.stopped {
		return
	}
	want := map[string]bool{}
	for _, rs := range e.rules {
		for _, w := range rs.r.Webhooks {
			want[w.URL] = true
		}
	}
	for _, n := range ns {
		for _, w := range n.hooks {
			want[w.URL] = true // notified once more, then closed at the next change
		}
	}
	for url, h := range e.hooks {
		if !want[url] {
			close(h.ch)
			delete(e.hooks, url)
		}
	}
	for url := range want {
		if e.hooks[url] == nil {
			h := &hook{url: url, ch: make(chan job, e.o.QueueSize)}
			e.hooks[url] = h
			e.hookWG.Add(1)
			go e.post(h)
		}
	}
}

// post delivers h's queue in order, each with its retries.
func (e *Engine) post(h *hook) {
	defer e.hookWG.Done()
	for j := range h.ch {
		e.send(j)
	}
}

// send POSTs one notification, retrying with backoff; it gives up when
// the Engine stops.
func (e *Engine) send(j job) {
	tries := 1 + max(j.w.Retries, 0)
	wait := e.o.Backoff
	var lastErr string
	for try := 0; try < tries; try++ {
		if try > 0 {
			t := time.NewTimer(wait)
			select {
			case <-e.ctx.Done():
				t.Stop()
				e.count(resultFailed)
				return
			case <-t.C:
			}
			wait = min(wait*2, MaxBackoff)
		}
		if lastErr = e.postOnce(j); lastErr == "" {
			e.count(resultSent)
			return
		}
		if e.ctx.Err() != nil {
			break
		}
	}
	e.o.Logger.Warn("alert webhook failed", "alert", j.alert, "state", j.state, "webhook", j.w.URL,
		"tries", tries, "error", lastErr)
	e.count(resultFailed)
}

// postOnce makes one POST and returns "" on a 2xx answer, else why not.
func (e *Engine) postOnce(j job) string {
	timeout := j.w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.w.URL, bytes.NewReader(j.body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-alerts")
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "status " + resp.Status
	}
	return ""
}

func (e *Engine) count(result string) {
	if e.o.Notified != nil {
		e.o.Notified(result)
	}
}
