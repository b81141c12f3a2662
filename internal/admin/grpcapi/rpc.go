package grpcapi

import (
	"context"
	"errors"
	"time"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
	"github.com/sluicelb/sluice/internal/state"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Status answers version, uptime, checksum, last reload and counts.
func (s *Server) Status(ctx context.Context, _ *sluicev1.StatusRequest) (*sluicev1.StatusResponse, error) {
	snap, st := s.o.Control.Snapshot(), s.o.Control.Stats()
	r := &sluicev1.StatusResponse{Version: snap.Version, Commit: snap.Commit, GoVersion: snap.GoVersion,
		StartedUnixMs: ms(snap.Started), UptimeSeconds: time.Since(snap.Started).Seconds(), ConfigFile: snap.ConfigFile,
		ConfigChecksum: snap.Checksum, Generation: snap.Generation, LastReload: reloadPB(snap.LastReload),
		Frontends: int32(len(snap.Frontends)), Backends: int32(len(snap.Backends))}
	if snap.Started.IsZero() {
		r.UptimeSeconds = 0
	}
	for _, b := range snap.Backends {
		r.Servers += int32(len(b.Servers))
	}
	if st != nil {
		for _, b := range st.Backends {
			for _, x := range b.Servers {
				if x.Health == state.HealthUp && !x.Removed {
					r.ServersUp++
				}
			}
		}
		r.Process = processPB(st.Process)
	}
	if ar, ok := s.o.Control.(state.AlertReader); ok {
		for _, a := range ar.Alerts() {
			if a.State == state.AlertFiring {
				r.AlertsFiring++
			}
		}
	}
	return r, nil
}

func reloadPB(r state.Reload) *sluicev1.Reload {
	return &sluicev1.Reload{TimeUnixMs: ms(r.Time), Result: r.Result, Source: r.Source, Error: r.Error, Changes: r.Changes}
}

func processPB(p state.ProcessStats) *sluicev1.Process {
	return &sluicev1.Process{UptimeSeconds: p.Uptime, RssBytes: p.RSSBytes, OpenFds: p.OpenFDs, CpuPercent: p.CPUPercent,
		ActiveConnections: p.ActiveConnections, Goroutines: int32(p.Goroutines)}
}

// ListFrontends answers the frontends with their live numbers.
func (s *Server) ListFrontends(ctx context.Context, _ *sluicev1.ListFrontendsRequest) (*sluicev1.ListFrontendsResponse, error) {
	snap, st := s.o.Control.Snapshot(), s.o.Control.Stats()
	out := &sluicev1.ListFrontendsResponse{}
	for _, f := range snap.Frontends {
		pf := &sluicev1.Frontend{Name: f.Name, Mode: f.Mode, Listen: f.Listen, Backend: f.Backend, Tls: f.TLS}
		if st != nil {
			for _, x := range st.Frontends {
				if x.Name == f.Name {
					pf.ActiveConnections, pf.RequestsPerSec, pf.ErrorRate = x.ActiveConnections, x.RequestsPerSec, x.ErrorRate
					pf.P50Ms, pf.P99Ms, pf.RequestsTotal = x.P50Ms, x.P99Ms, x.Requests
				}
			}
		}
		out.Frontends = append(out.Frontends, pf)
	}
	return out, nil
}

// backends merges the configured backends with their live state.
func (s *Server) backends(name string, history bool) []*sluicev1.Backend {
	snap, st := s.o.Control.Snapshot(), s.o.Control.Stats()
	hr, _ := s.o.Control.(state.HistoryReader)
	var out []*sluicev1.Backend
	for _, b := range snap.Backends {
		if name != "" && b.Name != name {
			continue
		}
		pb := &sluicev1.Backend{Name: b.Name, Algorithm: b.Algorithm, HealthCheck: b.HealthCheck}
		var live *state.BackendStats
		if st != nil {
			for i := range st.Backends {
				if st.Backends[i].Name == b.Name {
					live = &st.Backends[i]
				}
			}
		}
		if live != nil {
			pb.ActiveConnections, pb.RequestsPerSec, pb.ErrorRate = live.ActiveConnections, live.RequestsPerSec, live.ErrorRate
			pb.P50Ms, pb.P99Ms = live.P50Ms, live.P99Ms
		}
		seen := map[string]bool{}
		for _, c := range b.Servers {
			ps := &sluicev1.Server{Backend: b.Name, Address: c.Address, ConfiguredWeight: int32(c.Weight),
				Enabled: c.Enabled, Draining: c.Drain, Health: "unknown", Weight: int32(c.Weight)}
			if live != nil {
				for i := range live.Servers {
					if x := &live.Servers[i]; x.Address == c.Address {
						serverLive(ps, x)
						seen[x.Address] = true
					}
				}
			}
			if history && hr != nil {
				for _, h := range hr.History(b.Name, c.Address) {
					ps.History = append(ps.History, &sluicev1.Transition{TimeUnixMs: ms(h.Time), Source: h.Source, State: h.State, Reason: h.Reason})
				}
			}
			pb.Servers = append(pb.Servers, ps)
		}
		if live != nil { // removed by a reload, still draining
			for i := range live.Servers {
				if x := &live.Servers[i]; !seen[x.Address] {
					ps := &sluicev1.Server{Backend: b.Name, Address: x.Address}
					serverLive(ps, x)
					pb.Servers = append(pb.Servers, ps)
				}
			}
		}
		out = append(out, pb)
	}
	return out
}

func serverLive(ps *sluicev1.Server, x *state.ServerStats) {
	ps.Health, ps.ActiveUp, ps.PassiveUp, ps.Enabled = x.Health, x.ActiveUp, x.PassiveUp, x.Enabled
	ps.Draining, ps.Removed, ps.Weight, ps.ActiveConnections = x.Draining, x.Removed, int32(x.Weight), x.ActiveConnections
	ps.RequestsPerSec, ps.P50Ms, ps.P99Ms, ps.FailuresTotal = x.RequestsPerSec, x.P50Ms, x.P99Ms, x.Failures
	ps.Reason, ps.DampedUntilUnixMs, ps.UptimeRatio_1H = x.Reason, ms(x.DampedUntil), x.UpRatio
}

// ListBackends answers every backend with its servers.
func (s *Server) ListBackends(ctx context.Context, _ *sluicev1.ListBackendsRequest) (*sluicev1.ListBackendsResponse, error) {
	return &sluicev1.ListBackendsResponse{Backends: s.backends("", false)}, nil
}

// GetBackend answers one backend, with each server's health history.
func (s *Server) GetBackend(ctx context.Context, r *sluicev1.GetBackendRequest) (*sluicev1.Backend, error) {
	bs := s.backends(r.GetName(), true)
	if len(bs) == 0 || r.GetName() == "" {
		return nil, status.Errorf(codes.NotFound, "no backend %q", r.GetName())
	}
	return bs[0], nil
}

// ListServers answers the servers of one backend (or all), flat.
func (s *Server) ListServers(ctx context.Context, r *sluicev1.ListServersRequest) (*sluicev1.ListServersResponse, error) {
	bs := s.backends(r.GetBackend(), false)
	if r.GetBackend() != "" && len(bs) == 0 {
		return nil, status.Errorf(codes.NotFound, "no backend %q", r.GetBackend())
	}
	out := &sluicev1.ListServersResponse{}
	for _, b := range bs {
		out.Servers = append(out.Servers, b.Servers...)
	}
	return out, nil
}

// change runs one change through Control.Change and audits it (dry runs
// are not audited, as over REST).
func (s *Server) change(ctx context.Context, action, target string, req map[string]any, c state.Change) (*sluicev1.ChangeResponse, error) {
	c.Actor = actorOf(ctx)
	res, err := s.o.Control.Change(ctx, c)
	if s.o.Auth != nil && !c.DryRun {
		s.o.Auth.Audit(c.Actor, action, target, req, res, err)
	}
	if err != nil {
		return nil, changeErr(err)
	}
	return &sluicev1.ChangeResponse{Applied: res.Applied, DryRun: res.DryRun, Changes: res.Changes, Persisted: res.Persisted,
		Warnings: res.Warnings, ConfigChecksum: res.Checksum}, nil
}

func serverTarget(backend, address string) string {
	return "backends/" + backend + "/servers/" + address
}

func spec(address string, w *int32, en, dr *bool) state.ServerSpec {
	sp := state.ServerSpec{Address: address, Enabled: en, Drain: dr}
	if w != nil {
		v := int(*w)
		sp.Weight = &v
	}
	return sp
}

// UpdateServer changes weight, drain, enabled of one server.
func (s *Server) UpdateServer(ctx context.Context, r *sluicev1.UpdateServerRequest) (*sluicev1.ChangeResponse, error) {
	if r.GetBackend() == "" || r.GetAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "backend and address are required")
	}
	if r.Weight == nil && r.Enabled == nil && r.Drain == nil {
		return nil, status.Error(codes.InvalidArgument, "nothing to change: give weight, enabled or drain")
	}
	req := map[string]any{}
	if r.Weight != nil {
		req["weight"] = r.GetWeight()
	}
	if r.Enabled != nil {
		req["enabled"] = r.GetEnabled()
	}
	if r.Drain != nil {
		req["drain"] = r.GetDrain()
	}
	return s.change(ctx, "patch_server", serverTarget(r.GetBackend(), r.GetAddress()), req, state.Change{Op: state.OpPatchServer,
		Backend: r.GetBackend(), Address: r.GetAddress(), Server: spec("", r.Weight, r.Enabled, r.Drain), DryRun: r.GetDryRun()})
}

