// Package alert evaluates Sluice's alert rules (contract §8, the
// configuration's alerts list) and delivers their notifications.
//
// An [Engine] reads the same once-a-second state.Stats sample the admin
// API serves (never the data path), runs one small state machine per rule
// (ok → pending → firing → ok, with `for` and resolve_below hysteresis, see
// Engine), and reports each firing and each resolving as an event
// (state.EventAlert), a process-log line and a JSON POST to the rule's
// webhooks. Webhooks are posted by one goroutine per URL from a bounded
// queue, with a timeout and retries with backoff: a hanging endpoint
// delays only its own notifications. With a state directory the state is
// kept in alerts.json and guarded by a lock file, so that it survives a
// reload, a restart and a binary upgrade without notifying an episode
// twice.
//
// The package is a leaf: it imports internal/state and the standard
// library. internal/app builds the [Rule] values from the configuration
// (which owns the kinds, units and threshold parsing) and wires the
// metrics (sluice_alerts_firing{alert}, sluice_alert_notifications_total).
package alert
