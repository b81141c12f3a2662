package grpcapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
	"github.com/sluicelb/sluice/internal/state"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeControl is a state.Control with fixed views that records changes.
type fakeControl struct {
	mu      sync.Mutex
	changes []state.Change
	err     error
	items   chan state.Item
}

func (f *fakeControl) Snapshot() *state.Snapshot {
	return &state.Snapshot{Version: "v1.2.3", Checksum: "abc", Started: time.Now().Add(-time.Minute), Text: []byte("frontends: []\n"),
		Frontends: []state.Frontend{{Name: "web", Mode: "http", Listen: "127.0.0.1:8080", Backend: "app"}},
		Backends: []state.Backend{{Name: "app", Algorithm: "round_robin", HealthCheck: "http",
			Servers: []state.Server{{Address: "10.0.0.1:80", Weight: 1, Enabled: true}, {Address: "10.0.0.2:80", Weight: 3, Enabled: true}}}}}
}

func (f *fakeControl) Stats() *state.Stats {
	return &state.Stats{Time: time.Now(), Frontends: []state.FrontendStats{{Name: "web", RequestsPerSec: 12}},
		Backends: []state.BackendStats{{Name: "app", Servers: []state.ServerStats{
			{Address: "10.0.0.1:80", Health: "up", Enabled: true, Weight: 1},
			{Address: "10.0.0.2:80", Health: "damped", Enabled: true, Weight: 0, DampedUntil: time.Unix(2000000000, 0)}}}}}
}

func (f *fakeControl) Events(after uint64, limit int) []state.Event {
	return []state.Event{{ID: 1, Type: "health", Backend: "app", Server: "10.0.0.2:80"}, {ID: 2, Type: "reload"}}
}
func (f *fakeControl) Logs(state.LogFilter) []state.LogEntry { return nil }
func (f *fakeControl) Subscribe(buffer int) *state.Subscription {
	return &state.Subscription{C: f.items, Dropped: func() bool { return false }, Close: func() {}}
}
func (f *fakeControl) Validate(text []byte) []state.ConfigError {
	if strings.Contains(string(text), "bad") {
		return []state.ConfigError{{File: "x.yaml", Line: 1, Col: 2, Message: "bad"}}
	}
	return nil
}
func (f *fakeControl) Change(ctx context.Context, c state.Change) (state.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, c)
	if f.err != nil {
		return state.Result{}, f.err
	}
	return state.Result{Applied: !c.DryRun, DryRun: c.DryRun, Changes: []string{"backend app: weight of 10.0.0.1:80 1 → 5"}, Persisted: "file"}, nil
}
func (f *fakeControl) Explain(q state.ExplainQuery) (state.Explanation, error) {
	if q.Frontend != "web" {
		return state.Explanation{}, state.ErrNotFound
	}
	return state.Explanation{Frontend: "web", Backend: "app", Pick: "10.0.0.1:80"}, nil
}

// fakeAuth has three keys, one per role, and the REST roles of a few
// routes (the real table is admin's).
type fakeAuth struct {
	mu     sync.Mutex
	audits []string
}

var roleOfPattern = map[string]int{"GET": 0, "PATCH": 1, "POST /api/v1/reload": 1}

func need(pattern string) int {
	if r, ok := roleOfPattern[pattern]; ok {
		return r
	}
	if r, ok := roleOfPattern[strings.Fields(pattern)[0]]; ok {
		return r
	}
	return 2
}

func (a *fakeAuth) Authorize(token, pattern string) (state.Actor, int, error) {
	role := map[string]int{"viewer-key": 0, "operator-key": 1, "admin-key": 2}
	r, ok := role[token]
	if !ok {
		return state.Actor{}, http.StatusUnauthorized, errors.New("missing or unknown API key")
	}
	if r < need(pattern) {
		return state.Actor{}, http.StatusForbidden, errors.New("role too low for " + pattern)
	}
	return state.Actor{Name: strings.TrimSuffix(token, "-key"), Role: []string{"viewer", "operator", "admin"}[r]}, 0, nil
}

func (a *fakeAuth) Audit(actor state.Actor, action, target string, _ map[string]any, res state.Result, err error) {
	a.mu.Lock()
	a.audits = append(a.audits, actor.Name+" via "+actor.Via+": "+action+" "+target)
	a.mu.Unlock()
}

func startTest(t *testing.T) (sluicev1.ControlClient, *fakeControl, *fakeAuth) {
	t.Helper()
	fc, fa := &fakeControl{items: make(chan state.Item, 8)}, &fakeAuth{}
	s := New(Options{Control: fc, Auth: fa})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return sluicev1.NewControlClient(cc), fc, fa
}

