package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoBackend echoes every byte until the client closes.
func echoBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// loadStats counts outcomes of the continuous load.
type loadStats struct {
	httpOK, httpFail, tcpOK, tcpFail atomic.Int64
	mu                               sync.Mutex
	errs                             []string
}

func (s *loadStats) fail(kind string, err error) {
	s.mu.Lock()
	if len(s.errs) < 20 {
		s.errs = append(s.errs, kind+": "+err.Error())
	}
	s.mu.Unlock()
}

// TestZeroDowntime runs keep-alive HTTP clients, short TCP sessions and
// long TCP sessions against sluice for more than 10 s while the
// configuration is reloaded again and again (weights changed, servers added
// and removed, an invalid file in between) and the binary is upgraded in
// place (SIGUSR2). Not one request may fail and not one connection may be
// refused.
func TestZeroDowntime(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running load test")
	}
	webs := []string{httpBackend(t, "a"), httpBackend(t, "b"), httpBackend(t, "c")}
	echos := []string{echoBackend(t), echoBackend(t)}
	admin, web, tcp := freeAddr(t), freeAddr(t), freeAddr(t)
	gen := func(i int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "admin: {listen: %q}\nlogging: {access_log: off}\nshutdown_timeout: 30s\n", admin)
		fmt.Fprintf(&b, "frontends:\n  - {name: web, mode: http, listen: %q, backend: web}\n", web)
		fmt.Fprintf(&b, "  - {name: tcp, mode: tcp, listen: %q, backend: tcp}\n", tcp)
		b.WriteString("backends:\n  - name: web\n    algorithm: weighted_round_robin\n    drain_timeout: 20s\n    servers:\n")
		for j, s := range webs {
			if (i+j)%3 == 2 { // one of three servers is out in each version
				continue
			}
			fmt.Fprintf(&b, "      - {address: %q, weight: %d}\n", s, 1+(i+j)%4)
		}
		b.WriteString("  - name: tcp\n    drain_timeout: 20s\n    servers:\n")
		for j, s := range echos {
			if i%2 == 1 && j == 1 {
				continue
			}
			fmt.Fprintf(&b, "      - {address: %q}\n", s)
		}
		if i%4 == 3 {
			b.WriteString("this is: [not valid\n")
		}
		return b.String()
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", gen(0))
	p := start(t, "run", "-c", path)
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })

	var st loadStats
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; i < 16; i++ { // keep-alive HTTP clients
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := client.Get("http://" + web + "/")
				if err != nil {
					st.httpFail.Add(1)
					st.fail("http", err)
					continue
				}
				body, err := io.ReadAll(r.Body)
				r.Body.Close()
				if err != nil || r.StatusCode != 200 || len(body) != 1 {
					st.httpFail.Add(1)
					st.fail("http", fmt.Errorf("status %d body %q err %v", r.StatusCode, body, err))
					continue
				}
				st.httpOK.Add(1)
			}
		}()
	}
	roundTrip := func(c net.Conn, msg []byte, buf []byte) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			return err
		}
		if string(buf[:len(msg)]) != string(msg) {
			return fmt.Errorf("echo mismatch")
		}
		return nil
	}
	for i := 0; i < 4; i++ { // short TCP sessions: connect, round trip, close
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg, buf := []byte("ping "+strconv.Itoa(i)+"\n"), make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", tcp, 5*time.Second)
				if err == nil {
					err = roundTrip(c, msg, buf)
					c.Close()
				}
				if err != nil {
					st.tcpFail.Add(1)
					st.fail("tcp", err)
					continue
				}
				st.tcpOK.Add(1)
			}
		}(i)
	}
	for i := 0; i < 2; i++ { // long TCP sessions across every reload and the upgrade
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", tcp, 5*time.Second)
			if err != nil {
				st.tcpFail.Add(1)
				st.fail("long tcp dial", err)
				return
			}
			defer c.Close()
			msg, buf := []byte("long "+strconv.Itoa(i)+"\n"), make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if err := roundTrip(c, msg, buf); err != nil {
					st.tcpFail.Add(1)
					st.fail("long tcp", err)
					return
				}
				st.tcpOK.Add(1)
			}
		}(i)
	}

	// Reload every 300 ms for 12 s; upgrade the binary half way.
	begin := time.Now()
	reloads, upgraded := 0, false
	target := p.cmd.Process
	for i := 1; time.Since(begin) < 12*time.Second; i++ {
		time.Sleep(300 * time.Millisecond)
		writeFile(t, dir, "c.yaml", gen(i))
		if err := target.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		reloads++
		// The new process reads the file as it is: upgrade while it is
		// valid (an upgrade over an invalid file fails, and the old process
		// rightly keeps serving).
		if !upgraded && time.Since(begin) > 5*time.Second && i%4 != 3 {
			upgraded = true
			if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "new process ready", 20*time.Second, func() bool {
				return strings.Contains(p.log(), "binary upgrade: new process ready")
			})
			// From now on signals go to the new process.
			m := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`).FindStringSubmatch(p.log())
			if m == nil {
				t.Fatalf("no pid of the new process in the log")
			}
			pid, _ := strconv.Atoi(m[1])
			np, err := os.FindProcess(pid)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { np.Kill() })
			target = np
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d reloads (every 4th invalid), 1 binary upgrade: http ok %d fail %d, tcp ok %d fail %d",
		reloads, st.httpOK.Load(), st.httpFail.Load(), st.tcpOK.Load(), st.tcpFail.Load())
	if st.httpFail.Load() != 0 || st.tcpFail.Load() != 0 {
		t.Fatalf("failures under reload: %v", st.errs)
	}
	if st.httpOK.Load() < 1000 || st.tcpOK.Load() < 500 {
		t.Fatalf("too little traffic to mean anything")
	}
	// The old process has drained and exited cleanly; the new one stops on SIGTERM.
	if code := p.wait(t, 35*time.Second); code != 0 {
		t.Fatalf("old process exit code %d", code)
	}
	if !strings.Contains(p.log(), `"inherited_listeners":3`) {
		t.Fatalf("the new process did not inherit the 3 listeners")
	}
	// A draining sluice closes idle keep-alive connections only at
	// shutdown_timeout: the client lets go of its own first.
	tr.CloseIdleConnections()
	_ = target.Signal(syscall.SIGTERM)
	waitFor(t, "new process exits", 10*time.Second, func() bool { return target.Signal(syscall.Signal(0)) != nil })
}
