package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/live"
	"github.com/sluicelb/sluice/internal/state"
)

// dialStream opens the stream with a Bearer key (or extra headers).
func (e *env) dialStream(t *testing.T, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.base+"/api/v1/stream", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func bearer(k string) http.Header { return http.Header{"Authorization": {"Bearer " + k}} }

func readFrame(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

// waitSubscribers waits until the fake has n subscriptions.
func (e *env) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.ctl.subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", e.ctl.subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamSubscribe(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dialStream(t, bearer(e.keys[auth.RoleViewer]))
	e.waitSubscribers(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for fs := e.ctl.filters(); len(fs) != 1 || fs[0] != (state.StreamFilter{Stats: true, Events: true}); fs = e.ctl.filters() {
		if time.Now().After(deadline) {
			t.Fatalf("first SetFilter %+v", fs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Before any subscribe message: stats and events.
	e.ctl.publish(state.Item{Log: &state.LogEntry{ID: 1}})
	e.ctl.publish(state.Item{Stats: e.ctl.Stats()})
	e.ctl.publish(state.Item{Event: &state.Event{ID: 9, Type: "reload"}})
	if f := readFrame(t, c); f.Type != "stats" || f.Stats.Frontends[0].Name != "web" {
		t.Fatalf("first frame %+v", f)
	}
	if f := readFrame(t, c); f.Type != "event" || f.Event.ID != 9 {
		t.Fatalf("second frame %+v", f)
	}
	// Logs with a filter only.
	ctx := context.Background()
	c.Write(ctx, websocket.MessageText, []byte(`{"subscribe":["logs"],"logs":{"status":"5xx","frontend":"web"}}`))
	if f := readFrame(t, c); f.Type != "subscribed" || strings.Join(f.Subscribe, ",") != "logs" {
		t.Fatalf("ack %+v", f)
	}
	// The producer was told, so stats and events no longer take room in
	// the subscription.
	if fs := e.ctl.filters(); len(fs) != 1 || fs[0] != (state.StreamFilter{Logs: true, Log: state.LogFilter{Status: "5xx", Frontend: "web"}}) {
		t.Fatalf("SetFilter %+v", fs)
	}
	e.ctl.publish(state.Item{Stats: e.ctl.Stats()})
	e.ctl.publish(state.Item{Event: &state.Event{ID: 10}})
	e.ctl.publish(state.Item{Log: &state.LogEntry{ID: 2, Frontend: "web", Status: 200}})
	e.ctl.publish(state.Item{Log: &state.LogEntry{ID: 3, Frontend: "web", Status: 502}})
	if f := readFrame(t, c); f.Type != "logs" || len(f.Logs) != 1 || f.Logs[0].ID != 3 {
		t.Fatalf("filtered log frame %+v", f)
	}
	// A bad message is answered with an error frame naming the field, and
	// the previous subscription stays.
	for msg, want := range map[string]string{
		`{"subscribe":["metrics"]}`:                    `unknown topic "metrics"`,
		`{"subscribe":["logs"],"logs":{"status":"9"}}`: `field "logs": status`,
		`{"subscrbe":["logs"]}`:                        `unknown field "subscrbe"`,
		`{"logs":{}}`:                                  `"subscribe" is required`,
		`not json`:                                     "invalid JSON",
	} {
		c.Write(ctx, websocket.MessageText, []byte(msg))
		f := readFrame(t, c)
		if f.Type != "error" || f.Error.Code != codeBadRequest || !strings.Contains(f.Error.Message, want) {
			t.Errorf("%s: %+v", msg, f)
		}
	}
	e.ctl.publish(state.Item{Log: &state.LogEntry{ID: 4, Frontend: "web", Status: 503}})
	if f := readFrame(t, c); f.Type != "logs" || len(f.Logs) != 1 || f.Logs[0].ID != 4 {
		t.Fatalf("after bad messages %+v", f)
	}
	// A message over 4 KiB ends the stream.
	c.Write(ctx, websocket.MessageText, []byte(`{"subscribe":["logs"],"logs":{"q":"`+strings.Repeat("x", 5000)+`"}}`))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(rctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: %v", err)
	}
	e.waitSubscribers(t, 0)
}

func TestStreamOriginAndUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	cookie, _ := e.login("victor", pwViewer)
	h := http.Header{"Cookie": {CookieName + "=" + cookie}, "Origin": {"https://evil.example"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, res, err := websocket.Dial(ctx, e.base+"/api/v1/stream", &websocket.DialOptions{HTTPHeader: h}); err == nil || res.StatusCode != 403 {
		t.Fatalf("cross-origin stream: %v", err)
	}
	h.Set("Origin", e.base)
	e.dialStream(t, h) // same origin with a cookie: fine
	if r := e.do(req{method: "GET", path: "/api/v1/stream", cookie: cookie}); r.status != 426 || r.header.Get("Upgrade") != "websocket" || r.errCode() == "" {
		t.Fatalf("plain GET of the stream: %d %s", r.status, r.body)
	}
}

// The hijacked connection outlives the server's read and write timeouts
// (cleared, replaced by ping/pong), and shutdown ends it with 1001.
func TestStreamTimeoutsAndShutdown(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.ReadTimeout, o.WriteTimeout, o.IdleTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		o.StreamPing = 100 * time.Millisecond
	})
	c := e.dialStream(t, bearer(e.keys[auth.RoleViewer]))
	e.waitSubscribers(t, 1)
	go func() { // the client reads (and so answers pings) in the background
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 8; i++ { // 800 ms: four times the timeouts
		time.Sleep(100 * time.Millisecond)
		e.ctl.publish(state.Item{Stats: e.ctl.Stats()})
	}
	if e.ctl.subscribers() != 1 || e.s.Streams() != 1 {
		t.Fatalf("stream ended early: %d subscribers", e.ctl.subscribers())
	}
	e.s.BeginShutdown()
	e.waitSubscribers(t, 0)
	c2 := e.dialStream(t, bearer(e.keys[auth.RoleViewer])) // a new one during shutdown ends at once
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := c2.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("stream during shutdown: %v", err)
	}
}

func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestStreamSlowConsumer: ten clients each get every once-a-second stats
// frame while an eleventh that never reads is dropped, under a flood of
// 8 KiB event frames, and the process's RSS stays flat.
func TestStreamSlowConsumer(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StreamPing = 3 * time.Second })
	const good = 10
	var mu sync.Mutex
	got := make([]map[int]bool, good) // stats sequence numbers each client received
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for i := 0; i < good; i++ {
		got[i] = map[int]bool{}
		c := e.dialStream(t, bearer(e.keys[auth.RoleViewer]))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				if strings.HasPrefix(string(b), `{"type":"stats"`) {
					var f frame
					json.Unmarshal(b, &f)
					mu.Lock()
					got[i][f.Stats.Process.Goroutines] = true
					mu.Unlock()
				}
			}
		}(i)
	}
	e.dialStream(t, bearer(e.keys[auth.RoleViewer])) // the stalled client: never reads
	e.waitSubscribers(t, good+1)

	// The producer: stats once a second (numbered), and 100 events a
	// second of 8 KiB.
	var seq atomic.Int64
	big := strings.Repeat("x", 8192)
	go func() {
		sec := time.NewTicker(time.Second)
		fast := time.NewTicker(10 * time.Millisecond)
		defer sec.Stop()
		defer fast.Stop()
		id := uint64(0)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-sec.C:
				n := seq.Add(1)
				e.ctl.publish(state.Item{Stats: &state.Stats{Time: now, Process: state.ProcessStats{Goroutines: int(n)}}})
			case <-fast.C:
				id++
				e.ctl.publish(state.Item{Event: &state.Event{ID: id, Message: big}})
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	rss0 := rssBytes(t)
	first := int(seq.Load()) + 1
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for e.s.Streams() > good {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled client was not dropped: %d streams", e.s.Streams())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dropped := time.Since(start)
	time.Sleep(4 * time.Second) // and a further window with ten clients
	last := int(seq.Load()) - 2 // the last two may still be on their way
	window := time.Since(start)
	rss1 := rssBytes(t)
	if streams := e.s.Streams(); streams != good {
		t.Fatalf("%d streams, want %d: a client that reads was dropped", streams, good)
	}
	stop()
	wg.Wait()
	if n := last - first + 1; float64(n) < window.Seconds()-3 {
		t.Fatalf("only %d stats samples in %v", n, window)
	}
	mu.Lock()
	for i := range got {
		for n := first; n <= last; n++ {
			if !got[i][n] {
				t.Errorf("client %d missed stats frame %d (of %d..%d)", i, n, first, last)
			}
		}
	}
	mu.Unlock()
	growth := rss1 - rss0
	t.Logf("stalled client dropped after %v (+1.5 s warm-up); each of 10 clients got stats frames %d..%d (one a second) over %v; RSS %d MiB → %d MiB (%+d KiB)",
		dropped.Round(time.Millisecond), first, last, window.Round(time.Millisecond), rss0>>20, rss1>>20, growth>>10)
	if growth > 32<<20 {
		t.Fatalf("RSS grew by %d MiB", growth>>20)
	}
}

// A subscription the producer dropped (it fell behind) ends the stream
// with 1013 "try again later".
func TestStreamProducerDrop(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dialStream(t, bearer(e.keys[auth.RoleViewer]))
	e.waitSubscribers(t, 1)
	e.ctl.publish(state.Item{Event: &state.Event{ID: 1}})
	if f := readFrame(t, c); f.Type != "event" {
		t.Fatalf("frame %+v", f)
	}
	e.ctl.dropAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
				t.Fatalf("close: %v", err)
			}
			break
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.s.Streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("stream not ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that stops reading is dropped by the write timeout even when
// pings are far apart, and its subscription is closed.
func TestStreamWriteTimeout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StreamPing = time.Hour })
	e.dialStream(t, bearer(e.keys[auth.RoleViewer])) // never read
	e.waitSubscribers(t, 1)
	big := strings.Repeat("y", 64<<10)
	start := time.Now()
	for e.s.Streams() > 0 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("a client that does not read was not dropped")
		}
		for i := 0; i < 20; i++ {
			e.ctl.publish(state.Item{Event: &state.Event{Message: big}})
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("dropped after %v", time.Since(start).Round(time.Millisecond))
	e.waitSubscribers(t, 0)
}

