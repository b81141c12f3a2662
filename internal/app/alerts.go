package app

import (
	"encoding/json"
	"time"

	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/alert"
	"github.com/sluicelb/sluice/internal/confedit"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/state"
)

// alertPoll is how often the alert engine looks for a new Stats sample
// (each sample, once a second, is evaluated once).
const alertPoll = 200 * time.Millisecond

// startAlerts creates the alert engine (state in admin.state_dir) before
// the first apply gives it its rules. Called from Start.
func (a *App) startAlerts(cfg *config.Config) {
	a.alerts = alert.New(alert.Options{Logger: a.log.With("component", "alerts"), Emit: a.addEvent,
		StateDir: cfg.Admin.StateDir, Notified: a.reg.AlertNotification, Period: min(alertPoll, a.sampleEvery()/2)})
}

// setAlertRules gives the engine the rules of cfg (at every apply) and
// exports sluice_alerts_firing{alert} for each.
func (a *App) setAlertRules(cfg *config.Config) {
	if a.alerts == nil {
		return
	}
	rules := alertRules(cfg)
	names := make([]string, len(rules))
	for i := range rules {
		names[i] = rules[i].Name()
	}
	a.alerts.SetRules(rules)
	a.reg.AlertRules(names, a.alerts.Firing)
}

// alertRules translates the configuration's alerts (validated, with the
// thresholds parsed by the configuration's kind table).
func alertRules(cfg *config.Config) []alert.Rule {
	out := make([]alert.Rule, 0, len(cfg.Alerts))
	for i := range cfg.Alerts {
		c := &cfg.Alerts[i]
		k := config.AlertKinds[c.KindKey()]
		r := alert.Rule{View: alertView(c), Kind: c.KindKey(), Unit: k.Unit, Threshold: c.ThresholdValue,
			Resolve: c.ResolveValue, For: c.For}
		for _, n := range c.Notify {
			r.Webhooks = append(r.Webhooks, alert.Webhook{URL: n.Webhook, Timeout: n.Timeout, Retries: n.Retries})
		}
		out = append(out, r)
	}
	return out
}

// alertView is a rule as the API shows it.
func alertView(c *config.Alert) state.AlertRule {
	v := state.AlertRule{Name: c.Name, When: c.When, Resource: c.Resource, Threshold: c.Threshold,
		ResolveBelow: c.ResolveBelow, Scope: state.AlertScope{Frontend: c.Scope.Frontend, Backend: c.Scope.Backend, Server: c.Scope.Server}}
	if c.For > 0 {
		v.For = health.FormatDuration(c.For)
	}
	for _, n := range c.Notify {
		an := state.AlertNotify{Webhook: n.Webhook}
		if n.Timeout != config.DefaultAlertWebhookTimout {
			an.Timeout = health.FormatDuration(n.Timeout)
		}
		if n.Retries != config.DefaultAlertRetries {
			r := n.Retries
			an.Retries = &r
		}
		v.Notify = append(v.Notify, an)
	}
	return v
}

// Alerts is state.AlertReader: every rule with its state.
func (c *control) Alerts() []state.AlertStatus {
	if c.a.alerts == nil {
		return []state.AlertStatus{}
	}
	return c.a.alerts.Status()
}

// alertEdits turns an alert change into text edits of the alerts list.
func alertEdits(c state.Change) ([]confedit.Edit, error) {
	if c.Alert == nil || c.Alert.Name == "" {
		return nil, invalidf("an alert change needs the rule's name")
	}
	path := "alerts[name=" + c.Alert.Name + "]"
	if c.Op == state.OpRemoveAlert {
		return []confedit.Edit{{Op: confedit.OpRemove, Path: path}}, nil
	}
	v, err := json.Marshal(alertYAML(c.Alert))
	if err != nil {
		return nil, invalidf("alert %s: %v", c.Alert.Name, err)
	}
	if c.Op == state.OpAddAlert {
		return []confedit.Edit{{Op: confedit.OpAppend, Path: "alerts", Value: v, Unique: "name"}}, nil
	}
	return []confedit.Edit{{Op: confedit.OpSet, Path: path, Value: v}}, nil
}

// alertYAML is the mapping written for a rule: only the keys given, in
// the documented order (confedit keeps a JSON object's key order).
type alertYAMLRule struct {
	Name         string            `json:"name"`
	When         string            `json:"when"`
	Resource     string            `json:"resource,omitempty"`
	Scope        *state.AlertScope `json:"scope,omitempty"`
	Threshold    string            `json:"threshold,omitempty"`
	ResolveBelow string            `json:"resolve_below,omitempty"`
	For          string            `json:"for,omitempty"`
	Notify       []alertYAMLNotify `json:"notify,omitempty"`
}

type alertYAMLNotify struct {
	Webhook string `json:"webhook"`
	Timeout string `json:"timeout,omitempty"`
	Retries *int   `json:"retries,omitempty"`
}

func alertYAML(r *state.AlertRule) alertYAMLRule {
	m := alertYAMLRule{Name: r.Name, When: r.When, Resource: r.Resource, Threshold: r.Threshold,
		ResolveBelow: r.ResolveBelow, For: r.For}
	if r.Scope != (state.AlertScope{}) {
		sc := r.Scope
		m.Scope = &sc
	}
	for _, n := range r.Notify {
		m.Notify = append(m.Notify, alertYAMLNotify(n))
	}
	return m
}