// AddServer adds a server to a backend.
func (s *Server) AddServer(ctx context.Context, r *sluicev1.AddServerRequest) (*sluicev1.ChangeResponse, error) {
	if r.GetBackend() == "" || r.GetAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "backend and address are required")
	}
	return s.change(ctx, "add_server", serverTarget(r.GetBackend(), r.GetAddress()), map[string]any{"address": r.GetAddress()}, state.Change{Op: state.OpAddServer,
		Backend: r.GetBackend(), Address: r.GetAddress(), Server: spec(r.GetAddress(), r.Weight, r.Enabled, r.Drain), DryRun: r.GetDryRun()})
}

// RemoveServer removes a server (it drains first).
func (s *Server) RemoveServer(ctx context.Context, r *sluicev1.RemoveServerRequest) (*sluicev1.ChangeResponse, error) {
	if r.GetBackend() == "" || r.GetAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "backend and address are required")
	}
	return s.change(ctx, "remove_server", serverTarget(r.GetBackend(), r.GetAddress()), nil, state.Change{Op: state.OpRemoveServer,
		Backend: r.GetBackend(), Address: r.GetAddress(), DryRun: r.GetDryRun()})
}

// GetConfig answers the running configuration text.
func (s *Server) GetConfig(ctx context.Context, _ *sluicev1.GetConfigRequest) (*sluicev1.GetConfigResponse, error) {
	snap := s.o.Control.Snapshot()
	return &sluicev1.GetConfigResponse{Text: string(snap.Text), ConfigChecksum: snap.Checksum}, nil
}

