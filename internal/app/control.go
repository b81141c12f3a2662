package app

import (
	"context"
	"errors"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/live"
	"github.com/sluicelb/sluice/internal/state"
)

// control implements state.Control over an App: what the admin API, the
// stream, alerts and the gRPC service read and change. Readers load
// atomically published values and never take the apply lock; Change
// serialises on it.
type control struct{ a *App }

var _ state.Control = (*control)(nil)

// Control returns the App's state.Control. It is valid from New on
// (Snapshot and Stats are empty until Start).
func (a *App) Control() state.Control { return a.ctl }

// Snapshot returns the running configuration as published by the last apply.
func (c *control) Snapshot() *state.Snapshot { return c.a.pub.Load().snap }

// Stats returns the latest once-a-second sample.
func (c *control) Stats() *state.Stats { return c.a.stats.Load() }

// Events returns up to limit events with ID > after, oldest first.
func (c *control) Events(after uint64, limit int) []state.Event { return c.a.events.List(after, limit) }

// Logs returns the newest access-log entries matching f (none when f does
// not Validate: the API checks it first and answers 400).
func (c *control) Logs(f state.LogFilter) []state.LogEntry {
	m, err := live.CompileLogFilter(f, c.a.logs.Len())
	if err != nil {
		return []state.LogEntry{}
	}
	out := c.a.logs.Query(m)
	if out == nil {
		out = []state.LogEntry{}
	}
	return out
}

// Subscribe registers a live consumer; see state.Subscription. A buffer
// of at least 128 items rides out a burst of log lines (up to 100 every
// 50ms are handed out).
func (c *control) Subscribe(buffer int) *state.Subscription { return c.a.hub.Subscribe(buffer) }

// Validate parses and validates text as a reload would, without binding or
// resolving anything, and returns every error (nil when valid).
func (c *control) Validate(text []byte) []state.ConfigError {
	_, err := config.ParseWith(c.a.configName(), text, c.a.opts.Overrides)
	return configErrors(err)
}

// Explain answers from the running objects, read-only ((*App).Explain).
func (c *control) Explain(q state.ExplainQuery) (state.Explanation, error) { return c.a.Explain(q) }

// Change applies one change through the single change path.
func (c *control) Change(ctx context.Context, ch state.Change) (state.Result, error) {
	return c.a.change(ctx, ch)
}

// configName is the file name used in messages about configuration texts.
func (a *App) configName() string {
	if a.opts.ConfigFile != "" {
		return a.opts.ConfigFile
	}
	return "config"
}

// configErrors converts a parse or validation error to the API's form.
func configErrors(err error) []state.ConfigError {
	if err == nil {
		return nil
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		return []state.ConfigError{{Message: err.Error()}}
	}
	out := make([]state.ConfigError, 0, len(errs))
	for _, e := range errs {
		out = append(out, state.ConfigError{File: e.File, Line: e.Line, Col: e.Col, Message: e.Msg})
	}
	return out
}

// changeSource is the reload source a change is recorded with (events,
// Snapshot.LastReload): SourceGRPC for one that came over the gRPC control
// service (Actor.Via "grpc"), SourceAPI for the REST API and the UI.
func changeSource(ac *state.Actor) string {
	if ac != nil && ac.Via == SourceGRPC {
		return SourceGRPC
	}
	return SourceAPI
}

// actorName renders who changed something for events and logs.
func actorName(ac *state.Actor) string {
	switch {
	case ac == nil:
		return ""
	case ac.Name != "" && ac.Via != "":
		return ac.Name + " (" + ac.Via + ")"
	case ac.Name != "":
		return ac.Name
	}
	return ac.Via
}
