//go:build !race

package app

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/live"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/l7"
)

// TestObserverAllocs: the request observer — metrics, the per-server
// latency histogram, live counters, the log ring, passive health — adds no
// allocation to a proxied request.
func TestObserverAllocs(t *testing.T) {
	reg := metrics.NewRegistry()
	srv := balance.NewServer("app", "10.0.0.1:80", 1)
	b := &backendRT{id: 1, name: "app", live: &beLive{}}
	st := &srvState{be: b, met: reg.Server("app", srv.Addr(), srv.Healthy, srv.Active)}
	st.passive.Store(health.NewPassive(srv, health.PassiveOptions{UnhealthyThreshold: 1 << 30, Kinds: failKinds}))
	srv.SetExt(balance.ExtMetrics, st)
	pair := reg.Pair("web", "app", metrics.ModeHTTP)
	ob := obsBackend{pair: pair, live: b.live}
	obs := &httpObserver{name: "web", fe: reg.Frontend("web"), byID: []obsBackend{{}, ob},
		byName: map[string]obsBackend{"app": ob}, noSrv: &noServerLog{log: slog.New(slog.DiscardHandler)},
		fl: &feLive{}, logs: live.NewLogRing(100)}
	rec := &l7.Record{Frontend: "web", Backend: "app", Server: srv, ServerAddr: srv.Addr(),
		ClientIP: netip.MustParseAddr("10.1.2.3"), Method: []byte("GET"), Host: []byte("example.com"),
		Path: []byte("/a/b?c=d"), Status: 200, Start: time.Now(), Duration: 3 * time.Millisecond, BytesIn: 100, BytesOut: 1000}
	fail := *rec
	fail.Status = 503
	obs.RequestDone(rec) // first use of each status code creates its series
	obs.RequestDone(&fail)
	if n := testing.AllocsPerRun(1000, func() {
		obs.BackendAttempt(srv, l7.FailNone)
		obs.RequestDone(rec)
		obs.BackendAttempt(srv, l7.FailStatus5xx)
		obs.RequestDone(&fail)
	}); n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
	if got := b.live.req.Load(); got != 2004 { // 2 + AllocsPerRun's warm-up run + 1000 runs, 2 each
		t.Fatalf("backend live requests = %d, want 2004", got)
	}
	var c live.Counts
	st.live.lat.Load(&c)
	if c.Total() != 2004 {
		t.Fatalf("server histogram holds %d, want 2004", c.Total())
	}
}
