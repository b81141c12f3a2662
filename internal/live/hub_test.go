package live

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// TestHubDropsSlowSubscriber: a subscriber that does not read is dropped
// when its channel is full (closed, Dropped true); the producer never
// blocks, and the others keep receiving.
func TestHubDropsSlowSubscriber(t *testing.T) {
	h := NewHub()
	fast := h.Subscribe(1000) // room for everything: never dropped, however slow the machine
	slow := h.Subscribe(4)
	var wg sync.WaitGroup
	got := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range fast.C {
			got++
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			h.PublishEvent(&state.Event{ID: uint64(i)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the producer blocked")
	}
	if !slow.Dropped() {
		t.Fatal("the subscriber that never read was not dropped")
	}
	n := 0
	for range slow.C { // closed after the items it had
		n++
	}
	if n != 4 {
		t.Fatalf("dropped subscriber's channel held %d items, want its buffer (4)", n)
	}
	if h.Len() != 1 {
		t.Fatalf("Len = %d, want 1", h.Len())
	}
	fast.Close()
	fast.Close() // twice is fine
	wg.Wait()
	if fast.Dropped() || got != 1000 {
		t.Fatalf("fast subscriber: dropped=%v, got %d of 1000", fast.Dropped(), got)
	}
	if h.Len() != 0 {
		t.Fatalf("Len = %d after Close", h.Len())
	}
}

// TestHubFilter: SetFilter selects kinds and log lines; filtered items
// never reach the channel.
func TestHubFilter(t *testing.T) {
	h := NewHub()
	s := h.Subscribe(10)
	s.SetFilter(state.StreamFilter{Logs: true, Log: state.LogFilter{Status: "5xx"}})
	if !h.WantLogs() {
		t.Fatal("WantLogs false with a log subscriber")
	}
	h.PublishStats(&state.Stats{})
	h.PublishEvent(&state.Event{})
	r := NewLogRing(10)
	r.AddHTTP(&HTTP{Frontend: "web", Status: 200, ClientIP: netip.MustParseAddr("10.0.0.1")})
	r.AddHTTP(&HTTP{Frontend: "web", Status: 503, Path: []byte("/x")})
	h.PublishLogs(r, 0, 0)
	s.Close()
	var items []state.Item
	for it := range s.C {
		items = append(items, it)
	}
	if len(items) != 1 || items[0].Logs == nil || len(items[0].Logs.Entries) != 1 || items[0].Logs.Entries[0].Status != 503 || items[0].Logs.Entries[0].Path != "/x" {
		t.Fatalf("items %+v, want the one 503 log line", items)
	}
	if h.WantLogs() {
		t.Fatal("WantLogs true after the only subscriber closed")
	}
	s2 := h.Subscribe(10)
	s2.SetFilter(state.StreamFilter{Stats: true})
	if h.WantLogs() {
		t.Fatal("WantLogs true for a stats-only subscriber")
	}
	h.CloseAll()
	if _, ok := <-s2.C; ok {
		t.Fatal("CloseAll left a channel open")
	}
}

// TestHubLogBatches: one PublishLogs hands each log subscriber one batch;
// subscribers with the same filter get the very same batch (a line is
// matched, built and encoded once for all of them), another filter its
// own; stats-only subscribers get nothing, and max keeps the newest.
func TestHubLogBatches(t *testing.T) {
	h := NewHub()
	all := []*state.Subscription{h.Subscribe(10), h.Subscribe(10), h.Subscribe(10)}
	for _, s := range all {
		s.SetFilter(state.StreamFilter{Logs: true})
	}
	errs := []*state.Subscription{h.Subscribe(10), h.Subscribe(10)}
	for _, s := range errs {
		s.SetFilter(state.StreamFilter{Stats: true, Logs: true, Log: state.LogFilter{Status: "5xx", Limit: 7}})
	}
	stats := h.Subscribe(10)
	stats.SetFilter(state.StreamFilter{Stats: true})
	r := NewLogRing(100)
	for i := range 6 {
		r.AddHTTP(&HTTP{Frontend: "web", Status: 200 + 100*(i%4), Path: []byte("/" + string(rune('a'+i)))})
	}
	if last := h.PublishLogs(r, 0, 5); last != 6 { // the newest five: /b../f
		t.Fatalf("PublishLogs returned %d, want 6", last)
	}
	paths := func(b *state.LogBatch) string {
		var out []string
		for _, e := range b.Entries {
			out = append(out, e.Path)
		}
		return strings.Join(out, " ")
	}
	var batches []*state.LogBatch
	for _, s := range append(all, errs...) {
		select {
		case it := <-s.C:
			if it.Logs == nil {
				t.Fatalf("item %+v, want a log batch", it)
			}
			batches = append(batches, it.Logs)
		default:
			t.Fatal("a log subscriber got no batch")
		}
		if len(s.C) != 0 {
			t.Fatalf("%d more items, want one batch per call", len(s.C))
		}
	}
	if batches[0] != batches[1] || batches[1] != batches[2] || batches[3] != batches[4] || batches[0] == batches[3] {
		t.Fatal("subscribers with one filter do not share one batch")
	}
	if got := paths(batches[0]); got != "/b /c /d /e /f" {
		t.Fatalf("unfiltered batch %q", got)
	}
	if got := paths(batches[3]); got != "/d" || batches[3].Filter != (state.LogFilter{Status: "5xx"}) {
		t.Fatalf("5xx batch %q, filter %+v", got, batches[3].Filter)
	}
	if len(stats.C) != 0 {
		t.Fatal("a stats-only subscriber got log lines")
	}
	// Nothing new: no batch at all.
	if last := h.PublishLogs(r, 6, 5); last != 6 || len(all[0].C) != 0 {
		t.Fatalf("PublishLogs with nothing new: %d, %d items", last, len(all[0].C))
	}
	// Encode runs once per batch.
	n := 0
	for range 3 {
		b, _ := batches[0].Encode(func(*state.LogBatch) ([]byte, error) { n++; return []byte("x"), nil })
		if string(b) != "x" {
			t.Fatalf("Encode = %q", b)
		}
	}
	if n != 1 {
		t.Fatalf("encoded %d times", n)
	}
}
