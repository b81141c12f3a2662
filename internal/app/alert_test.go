package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/alert"
	"github.com/sluicelb/sluice/internal/state"
)

// alertHook is a webhook receiver counting payloads per alert and state.
type alertHook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]string // alert → states in order
	at  map[string]time.Time
}

func newAlertHook(t *testing.T) *alertHook {
	h := &alertHook{got: map[string][]string{}, at: map[string]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			w.WriteHeader(400)
			return
		}
		h.mu.Lock()
		h.got[p.Alert] = append(h.got[p.Alert], p.State)
		h.at[p.Alert+":"+p.State] = time.Now()
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *alertHook) states(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.got[name], " ")
}

// knob is an http backend whose answers the test turns: a status, a
// delay (/health always answers 200 at once: only the traffic suffers).
type knob struct {
	status atomic.Int32
	delay  atomic.Int64
}

func (k *knob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d := k.delay.Load(); d > 0 && r.URL.Path != "/health" {
		time.Sleep(time.Duration(d))
	}
	if st := k.status.Load(); st != 0 && r.URL.Path != "/health" {
		w.WriteHeader(int(st))
	}
	_, _ = io.WriteString(w, "ok")
}

func startKnob(t *testing.T) (*knob, string, func(), func()) {
	k := &knob{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var mu sync.Mutex
	var srv *http.Server
	up := func() {
		mu.Lock()
		defer mu.Unlock()
		srv = &http.Server{Handler: k, ReadHeaderTimeout: 5 * time.Second}
		l := ln
		if l == nil {
			l = hlListen(t, addr)
		}
		ln = nil
		go func() { _ = srv.Serve(l) }()
	}
	down := func() {
		mu.Lock()
		defer mu.Unlock()
		_ = srv.Close()
	}
	up()
	t.Cleanup(down)
	return k, addr, down, up
}

func fdCount() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func rssBytes() int64 {
	b, _ := os.ReadFile("/proc/self/statm")
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize())
}