func withKey(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

// TestEveryRPCMapsToARESTRoute: each method of sluice.v1.Control takes the
// role of a REST route (the admin API's one role table); none is left out.
func TestEveryRPCMapsToARESTRoute(t *testing.T) {
	var names []string
	for _, m := range sluicev1.Control_ServiceDesc.Methods {
		names = append(names, m.MethodName)
	}
	for _, s := range sluicev1.Control_ServiceDesc.Streams {
		names = append(names, s.StreamName)
	}
	got := Methods()
	sort.Strings(names)
	sort.Strings(got)
	if strings.Join(names, ",") != strings.Join(got, ",") {
		t.Fatalf("service methods %v, role mapping %v", names, got)
	}
	for _, n := range names {
		if p, _ := Pattern(n); !strings.Contains(p, " /api/v1/") {
			t.Errorf("%s maps to %q", n, p)
		}
	}
}

// TestGRPCAuth: no key → Unauthenticated, a viewer key reads but may not
// change (PermissionDenied), an operator key drains; the change carries
// the caller (via grpc) and is audited.
func TestGRPCAuth(t *testing.T) {
	c, fc, fa := startTest(t)
	if _, err := c.Status(context.Background(), &sluicev1.StatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no key: %v", err)
	}
	if _, err := c.Status(withKey("nope"), &sluicev1.StatusRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("bad key: %v", err)
	}
	st, err := c.Status(withKey("viewer-key"), &sluicev1.StatusRequest{})
	if err != nil || st.Version != "v1.2.3" || st.Servers != 2 || st.ServersUp != 1 {
		t.Fatalf("status %v %v", st, err)
	}
	drain := true
	req := &sluicev1.UpdateServerRequest{Backend: "app", Address: "10.0.0.1:80", Drain: &drain}
	if _, err := c.UpdateServer(withKey("viewer-key"), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer drain: %v", err)
	}
	if _, err := c.Reload(withKey("viewer-key"), &sluicev1.ReloadRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer reload: %v", err)
	}
	if _, err := c.AddServer(withKey("operator-key"), &sluicev1.AddServerRequest{Backend: "app", Address: "10.0.0.9:80"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator add server: %v", err)
	}
	res, err := c.UpdateServer(withKey("operator-key"), req)
	if err != nil || !res.Applied || len(res.Changes) != 1 {
		t.Fatalf("operator drain: %v %v", res, err)
	}
	fc.mu.Lock()
	ch := fc.changes[0]
	fc.mu.Unlock()
	if ch.Op != state.OpPatchServer || ch.Backend != "app" || ch.Address != "10.0.0.1:80" || ch.Server.Drain == nil || !*ch.Server.Drain ||
		ch.Server.Weight != nil || ch.Actor.Name != "operator" || ch.Actor.Via != "grpc" || ch.Actor.Remote == "" {
		t.Fatalf("change %+v", ch)
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if len(fa.audits) != 1 || fa.audits[0] != "operator via grpc: patch_server backends/app/servers/10.0.0.1:80" {
		t.Fatalf("audits %q", fa.audits)
	}
}

// TestGRPCErrors: Control errors map to gRPC codes.
func TestGRPCErrors(t *testing.T) {
	c, fc, _ := startTest(t)
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{state.ErrNotFound, codes.NotFound}, {state.ErrConflict, codes.AlreadyExists}, {state.ErrReadOnly, codes.FailedPrecondition},
		{&state.InvalidError{Errors: []state.ConfigError{{Message: "weight: must be between 0 and 256"}}}, codes.InvalidArgument},
	} {
		fc.mu.Lock()
		fc.err = tc.err
		fc.mu.Unlock()
		_, err := c.RemoveServer(withKey("admin-key"), &sluicev1.RemoveServerRequest{Backend: "app", Address: "10.0.0.1:80"})
		if status.Code(err) != tc.code {
			t.Errorf("%v → %v, want %v", tc.err, err, tc.code)
		}
	}
	if _, err := c.Explain(withKey("viewer-key"), &sluicev1.ExplainRequest{Frontend: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("explain unknown frontend: %v", err)
	}
	if _, err := c.GetBackend(withKey("viewer-key"), &sluicev1.GetBackendRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown backend: %v", err)
	}
	if _, err := c.UpdateServer(withKey("admin-key"), &sluicev1.UpdateServerRequest{Backend: "app", Address: "10.0.0.1:80"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty patch: %v", err)
	}
}

// TestGRPCReadsAndWatch: the views merge configuration and live state;
// Watch sends stats at once, then what the subscription carries.
func TestGRPCReadsAndWatch(t *testing.T) {
	c, fc, _ := startTest(t)
	sv, err := c.ListServers(withKey("viewer-key"), &sluicev1.ListServersRequest{Backend: "app"})
	if err != nil || len(sv.Servers) != 2 || sv.Servers[1].Health != "damped" || sv.Servers[1].ConfiguredWeight != 3 ||
		sv.Servers[1].DampedUntilUnixMs != 2000000000000 {
		t.Fatalf("servers %v %v", sv, err)
	}
	v, err := c.Validate(withKey("admin-key"), &sluicev1.ValidateRequest{Text: "bad"})
	if err != nil || v.Valid || len(v.Errors) != 1 || v.Errors[0].Line != 1 {
		t.Fatalf("validate %v %v", v, err)
	}
	ev, err := c.ListEvents(withKey("viewer-key"), &sluicev1.ListEventsRequest{Type: "health"})
	if err != nil || len(ev.Events) != 1 || ev.Events[0].Server != "10.0.0.2:80" {
		t.Fatalf("events %v %v", ev, err)
	}
	if _, err := c.ListAlerts(withKey("viewer-key"), &sluicev1.ListAlertsRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("alerts without an AlertReader: %v", err)
	}
	w, err := c.Watch(withKey("viewer-key"), &sluicev1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.Recv()
	if err != nil || first.GetStats() == nil || first.GetStats().Frontends[0].RequestsPerSec != 12 {
		t.Fatalf("first watch item %v %v", first, err)
	}
	fc.items <- state.Item{Event: &state.Event{ID: 7, Type: "alert", Alert: "slow", State: "firing"}}
	next, err := w.Recv()
	if err != nil || next.GetEvent().GetAlert() != "slow" {
		t.Fatalf("watch event %v %v", next, err)
	}
}
