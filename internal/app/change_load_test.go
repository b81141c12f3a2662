package app

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"

	"github.com/sluicelb/sluice/internal/testtool"
)

// TestChangeUnderLoad: while keep-alive clients (and wrk, when installed)
// send requests without pause, a server is drained, another re-weighted,
// one added and one removed through Control.Change, each followed by a
// reload (what SIGHUP runs): not one request fails, each change holds
// after the reload, the file differs from the original only in the
// changed values, and a restart from the file runs the same state.
func TestChangeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	r := chNewRig(t, false)
	a, b, c, d := r.b[0], r.b[1], r.b[2], r.b[3]

	var ok, failed atomic.Int64
	var mu sync.Mutex
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + r.web + "/")
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || len(body) != 1) {
						err = fmt.Errorf("status %d body %q", resp.StatusCode, body)
					}
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if len(errs) < 10 {
						errs = append(errs, err.Error())
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// wrk beside the Go clients, for the whole sequence.
	var wrkOut []byte
	var wrkErr error
	wrkDone := make(chan struct{})
	if path, ok := testtool.Find(t, "wrk"); ok {
		go func() {
			defer close(wrkDone)
			wrkOut, wrkErr = exec.Command(path, "-t1", "-c8", "-d7s", "http://"+r.web+"/").CombinedOutput()
		}()
	} else {
		close(wrkDone)
		t.Log("wrk is not installed: the Go clients alone make the load")
	}
	// waitFor polls until cond holds (under load), or fails.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		obsEventually(t, 10*time.Second, func() error {
			if !cond() {
				return fmt.Errorf("%s", what)
			}
			return nil
		})
	}
	reload := func(when string) {
		t.Helper()
		if err := r.app.ReloadFrom(r.path, SourceSignal); err != nil {
			t.Fatalf("reload after %s: %v", when, err)
		}
	}
	waitFor("load flowing", func() bool { return ok.Load() > 200 })

	// 1. Drain a: it gets no new request.
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a.addr, Server: state.ServerSpec{Drain: ptr(true)}})
	reload("drain")
	if s := r.server("app", a.addr); !s.Draining() {
		t.Fatal("a does not drain after the reload")
	}
	waitFor("a drained", func() bool { return r.server("app", a.addr).Active() == 0 })
	h := a.Hits()
	n := ok.Load()
	waitFor("more load", func() bool { return ok.Load() > n+300 })
	if a.Hits() != h {
		t.Fatalf("the drained server got %d requests", a.Hits()-h)
	}
	// 2. Weight of b 1 → 4.
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: b.addr, Server: state.ServerSpec{Weight: ptr(4)}})
	reload("weight")
	if w := r.server("app", b.addr).Weight(); w != 4 {
		t.Fatalf("weight of b after the reload = %d", w)
	}
	hb, hc := b.Hits(), c.Hits()
	waitFor("b and c share 4:1", func() bool {
		db, dc := b.Hits()-hb, c.Hits()-hc
		return dc >= 50 && float64(db)/float64(dc) > 3.5 && float64(db)/float64(dc) < 4.5
	})
	// 3. Add d.
	r.mustChange(state.Change{Op: state.OpAddServer, Backend: "app", Server: state.ServerSpec{Address: d.addr, Weight: ptr(2)}})
	reload("add")
	waitFor("d serving", func() bool { return d.Hits() > 20 })
	// 4. Remove c: it drains first.
	r.mustChange(state.Change{Op: state.OpRemoveServer, Backend: "app", Address: c.addr})
	reload("remove")
	waitFor("c drained", func() bool { return c.Hits() > 0 && r.server("app", c.addr) == nil })
	hc = c.Hits()
	n = ok.Load()
	waitFor("more load", func() bool { return ok.Load() > n+300 })
	if c.Hits() != hc {
		t.Fatalf("the removed server got %d requests", c.Hits()-hc)
	}
	close(stop)
	wg.Wait()
	<-wrkDone
	t.Logf("Go clients: %d requests, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed: %v", failed.Load(), errs)
	}
	if wrkOut != nil {
		out := string(wrkOut)
		if wrkErr != nil || strings.Contains(out, "Non-2xx") || strings.Contains(out, "Socket errors") || !strings.Contains(out, "Requests/sec") {
			t.Fatalf("wrk: %v\n%s", wrkErr, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "requests in") || strings.Contains(l, "Requests/sec") {
				t.Logf("wrk: %s", strings.TrimSpace(l))
			}
		}
	}

	// The file differs from the original only in the changed values.
	want := strings.NewReplacer(
		"      - address: \""+a.addr+"\"   # a\n        weight: 2\n",
		"      - address: \""+a.addr+"\"   # a\n        weight: 2\n        drain: true\n",
		"      - address: \""+b.addr+"\"   # b\n", "      - address: \""+b.addr+"\"   # b\n        weight: 4\n",
		"      - {address: \""+c.addr+"\", weight: 1}   # c\n", "",
	).Replace(r.text)
	want = strings.Replace(want, "  - name: spare\n", "      - address: "+d.addr+"\n        weight: 2\n  - name: spare\n", 1)
	if got := r.file(); got != want {
		t.Fatalf("file after the changes:\n%s\nwant:\n%s", got, want)
	}
	// A restart runs the same.
	r.stop()
	r.start()
	for addr, want := range map[string]int{a.addr: 2, b.addr: 4, d.addr: 2} {
		if s := r.server("app", addr); s == nil || s.Weight() != want {
			t.Fatalf("after a restart: server %s = %v", addr, s)
		}
	}
	if !r.server("app", a.addr).Draining() || r.server("app", c.addr) != nil {
		t.Fatal("after a restart: a must drain and c be gone")
	}
}