// PutConfig replaces the configuration text (or dry-runs it).
func (s *Server) PutConfig(ctx context.Context, r *sluicev1.PutConfigRequest) (*sluicev1.ChangeResponse, error) {
	return s.change(ctx, "put_config", "config", nil, state.Change{Op: state.OpPutConfig, Text: []byte(r.GetText()), DryRun: r.GetDryRun()})
}

// Validate checks a configuration text.
func (s *Server) Validate(ctx context.Context, r *sluicev1.ValidateRequest) (*sluicev1.ValidateResponse, error) {
	errs := s.o.Control.Validate([]byte(r.GetText()))
	out := &sluicev1.ValidateResponse{Valid: len(errs) == 0}
	for _, e := range errs {
		out.Errors = append(out.Errors, &sluicev1.ConfigError{File: e.File, Line: int32(e.Line), Col: int32(e.Col), Message: e.Message})
	}
	return out, nil
}

// Reload re-reads the configuration file.
func (s *Server) Reload(ctx context.Context, _ *sluicev1.ReloadRequest) (*sluicev1.ChangeResponse, error) {
	return s.change(ctx, "reload", "config", nil, state.Change{Op: state.OpReload})
}

// Explain answers which route, backend and server a request would get.
func (s *Server) Explain(ctx context.Context, r *sluicev1.ExplainRequest) (*sluicev1.Explanation, error) {
	if r.GetFrontend() == "" {
		return nil, status.Error(codes.InvalidArgument, "frontend is required")
	}
	ex, err := s.o.Control.Explain(state.ExplainQuery{Frontend: r.GetFrontend(), Method: r.GetMethod(), Host: r.GetHost(),
		Path: r.GetPath(), ClientIP: r.GetClientIp(), SNI: r.GetSni(), Headers: r.GetHeaders()})
	switch {
	case errors.Is(err, state.ErrNotFound):
		return nil, status.Error(codes.NotFound, err.Error())
	case err != nil:
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out := &sluicev1.Explanation{Frontend: ex.Frontend, Mode: ex.Mode, ClientIp: ex.ClientIP, Access: ex.Access,
		Route: ex.Route, Backend: ex.Backend, Pick: ex.Pick, Status: int32(ex.Status), Reason: ex.Reason}
	for _, rc := range ex.Routes {
		out.Routes = append(out.Routes, &sluicev1.RouteCheck{Name: rc.Name, Matched: rc.Matched, Reason: rc.Reason})
	}
	for _, sc := range ex.Servers {
		out.Servers = append(out.Servers, &sluicev1.ServerCheck{Address: sc.Address, Eligible: sc.Eligible, Reason: sc.Reason})
	}
	return out, nil
}

func eventPB(e *state.Event) *sluicev1.Event {
	return &sluicev1.Event{Id: e.ID, TimeUnixMs: ms(e.Time), Type: e.Type, Severity: e.Severity, Message: e.Message,
		Frontend: e.Frontend, Backend: e.Backend, Server: e.Server, Source: e.Source, Reason: e.Reason, Actor: e.Actor,
		Alert: e.Alert, State: e.State}
}

// ListEvents answers events after an ID, oldest first, filtered.
func (s *Server) ListEvents(ctx context.Context, r *sluicev1.ListEventsRequest) (*sluicev1.ListEventsResponse, error) {
	limit := int(r.GetLimit())
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	out := &sluicev1.ListEventsResponse{}
	for _, e := range s.o.Control.Events(r.GetAfter(), 0) {
		if (r.GetType() != "" && e.Type != r.GetType()) || (r.GetBackend() != "" && e.Backend != r.GetBackend()) ||
			(r.GetServer() != "" && e.Server != r.GetServer()) {
			continue
		}
		out.Events = append(out.Events, eventPB(&e))
	}
	if n := len(out.Events); n > limit {
		out.Events = out.Events[n-limit:]
	}
	return out, nil
}

// ListAlerts answers the alert rules with their state.
func (s *Server) ListAlerts(ctx context.Context, _ *sluicev1.ListAlertsRequest) (*sluicev1.ListAlertsResponse, error) {
	ar, ok := s.o.Control.(state.AlertReader)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "alerts are not available in this build")
	}
	out := &sluicev1.ListAlertsResponse{}
	for _, a := range ar.Alerts() {
		pa := &sluicev1.Alert{Name: a.Name, When: a.When, Resource: a.Resource, ScopeFrontend: a.Scope.Frontend,
			ScopeBackend: a.Scope.Backend, ScopeServer: a.Scope.Server, Threshold: a.Threshold, ResolveBelow: a.ResolveBelow,
			For: a.For, State: a.State, SinceUnixMs: ms(a.Since), Value: a.Value}
		for _, n := range a.Notify {
			pa.Webhooks = append(pa.Webhooks, n.Webhook)
		}
		out.Alerts = append(out.Alerts, pa)
	}
	return out, nil
}

