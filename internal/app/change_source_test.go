package app

import (
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/state"
)

// TestChangeSourceNamesTheChannel: a change that came over the gRPC control
// service (Actor.Via "grpc", as internal/admin/grpcapi sets it) is recorded
// with source "grpc" in the config event, its message and the Snapshot's
// LastReload; one made through the REST API (a key or a session) keeps
// source "api". Both for a server change and for a reload.
func TestChangeSourceNamesTheChannel(t *testing.T) {
	r := chNewRig(t, false)
	addr := r.b[1].addr
	for _, c := range []struct {
		via, source string
		change      state.Change
	}{
		{"grpc", SourceGRPC, state.Change{Op: state.OpPatchServer, Backend: "app", Address: addr, Server: state.ServerSpec{Drain: ptr(true)}}},
		{"key", SourceAPI, state.Change{Op: state.OpPatchServer, Backend: "app", Address: addr, Server: state.ServerSpec{Drain: ptr(false)}}},
		{"session", SourceAPI, state.Change{Op: state.OpPatchServer, Backend: "app", Address: addr, Server: state.ServerSpec{Weight: ptr(3)}}},
		{"grpc", SourceGRPC, state.Change{Op: state.OpReload}},
		{"key", SourceAPI, state.Change{Op: state.OpReload}},
	} {
		ctl := r.app.Control()
		var last uint64
		if evs := ctl.Events(0, 0); len(evs) > 0 {
			last = evs[len(evs)-1].ID
		}
		c.change.Actor = state.Actor{Name: "ops", Role: "admin", Via: c.via, Remote: "127.0.0.1:5555"}
		r.mustChange(c.change)
		var got *state.Event
		for _, e := range ctl.Events(last, 0) {
			if e.Type == state.EventConfig {
				got = &e
			}
		}
		if got == nil {
			t.Fatalf("%s via %s: no config event after #%d: %+v", c.change.Op, c.via, last, ctl.Events(last, 0))
		}
		if got.Source != c.source || !strings.HasPrefix(got.Message, "configuration applied ("+c.source+")") || got.Actor != "ops ("+c.via+")" {
			t.Errorf("%s via %s: event source %q actor %q message %q, want source %q", c.change.Op, c.via, got.Source, got.Actor, got.Message, c.source)
		}
		if lr := ctl.Snapshot().LastReload; lr.Source != c.source {
			t.Errorf("%s via %s: last_reload.source %q, want %q", c.change.Op, c.via, lr.Source, c.source)
		}
	}
}
