package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/bench/backend"
	"github.com/sluicelb/sluice/bench/benchtest"
	"github.com/sluicelb/sluice/bench/peer"
	"github.com/sluicelb/sluice/internal/freeport"
)

func TestMain(m *testing.M) {
	code := m.Run()
	benchtest.Cleanup()
	os.Exit(code)
}

// running is a sluice started from the harness's generated API config, with a viewer key.
type running struct {
	proc  *peer.Process
	setup peer.Setup
	api   *peer.API
	key   string
}

func startSluice(t *testing.T) *running {
	t.Helper()
	bin := benchtest.Sluice(t)
	be, err := backend.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })
	s := peer.Setup{HTTPBackends: []string{be.Addr()}, MaxConns: 1000}
	for _, a := range []*string{&s.HTTPListen, &s.AdminListen, &s.GRPCListen} {
		if *a, err = freeport.Addr(); err != nil {
			t.Fatal(err)
		}
	}
	p, err := peer.SluiceAPI(bin, "sluice+stream2")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := p.Generate(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := peer.Start(p, bin, dir, cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })
	if err := proc.WaitReady(30*time.Second, s.HTTPListen, s.AdminListen, s.GRPCListen); err != nil {
		t.Fatal(err)
	}
	key, err := CreateKey(context.Background(), s.AdminListen, p.API.User, p.API.Password, "test", "viewer")
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, proc.LogTail(10))
	}
	return &running{proc: proc, setup: s, api: p.API, key: key}
}