func statsPB(st *state.Stats) *sluicev1.Stats {
	out := &sluicev1.Stats{TimeUnixMs: ms(st.Time), Process: processPB(st.Process)}
	for _, f := range st.Frontends {
		out.Frontends = append(out.Frontends, &sluicev1.Frontend{Name: f.Name, ActiveConnections: f.ActiveConnections,
			RequestsPerSec: f.RequestsPerSec, ErrorRate: f.ErrorRate, P50Ms: f.P50Ms, P99Ms: f.P99Ms, RequestsTotal: f.Requests})
	}
	for _, b := range st.Backends {
		pb := &sluicev1.Backend{Name: b.Name, ActiveConnections: b.ActiveConnections, RequestsPerSec: b.RequestsPerSec,
			ErrorRate: b.ErrorRate, P50Ms: b.P50Ms, P99Ms: b.P99Ms}
		for i := range b.Servers {
			ps := &sluicev1.Server{Backend: b.Name, Address: b.Servers[i].Address}
			serverLive(ps, &b.Servers[i])
			pb.Servers = append(pb.Servers, ps)
		}
		out.Backends = append(out.Backends, pb)
	}
	return out
}

// Watch streams stats (at once, then once a second) and events as they
// happen, until the client goes away or falls behind.
func (s *Server) Watch(r *sluicev1.WatchRequest, stream grpc.ServerStreamingServer[sluicev1.WatchResponse]) error {
	wantStats, wantEvents := r.GetStats(), r.GetEvents()
	if !wantStats && !wantEvents {
		wantStats, wantEvents = true, true
	}
	sub := s.o.Control.Subscribe(s.o.WatchBuffer)
	defer sub.Close()
	if wantStats {
		if st := s.o.Control.Stats(); st != nil {
			if err := stream.Send(&sluicev1.WatchResponse{Item: &sluicev1.WatchResponse_Stats{Stats: statsPB(st)}}); err != nil {
				return err
			}
		}
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case it, ok := <-sub.C:
			if !ok {
				if sub.Dropped != nil && sub.Dropped() {
					return status.Error(codes.ResourceExhausted, "the watch fell behind and was dropped; reconnect")
				}
				return status.Error(codes.Unavailable, "the server is shutting down")
			}
			var msg *sluicev1.WatchResponse
			switch {
			case it.Stats != nil && wantStats:
				msg = &sluicev1.WatchResponse{Item: &sluicev1.WatchResponse_Stats{Stats: statsPB(it.Stats)}}
			case it.Event != nil && wantEvents:
				msg = &sluicev1.WatchResponse{Item: &sluicev1.WatchResponse_Event{Event: eventPB(it.Event)}}
			default:
				continue
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}