// TestAlertEveryKindFiresAndResolves: a real backend made to fail, slow
// down or be flooded, and the process made to hold connections, file
// descriptors, memory and CPU: every kind of rule fires and resolves, and
// the webhook receiver gets exactly one firing and one resolved POST per
// episode, while a second webhook that never answers holds nothing up.
// Events and sluice_alerts_firing follow. Samples are every 200ms here
// (latencies over 60 samples: 12s).
func TestAlertEveryKindFiresAndResolves(t *testing.T) {
	hook := newAlertHook(t)
	hangStop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hangStop:
		}
	}))
	defer func() { close(hangStop); hang.Close() }()
	k, addrA, killA, startA := startKnob(t)
	_, addrB, _, _ := startKnob(t)
	web, adminAddr := obsFreeAddr(t), obsFreeAddr(t)
	notify := fmt.Sprintf(`[{webhook: "%s"}, {webhook: "%s", timeout: 1s, retries: 0}]`, hook.srv.URL, hang.URL)
	// The fds and rss thresholds are set (by a reload) from what the
	// process holds just before their episodes.
	config := func(fds, rss int64, cpu string) string {
		others := fmt.Sprintf(`  - {name: down, when: server_down, scope: {backend: api, server: "%s"}, notify: %s}
  - {name: slow, when: latency_p99, scope: {backend: api}, threshold: 150ms, resolve_below: 100ms, notify: %s}
  - {name: errors, when: error_rate, scope: {frontend: web}, threshold: 0.3, resolve_below: 0.05, for: 100ms, notify: %s}
  - {name: limited, when: rate_limited, scope: {frontend: web}, threshold: 20, resolve_below: 1, notify: %s}
  - {name: conns, when: resource, resource: connections, scope: {frontend: web}, threshold: 100, resolve_below: 40, notify: %s}
  - {name: fds, when: resource, resource: fds, threshold: %d, resolve_below: %d, notify: %s}
  - {name: rss, when: resource, resource: rss, threshold: %dMiB, resolve_below: %dMiB, notify: %s}
`, addrA, notify, notify, notify, notify, notify, fds+150, fds+75, notify,
			rss>>20+96, rss>>20+48, notify)
		if cpu != "100" { // the cpu episode starves the process: the other rules are gone by then
			others = ""
		}
		return fmt.Sprintf(`admin: {listen: "%s"}
logging: {level: info, access_log: "off"}
frontends:
  - name: web
    listen: "%s"
    backend: api
    rate_limits: [{name: lim, rate: 1/s, burst: 1, match: {path_prefix: /limited/}}]
backends:
  - name: api
    servers: [{address: "%s"}, {address: "%s"}]
    health:
      active: {type: http, path: /health, interval: 100ms, timeout: 90ms, healthy_threshold: 1, unhealthy_threshold: 2}
      passive: {unhealthy_threshold: 0}
alerts:
%s  - {name: cpu, when: resource, resource: cpu, threshold: %s, resolve_below: 0.1, notify: %s}
`, adminAddr, web, addrA, addrB, others, cpu, notify)
	}
	a := obsStart(t, config(1<<20, 1<<40, "100"), Options{SampleInterval: 200 * time.Millisecond})
	cpuThreshold := "100" // never, until its episode
	reload := func() {
		if _, err := a.Apply(obsConfig(t, config(int64(fdCount()), rssBytes(), cpuThreshold))); err != nil {
			t.Fatal(err)
		}
	}
	url := "http://" + web
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer cl.CloseIdleConnections()
	load := func(path string, workers int, stop <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if r, err := cl.Get(url + path); err == nil {
						_, _ = io.Copy(io.Discard, r.Body)
						r.Body.Close()
					}
				}
			}()
		}
		return &wg
	}
	firing := func(name string) bool {
		for _, s := range a.Control().(state.AlertReader).Alerts() {
			if s.Name == name {
				return s.State == state.AlertFiring
			}
		}
		t.Fatalf("no alert %s", name)
		return false
	}
	episode := func(name string, cause, cure func()) {
		t.Helper()
		cause()
		hlWait(t, 20*time.Second, name+" firing", func() bool { return hook.states(name) == "firing" })
		// The API and the metric say so while the cause lasts.
		if !firing(name) {
			t.Fatalf("%s: webhook says firing, the API does not", name)
		}
		obsWant(t, adminAddr, 1, "sluice_alerts_firing", "alert", name)
		cure()
		deadline := time.Now().Add(20 * time.Second)
		for hook.states(name) != "firing resolved" {
			if time.Now().After(deadline) {
				st := a.Control().(state.AlertReader).Alerts()
				t.Fatalf("%s: webhook got %q, want firing resolved; status %+v", name, hook.states(name), st)
			}
			time.Sleep(5 * time.Millisecond)
		}
		hlWait(t, 5*time.Second, name+" not firing", func() bool { return !firing(name) })
		obsWant(t, adminAddr, 0, "sluice_alerts_firing", "alert", name)
	}
	// Nothing fires at rest.
	time.Sleep(500 * time.Millisecond)
	for _, n := range []string{"down", "slow", "errors", "limited", "conns", "fds", "rss", "cpu"} {
		if s := hook.states(n); s != "" {
			t.Fatalf("%s notified at rest: %q", n, s)
		}
	}
	stop := make(chan struct{})
	bg := load("/", 4, stop)
	stopLoad := sync.OnceFunc(func() { close(stop); bg.Wait() })
	defer stopLoad()

	episode("down", killA, startA)
	episode("slow", func() { k.delay.Store(int64(250 * time.Millisecond)) }, func() { k.delay.Store(0) })
	episode("errors", func() { k.status.Store(500) }, func() { k.status.Store(0) })
	var flood chan struct{}
	var fw *sync.WaitGroup
	episode("limited", func() { flood = make(chan struct{}); fw = load("/limited/x", 4, flood) }, func() { close(flood); fw.Wait() })
	var held []net.Conn
	hold := func() {
		for range 110 {
			c, err := net.Dial("tcp", web)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
	}
	release := func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	episode("conns", hold, release)
	reload() // the other rules keep their state: nothing is notified
	var files []*os.File
	episode("fds", func() {
		for range 200 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}, func() {
		for _, f := range files {
			f.Close()
		}
	})
	// Memory: 160MiB mapped and populated by the kernel (no Go heap, so
	// it leaves at once, race detector or not).
	var ballast []byte
	reload()
	episode("rss", func() {
		var err error
		ballast, err = syscall.Mmap(-1, 0, 160<<20, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_POPULATE)
		if err != nil {
			t.Fatal(err)
		}
	}, func() { _ = syscall.Munmap(ballast) })
	// CPU: without the load (and the other rules: starving the process
	// would rightly fire them), goroutines spinning take the process over
	// 0.3 of a CPU (on a machine this loaded more is not certain).
	stopLoad()
	cpuThreshold = "0.3"
	time.Sleep(300 * time.Millisecond)
	reload()
	var spin atomic.Bool
	episode("cpu", func() {
		spin.Store(true)
		for range 2 {
			go func() {
				for spin.Load() {
				}
			}()
		}
	}, func() { spin.Store(false) })

	// One firing and one resolved per episode, and nothing more.
	time.Sleep(300 * time.Millisecond)
	for _, n := range []string{"down", "slow", "errors", "limited", "conns", "fds", "rss", "cpu"} {
		if s := hook.states(n); s != "firing resolved" {
			t.Errorf("%s: webhook got %q, want exactly one firing and one resolved", n, s)
		}
	}
	var fired, resolved int
	for _, e := range a.Control().Events(0, 0) {
		if e.Type == state.EventAlert {
			if e.State == state.AlertFiring {
				fired++
			} else {
				resolved++
			}
		}
	}
	if fired != 8 || resolved != 8 {
		t.Fatalf("alert events: %d fired, %d resolved; want 8 and 8", fired, resolved)
	}
}
