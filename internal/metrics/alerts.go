package metrics

import (
	"sort"

	vm "github.com/VictoriaMetrics/metrics"
)

// Alert series names (contract §8 names the first).
const (
	NameAlertsFiring       = "sluice_alerts_firing"
	NameAlertNotifications = "sluice_alert_notifications_total"
)

// Results of one alert notification (a webhook POST with its retries):
// sluice_alert_notifications_total{result}.
const (
	NotifySent    = "sent"    // a 2xx answer
	NotifyFailed  = "failed"  // every try failed (error, timeout or non-2xx)
	NotifyDropped = "dropped" // the webhook's queue was full
)

// alertSeries are the alert series of a Registry (guarded by r.mu).
type alertSeries struct {
	firing *vm.Set
	notify map[string]*Counter
}

// AlertRules replaces the sluice_alerts_firing{alert} series with one per
// name (1 while firing, 0 otherwise), read from firing(name) at scrape
// time. Called when the rules change (start, reload, API).
func (r *Registry) AlertRules(names []string, firing func(name string) bool) {
	set := vm.NewSet()
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, n := range sorted {
		set.NewGauge(seriesName(NameAlertsFiring, "alert", n), func() float64 { return b2f(firing(n)) })
	}
	r.mu.Lock()
	old := r.alerts.firing
	r.alerts.firing = set
	r.mu.Unlock()
	if old != nil {
		old.UnregisterAllMetrics()
	}
}

// AlertNotification counts one notification by result (NotifySent,
// NotifyFailed, NotifyDropped). Safe for concurrent use.
func (r *Registry) AlertNotification(result string) {
	r.mu.Lock()
	if r.alerts.notify == nil {
		r.alerts.notify = map[string]*Counter{}
	}
	c := r.alerts.notify[result]
	if c == nil {
		c = r.process.NewCounter(seriesName(NameAlertNotifications, "result", result))
		r.alerts.notify[result] = c
	}
	r.mu.Unlock()
	c.Inc()
}