func get(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
// mustAttach attaches o's clients or fails t; they are closed at its end.
func mustAttach(t *testing.T, o Options) *Set {
	t.Helper()
	set, err := Attach(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	return set
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// TestStreamAndWatchClientsCount attaches three UI-like stream clients and one Watch
// client to a real sluice with a key made through the API, sends 40 requests through the
// proxy, and checks every stream client got exactly one log line per request (in "logs" batches) and
// stats, the Watch client stats, and that a window with those counts passes Check.
func TestStreamAndWatchClientsCount(t *testing.T) {
	r := startSluice(t)
	streams := mustAttach(t, Options{Kind: Stream, N: 3, AdminAddr: r.setup.AdminListen, Key: r.key})
	watch := mustAttach(t, Options{Kind: Watch, N: 1, GRPCAddr: r.setup.GRPCListen, Key: r.key})
	streams.Mark(true)
	watch.Mark(true)
	const requests = 40
	for range requests {
		get(t, "http://"+r.setup.HTTPListen+"/")
	}
	perClient := func(set *Set, typ string) []int64 {
		i := map[string]int{"stats": 0, "event": 1, "log": 2}[typ]
		var out []int64
		for _, c := range set.clients {
			out = append(out, c.counts[i].Load())
		}
		return out
	}
	waitFor(t, "every stream client's log messages and stats", 15*time.Second, func() bool {
		for i, n := range perClient(streams, "log") {
			if n < requests || perClient(streams, "stats")[i] < 1 {
				return false
			}
		}
		return perClient(watch, "stats")[0] >= 2 // the one sent at once and one tick
	})
	streams.Mark(false)
	watch.Mark(false)
	time.Sleep(200 * time.Millisecond) // a log message beyond the 40 would show by now
	if got := perClient(streams, "log"); fmt.Sprint(got) != "[40 40 40]" {
		t.Fatalf("log messages per stream client %v, want 40 each", got)
	}
	w, err := streams.Check()
	if err != nil || w.MinClient < requests || w.Total < 3*requests || w.PerSecond() <= 0 {
		t.Fatalf("stream window %+v %v", w, err)
	}
	if w, err := watch.Check(); err != nil || w.MinClient < 1 {
		t.Fatalf("watch window %+v %v", w, err)
	}
	if s := streams.Summary(); !strings.Contains(s, "3 stream client(s)") || !strings.Contains(s, "log=120") {
		t.Fatalf("summary %q", s)
	}
	if c := watch.Counts(); c["log"] != 0 || c["stats"] < 2 {
		t.Fatalf("watch counts %v", c)
	}
}

// TestCheckFailsClientWithoutMessages: stream clients subscribed only to events (none
// happen) are attached, yet a window in which they receive nothing must fail Check,
// naming the clients.
func TestCheckFailsClientWithoutMessages(t *testing.T) {
	r := startSluice(t)
	set := mustAttach(t, Options{Kind: Stream, N: 2, AdminAddr: r.setup.AdminListen, Key: r.key,
		Topics: []string{"events"}, Grace: 300 * time.Millisecond})
	set.Mark(true)
	get(t, "http://"+r.setup.HTTPListen+"/")
	time.Sleep(300 * time.Millisecond)
	set.Mark(false)
	w, err := set.Check()
	if err == nil || !strings.Contains(err.Error(), "stream client(s) 1,2 of 2 received no message") || w.Total != 0 {
		t.Fatalf("Check: %+v %v", w, err)
	}
}

// TestClientsFailWhenSluiceStops: when the proxy goes away mid-run, every kind of client
// reports its connection ended, and Check fails.
func TestClientsFailWhenSluiceStops(t *testing.T) {
	r := startSluice(t)
	streams := mustAttach(t, Options{Kind: Stream, N: 1, AdminAddr: r.setup.AdminListen, Key: r.key})
	watch := mustAttach(t, Options{Kind: Watch, N: 1, GRPCAddr: r.setup.GRPCListen, Key: r.key})
	streams.Mark(true)
	watch.Mark(true)
	_ = r.proc.Stop()
	waitFor(t, "both clients to see the end", 15*time.Second, func() bool { return streams.Err() != nil && watch.Err() != nil })
	streams.Mark(false)
	watch.Mark(false)
	if _, err := streams.Check(); err == nil || !strings.Contains(err.Error(), "stream client 1: connection ended") {
		t.Fatalf("stream Check: %v", err)
	}
	if _, err := watch.Check(); err == nil || !strings.Contains(err.Error(), "watch client 1: Watch ended") {
		t.Fatalf("watch Check: %v", err)
	}
}

// TestAttachRefusals: a bad key is refused at attach time for both kinds, and a wrong
// password cannot create a key.
func TestAttachRefusals(t *testing.T) {
	r := startSluice(t)
	ctx := context.Background()
	if _, err := Attach(ctx, Options{Kind: Stream, N: 1, AdminAddr: r.setup.AdminListen, Key: "sluice_0_bad"}); err == nil ||
		!strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("stream with a bad key: %v", err)
	}
	if _, err := Attach(ctx, Options{Kind: Watch, N: 1, GRPCAddr: r.setup.GRPCListen, Key: "sluice_0_bad"}); err == nil ||
		!strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("watch with a bad key: %v", err)
	}
	if _, err := CreateKey(ctx, r.setup.AdminListen, r.api.User, "wrong", "x", "viewer"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("CreateKey with a wrong password: %v", err)
	}
	if _, err := Attach(ctx, Options{Kind: "poll", N: 1}); err == nil || !strings.Contains(err.Error(), `kind "poll"`) {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestFrameType(t *testing.T) {
	for in, want := range map[string]string{`{"type":"log","log":{}}`: "log", `{"stats":{},"type":"stats"}`: "stats", `nonsense`: ""} {
		if got := frameType([]byte(in)); got != want {
			t.Errorf("frameType(%s) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]int{
		`{"type":"logs","logs":[{"id":1},{"id":2,"path":"/]{\"id\":"}]}`: 2,
		`{"logs":[{"path":"/"},{"id":2}],"type":"logs"}`:                 2,
		`{"type":"logs","logs":[]}`:                                      0,
	} {
		if n := logLines([]byte(in)); n != want {
			t.Errorf("logLines(%s) = %d, want %d", in, n, want)
		}
	}
}
