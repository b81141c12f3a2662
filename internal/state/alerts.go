package state

import "time"

// AlertRule is one alert rule as the API reads and writes it: the
// configuration's alerts[] entry (contract §8), thresholds as written.
type AlertRule struct {
	Name string `json:"name"`
	// When is server_down | latency_p99 | error_rate | rate_limited | resource.
	When string `json:"when"`
	// Resource is rss | fds | cpu | connections (when: resource only).
	Resource string     `json:"resource,omitempty"`
	Scope    AlertScope `json:"scope"`
	// Threshold and ResolveBelow as written: "250ms", "0.05", "5%", "10",
	// "512MiB". ResolveBelow "" = Threshold.
	Threshold    string `json:"threshold"`
	ResolveBelow string `json:"resolve_below,omitempty"`
	// For is a duration ("1m"); "" = 0.
	For    string        `json:"for,omitempty"`
	Notify []AlertNotify `json:"notify,omitempty"`
}

// AlertScope is what a rule watches; all empty = the process.
type AlertScope struct {
	Frontend string `json:"frontend,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Server   string `json:"server,omitempty"` // an address of Backend
}

// AlertNotify is one notification target of a rule.
type AlertNotify struct {
	Webhook string `json:"webhook"`
	Timeout string `json:"timeout,omitempty"` // default 5s
	Retries *int   `json:"retries,omitempty"` // default 3
}

// Alert states (AlertStatus.State; Event.State of alert events is
// AlertFiring or AlertResolved).
const (
	AlertOK       = "ok"
	AlertPending  = "pending" // at or above the threshold, not yet for long enough
	AlertFiring   = "firing"
	AlertResolved = "resolved" // events only: a firing alert went back below resolve_below
)

// AlertStatus is a rule with its current state (GET /api/v1/alerts).
type AlertStatus struct {
	AlertRule
	State string    `json:"state"`           // ok | pending | firing
	Since time.Time `json:"since,omitzero"`  // when State began
	Value float64   `json:"value"`           // at the last evaluation, in the kind's base unit (ms, fraction, count, bytes)
	Text  string    `json:"value_text"`      // Value as written in a threshold: "312ms", "0.071", "3", "1.2GiB"
	Fired time.Time `json:"fired,omitzero"`  // when it last fired
	Error string    `json:"error,omitempty"` // why it cannot be evaluated (its scope has no data)
}

// AlertReader is implemented by a Control that evaluates alert rules
// (internal/app's): the API and the gRPC service type-assert it and answer
// "not available" without it.
type AlertReader interface {
	Alerts() []AlertStatus
}

// HistoryReader is implemented by a Control that keeps each server's
// health history: the last transitions (at most 100, oldest first) of the
// server at address of backend; nil when there is no such server.
type HistoryReader interface {
	History(backend, address string) []HealthTransition
}
