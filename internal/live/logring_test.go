package live

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

func fillRing(r *LogRing, n int) {
	t0 := time.Unix(1_700_000_000, 0)
	for i := range n {
		e := HTTP{Start: t0.Add(time.Duration(i) * time.Millisecond), Frontend: []string{"web", "api"}[i%2],
			Backend: []string{"app", "api"}[i%3%2], Server: "10.0.0.1:80",
			ClientIP: netip.AddrFrom4([4]byte{10, byte(i % 3), byte(i >> 8), byte(i)}),
			Method:   []byte("GET"), Host: []byte("example.com"), Path: fmt.Appendf(nil, "/item/%d", i),
			Status: []int{200, 404, 503, 502}[i%4], Duration: time.Duration(i) * time.Microsecond, BytesIn: 10, BytesOut: 20}
		r.AddHTTP(&e)
	}
}

func query(t *testing.T, r *LogRing, f state.LogFilter) []state.LogEntry {
	t.Helper()
	m, err := CompileLogFilter(f, r.Len())
	if err != nil {
		t.Fatal(err)
	}
	return r.Query(m)
}

func TestLogRingFilters(t *testing.T) {
	r := NewLogRing(100)
	fillRing(r, 250) // wraps: entries 151..250 are kept
	all := query(t, r, state.LogFilter{Limit: 1000})
	if len(all) != 100 || all[0].ID != 250 || all[99].ID != 151 {
		t.Fatalf("got %d entries, first %d last %d; want 100, newest first 250..151", len(all), all[0].ID, all[len(all)-1].ID)
	}
	e := all[0]
	if e.Path != "/item/249" || e.Method != "GET" || e.Host != "example.com" || e.Status != 404 ||
		e.Frontend != "api" || e.ClientIP != "10.0.0.249" || e.BytesOut != 20 || e.Mode != "" {
		t.Fatalf("entry %+v", e)
	}
	if got := query(t, r, state.LogFilter{}); len(got) != 100 {
		t.Fatalf("default limit: %d entries", len(got))
	}
	for _, c := range []struct {
		f    state.LogFilter
		want func(state.LogEntry) bool
		n    int
	}{
		{state.LogFilter{Frontend: "web", Limit: 1000}, func(e state.LogEntry) bool { return e.Frontend == "web" }, 50},
		{state.LogFilter{Status: "503", Limit: 1000}, func(e state.LogEntry) bool { return e.Status == 503 }, 25},
		{state.LogFilter{Status: "5xx", Limit: 1000}, func(e state.LogEntry) bool { return e.Status >= 500 }, 50},
		{state.LogFilter{ClientIP: "10.1.0.0/16", Limit: 1000}, func(e state.LogEntry) bool { return strings.HasPrefix(e.ClientIP, "10.1.") }, 33},
		{state.LogFilter{ClientIP: "10.0.0.249"}, func(e state.LogEntry) bool { return e.ClientIP == "10.0.0.249" }, 1},
		{state.LogFilter{Q: "/item/17", Limit: 1000}, func(e state.LogEntry) bool { return strings.Contains(e.Path, "/item/17") }, 10},
		{state.LogFilter{Status: "4xx", Frontend: "api", Limit: 5}, func(e state.LogEntry) bool { return e.Status == 404 && e.Frontend == "api" }, 5},
	} {
		got := query(t, r, c.f)
		if len(got) != c.n {
			t.Errorf("%+v: %d entries, want %d", c.f, len(got), c.n)
		}
		for _, e := range got {
			if !c.want(e) {
				t.Errorf("%+v: entry %+v does not match", c.f, e)
			}
		}
	}
	for _, bad := range []state.LogFilter{{Status: "6xx"}, {Status: "20"}, {ClientIP: "10.0.0"}, {Limit: -1}} {
		if _, err := CompileLogFilter(bad, 100); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestLogRingTCPAndTruncation(t *testing.T) {
	r := NewLogRing(10)
	r.AddTCP(&TCP{Frontend: "pg", Backend: "db", Server: "10.0.0.9:5432", ClientIP: netip.MustParseAddr("::ffff:10.0.0.1"),
		Duration: 1500 * time.Millisecond, BytesIn: 5, BytesOut: 6, Close: "client"})
	long := strings.Repeat("x", 1000)
	r.AddHTTP(&HTTP{Frontend: "web", Path: []byte("/" + long), Host: []byte(long), Method: []byte("PROPFIND-VERY-LONG-METHOD")})
	got := query(t, r, state.LogFilter{})
	if len(got) != 2 {
		t.Fatalf("%d entries", len(got))
	}
	if h := got[0]; len(h.Path) != maxPath || len(h.Host) != maxHost || len(h.Method) != maxMethod {
		t.Fatalf("truncation: path %d host %d method %d", len(h.Path), len(h.Host), len(h.Method))
	}
	if e := got[1]; e.Mode != "tcp" || e.Close != "client" || e.DurationMs != 1500 || e.Server != "10.0.0.9:5432" || e.Status != 0 {
		t.Fatalf("tcp entry %+v", e)
	}
	if got := query(t, r, state.LogFilter{ClientIP: "10.0.0.0/8"}); len(got) != 1 || got[0].Mode != "tcp" {
		t.Fatalf("a v4-mapped client must match a v4 prefix: %+v", got)
	}
	if got := query(t, r, state.LogFilter{Status: "2xx"}); len(got) != 0 {
		t.Fatalf("a status filter must not match tcp sessions or status 0: %+v", got)
	}
}

// TestLogRingQueryFast: a filtered query over a full default ring answers
// well within 50 ms, also while writers keep adding.
func TestLogRingQueryFast(t *testing.T) {
	r := NewLogRing(0)
	fillRing(r, DefaultLogEntries)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 20,000 entries a second each: a busy proxy, without
			// overwriting the ring faster than the test reads it.
			e := HTTP{Frontend: "web", Method: []byte("GET"), Path: []byte("/busy"), Status: 200}
			tk := time.NewTicker(time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					for range 20 {
						r.AddHTTP(&e)
					}
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for _, f := range []state.LogFilter{
		{Q: "no such path", Limit: 1000},                            // scans everything, returns nothing
		{Status: "5xx", ClientIP: "10.2.0.0/16", Limit: 1000},       // scans everything
		{Frontend: "api", Backend: "app", Q: "/item/", Limit: 1000}, // builds many
	} {
		// The query's own CPU time (its thread's, best of three): the
		// machine is shared by many, and wall time there measures the
		// neighbours, not the ring.
		var got []state.LogEntry
		cpu, wall := time.Hour, time.Hour
		for range 3 {
			var c time.Duration
			w := time.Now()
			c, got = threadCPU(func() []state.LogEntry { return query(t, r, f) })
			cpu, wall = min(cpu, c), min(wall, time.Since(w))
		}
		if cpu > 50*time.Millisecond {
			t.Errorf("%+v: %v of CPU on a full ring (%d results, %v wall), want < 50ms", f, cpu, len(got), wall)
		} else {
			t.Logf("%+v: %v CPU, %v wall, %d results", f, cpu, wall, len(got))
		}
	}
}

// TestLogRingConcurrent: writers and readers at once (run with -race): every
// entry read is whole (its fields belong together).
func TestLogRingConcurrent(t *testing.T) {
	r := NewLogRing(64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				n := w*100000 + i
				p := fmt.Appendf(nil, "/%d", n)
				r.AddHTTP(&HTTP{Frontend: "web", Path: p, Host: p, Status: 200 + n%100, Duration: time.Duration(n)})
			}
		}()
	}
	for range 200 {
		for _, e := range query(t, r, state.LogFilter{Limit: 64}) {
			want := fmt.Sprintf("/%d", int(e.DurationMs*1e6+0.5))
			if e.Path != want || e.Host != want {
				t.Fatalf("torn entry %+v", e)
			}
		}
	}
	wg.Wait()
	var after uint64
	n := 0
	after = r.Since(after, 0, func(x *Rec) { n++ })
	if after != 20000 || n+int(r.Dropped()) < 64-4 || n > 64 {
		t.Fatalf("Since: last %d, %d entries, %d dropped", after, n, r.Dropped())
	}
	if r.Since(after, 0, func(*Rec) { t.Fatal("nothing new") }) != after {
		t.Fatal("Since moved without new entries")
	}
}

// threadCPU runs fn on a locked OS thread and returns the CPU time that
// thread spent in it.
func threadCPU(fn func() []state.LogEntry) (time.Duration, []state.LogEntry) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var a, b syscall.Rusage
	_ = syscall.Getrusage(rusageThread, &a)
	out := fn()
	_ = syscall.Getrusage(rusageThread, &b)
	used := func(r *syscall.Rusage) time.Duration { return time.Duration(r.Utime.Nano() + r.Stime.Nano()) }
	return used(&b) - used(&a), out
}
