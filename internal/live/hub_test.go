package live

import (
	"net/netip"
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
	r.Since(0, 0, h.PublishLog)
	s.Close()
	var items []state.Item
	for it := range s.C {
		items = append(items, it)
	}
	if len(items) != 1 || items[0].Log == nil || items[0].Log.Status != 503 || items[0].Log.Path != "/x" {
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
