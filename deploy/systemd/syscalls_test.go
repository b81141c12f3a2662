package systemd

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/freeport"
	"github.com/sluicelb/sluice/internal/testtool"
)

// expandFilter lists the system calls of a systemd filter set (@name,
// nested sets expanded) with `systemd-analyze syscall-filter`.
func expandFilter(t *testing.T, sa, set string, into map[string]bool) {
	t.Helper()
	out, err := exec.Command(sa, "syscall-filter", set).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", set, err)
	}
	lines := strings.Split(string(out), "\n")
	for _, l := range lines[1:] { // the first line is the set's name
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#':
		case l[0] == '@':
			expandFilter(t, sa, l, into)
		default:
			into[l] = true
		}
	}
}

// allowedSyscalls applies the unit's SystemCallFilter= lines in order (an
// allow list, then "~" deny lists).
func allowedSyscalls(t *testing.T, sa string, filters []string) map[string]bool {
	t.Helper()
	allowed := map[string]bool{}
	for _, f := range filters {
		deny := strings.HasPrefix(f, "~")
		for _, item := range strings.Fields(strings.TrimPrefix(f, "~")) {
			set := map[string]bool{}
			if item[0] == '@' {
				expandFilter(t, sa, item, set)
			} else {
				set[item] = true
			}
			for s := range set {
				if deny {
					delete(allowed, s)
				} else {
					allowed[s] = true
				}
			}
		}
	}
	return allowed
}

// TestUnitSandboxAllowsSluice traces sluice (strace -f) through start-up,
// HTTP and TCP traffic with megabytes of bytes each way, a metrics
// scrape, a reload, a log reopen, a binary upgrade and a graceful stop, and
// checks that every system call it made passes the unit's SystemCallFilter
// and every socket it opened the unit's RestrictAddressFamilies: a call
// outside the filter would kill the service with SIGSYS.
func TestUnitSandboxAllowsSluice(t *testing.T) {
	if testing.Short() {
		t.Skip("traces a running sluice; skipped with -short")
	}
	sa := testtool.Need(t, "systemd-analyze")
	st := testtool.Need(t, "strace")
	u := parseUnit(t, unitFile)
	allowed := allowedSyscalls(t, sa, u["Service"]["SystemCallFilter"])
	families := strings.Fields(u.get("Service", "RestrictAddressFamilies"))

	// A backend answering HTTP, and one echoing TCP.
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d", n)
	})}
	go hs.Serve(hln)
	t.Cleanup(func() { hs.Close() })
	eln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eln.Close() })
	go func() {
		for {
			c, err := eln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	addr := func() string {
		a, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	admin, web, tcp := addr(), addr(), addr()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: %q}
shutdown_timeout: 5s
frontends:
  - {name: web, mode: http, listen: %q, backend: web}
  - {name: tcp, mode: tcp, listen: %q, backend: echo}
backends:
  - name: web
    servers: [{address: %q}]
    health: {active: {type: http, path: /, interval: 100ms, timeout: 50ms}}
  - name: echo
    servers: [{address: %q}]
    health: {active: {type: tcp, interval: 100ms, timeout: 50ms}}
`, admin, filepath.Join(dir, "access.log"), web, tcp, hln.Addr(), eln.Addr())), 0o644)

	trace := filepath.Join(dir, "trace")
	cmd := exec.Command(st, "-f", "-qq", "-o", trace, sluiceBin, "run", "-c", cfg, "--watch")
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	logb := logFile{logf.Name()}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	client := &http.Client{Timeout: 5 * time.Second}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s\n%s", what, logb.String())
			}
		}
	}
	status := func(url string) int {
		r, err := client.Get(url)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode
	}
	waitFor("ready", func() bool { return status("http://"+admin+"/readyz") == 200 })
	traffic := func() {
		t.Helper()
		waitFor("an HTTP answer", func() bool { return status("http://"+web+"/") == 200 })
		r, err := client.Post("http://"+web+"/", "application/octet-stream", bytes.NewReader(make([]byte, 4<<20)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if string(body) != "got 4194304" {
			t.Fatalf("POST through sluice: %q", body)
		}
		c, err := net.DialTimeout("tcp", tcp, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go c.Write(make([]byte, 8<<20))
		if n, err := io.CopyN(io.Discard, c, 8<<20); err != nil {
			t.Fatalf("TCP echo through sluice: %d bytes, %v", n, err)
		}
		if status("http://"+admin+"/metrics") != 200 {
			t.Fatal("metrics")
		}
	}
	traffic()

	// Find sluice (strace's child) and put it through its signals.
	pid := 0
	waitFor("sluice's pid", func() bool {
		m := regexp.MustCompile(`(?m)^(\d+) +execve\("` + regexp.QuoteMeta(sluiceBin)).FindSubmatch(readFile(trace))
		if m != nil {
			pid, _ = strconv.Atoi(string(m[1]))
		}
		return pid > 0
	})
	syscall.Kill(pid, syscall.SIGHUP)
	waitFor("reload", func() bool { return strings.Contains(logb.String(), "configuration reloaded") })
	syscall.Kill(pid, syscall.SIGUSR1)
	syscall.Kill(pid, syscall.SIGUSR2)
	waitFor("upgrade", func() bool { return strings.Contains(logb.String(), "new process ready") })
	m := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`).FindStringSubmatch(logb.String())
	if m == nil {
		t.Fatalf("no new process:\n%s", logb.String())
	}
	child, _ := strconv.Atoi(m[1])
	traffic()
	syscall.Kill(child, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice did not stop\n%s", logb.String())
	}

	used := map[string]bool{}
	fams := map[string]bool{}
	call := regexp.MustCompile(`^\d+ +(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)`)
	sock := regexp.MustCompile(`socket\((AF_[A-Z0-9]+)`)
	for _, l := range strings.Split(string(readFile(trace)), "\n") {
		if m := call.FindStringSubmatch(l); m != nil {
			used[m[1]] = true
		}
		if m := sock.FindStringSubmatch(l); m != nil {
			fams[m[1]] = true
		}
	}
	var names, denied []string
	for s := range used {
		names = append(names, s)
		if !allowed[s] {
			denied = append(denied, s)
		}
	}
	slices.Sort(names)
	if len(names) < 30 || !used["execve"] || !used["accept4"] || !used["epoll_pwait"] {
		t.Fatalf("the trace looks incomplete: %v", names)
	}
	if len(denied) > 0 {
		t.Fatalf("system calls outside SystemCallFilter=%q: %v", u["Service"]["SystemCallFilter"], denied)
	}
	for f := range fams {
		if !slices.Contains(families, f) {
			t.Fatalf("socket family %s outside RestrictAddressFamilies=%v", f, families)
		}
	}
	t.Logf("%d distinct system calls, all allowed: %s", len(names), strings.Join(names, " "))
}

// logFile is sluice's log, read whole each time.
type logFile struct{ path string }

func (l logFile) String() string { return string(readFile(l.path)) }

func readFile(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}