// hubControl is the fake with internal/live's hub as the producer of the
// stream (as internal/app wires it).
type hubControl struct {
	*fakeControl
	hub *live.Hub
}

func (h hubControl) Subscribe(buffer int) *state.Subscription { return h.hub.Subscribe(buffer) }

// logFanout attaches n stream clients subscribed to logs (the same
// filter), publishes ticks×per log lines through the hub, one
// PublishLogs per tick as the sampler does, and returns how many log
// frames the stream encoded, their bytes, and what each client got.
func logFanout(t *testing.T, n, ticks, per int) (encodes, encoded int64, frames []int, lines [][]uint64, received []int64) {
	hub := live.NewHub()
	e := newEnv(t, func(o *Options) { o.Control = hubControl{newFakeControl(), hub} })
	ring := live.NewLogRing(10000)
	var conns []*websocket.Conn
	for range n {
		c := e.dialStream(t, bearer(e.keys[auth.RoleViewer]))
		c.Write(context.Background(), websocket.MessageText, []byte(`{"subscribe":["logs"],"logs":{"frontend":"web"}}`))
		if f := readFrame(t, c); f.Type != "subscribed" {
			t.Fatalf("ack %+v", f)
		}
		conns = append(conns, c)
	}
	frames, lines, received = make([]int, n), make([][]uint64, n), make([]int64, n)
	enc0, bytes0 := logsEncoded.Load(), logBytesEncoded.Load()
	var last uint64
	for range ticks {
		for range per {
			ring.AddHTTP(&live.HTTP{Frontend: "web", Backend: "app", Server: "10.0.0.2:80", Method: []byte("GET"),
				Host: []byte("example.com"), Path: []byte("/a/b?c=d"), Status: 200, Duration: time.Millisecond})
		}
		last = hub.PublishLogs(ring, last, 100)
	}
	for i, c := range conns {
		for len(lines[i]) < ticks*per {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, b, err := c.Read(ctx)
			cancel()
			if err != nil {
				t.Fatalf("client %d after %d lines: %v", i, len(lines[i]), err)
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil || f.Type != "logs" {
				t.Fatalf("client %d: frame %s: %v", i, b, err)
			}
			frames[i]++
			received[i] += int64(len(b))
			for _, l := range f.Logs {
				lines[i] = append(lines[i], l.ID)
			}
		}
	}
	return logsEncoded.Load() - enc0, logBytesEncoded.Load() - bytes0, frames, lines, received
}

// TestStreamLogsEncodedOncePerBatch: log lines reach every client in
// order, exactly once, as one "logs" frame per producer tick; the stream
// encodes each tick's batch once whatever the number of clients, so the
// bytes marshalled per log line are the same with 10 clients as with one
// (before batching: one json.Marshal and one frame per line per client).
func TestStreamLogsEncodedOncePerBatch(t *testing.T) {
	const ticks, per = 10, 100
	var perLine [2]float64
	for k, n := range []int{1, 10} {
		encodes, encoded, frames, lines, received := logFanout(t, n, ticks, per)
		for i := range n {
			if frames[i] != ticks || len(lines[i]) != ticks*per {
				t.Fatalf("%d clients: client %d got %d lines in %d frames, want %d in %d", n, i, len(lines[i]), frames[i], ticks*per, ticks)
			}
			for j, id := range lines[i] {
				if id != uint64(j+1) {
					t.Fatalf("%d clients: client %d line %d has id %d, want %d", n, i, j, id, j+1)
				}
			}
			if received[i] != encoded {
				t.Fatalf("%d clients: client %d received %d bytes, the stream encoded %d: frames were encoded per client", n, i, received[i], encoded)
			}
		}
		if encodes != ticks {
			t.Fatalf("%d clients: %d log frames encoded for %d ticks, want one per tick", n, encodes, ticks)
		}
		perLine[k] = float64(encoded) / (ticks * per)
		t.Logf("%d client(s): %d frames encoded, %.1f bytes marshalled per log line, %d frames per client", n, encodes, perLine[k], frames[0])
	}
	if perLine[0] != perLine[1] {
		t.Fatalf("bytes marshalled per log line: %.1f with 1 client, %.1f with 10", perLine[0], perLine[1])
	}
}

// TestStreamLogsRefiltered: a batch queued under a client's older filter
// (it changed since) is filtered again with the current one and encoded
// for that client alone; nothing left, no frame.
func TestStreamLogsRefiltered(t *testing.T) {
	m := subscribeMsg{Subscribe: []string{"logs"}, Logs: &logFilterMsg{Status: "5xx"}}
	f, err := m.compile()
	if err != nil {
		t.Fatal(err)
	}
	b := &state.LogBatch{Entries: []state.LogEntry{{ID: 1, Status: 200}, {ID: 2, Status: 502}, {ID: 3, Status: 504}}}
	out, err := encodeItem(state.Item{Logs: b}, f)
	if err != nil || string(out) != `{"type":"logs","logs":[`+entryJSON(t, b.Entries[1])+`,`+entryJSON(t, b.Entries[2])+`]}` {
		t.Fatalf("refiltered frame %s %v", out, err)
	}
	if out, _ := b.Encode(func(*state.LogBatch) ([]byte, error) { return []byte("shared"), nil }); string(out) != "shared" {
		t.Fatal("the refiltered frame was stored as the batch's shared encoding")
	}
	if out, err := encodeItem(state.Item{Logs: &state.LogBatch{Entries: b.Entries[:1]}}, f); out != nil || err != nil {
		t.Fatalf("no line left: frame %s %v", out, err)
	}
	// The batch made for this very filter is the shared encoding.
	same := &state.LogBatch{Filter: state.LogFilter{Status: "5xx"}, Entries: b.Entries[1:]}
	one, _ := encodeItem(state.Item{Logs: same}, f)
	two, _ := encodeItem(state.Item{Logs: same}, f)
	if &one[0] != &two[0] {
		t.Fatal("two clients with one filter got two encodings of one batch")
	}
}

func entryJSON(t *testing.T, e state.LogEntry) string {
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkStreamLogFanout: the stream's encoding cost per log line with
// 1 and 10 clients sharing a filter (a 100-line batch per op): the
// per-line cost does not grow with the clients.
func BenchmarkStreamLogFanout(b *testing.B) {
	m := subscribeMsg{Subscribe: []string{"logs"}}
	f, err := m.compile()
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]state.LogEntry, 100)
	for i := range entries {
		entries[i] = state.LogEntry{ID: uint64(i), Frontend: "web", Backend: "app", Server: "10.0.0.2:80", Method: "GET",
			Host: "example.com", Path: "/a/b?c=d", Status: 200, DurationMs: 1.5}
	}
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				batch := &state.LogBatch{Entries: entries}
				for range n {
					if _, err := encodeItem(state.Item{Logs: batch}, f); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(entries)), "ns/line")
		})
	}
}
