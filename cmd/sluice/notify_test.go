package main

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystemd is the notify side of systemd's service manager for one
// Type=notify unit with NotifyAccess=main: it reads sd_notify datagrams
// with the sender's credentials (SO_PASSCRED, as systemd does), drops those
// not sent by the main process, and tracks MAINPID= and the READY=,
// RELOADING=, STOPPING= states the way src/core/service.c does.
type fakeSystemd struct {
	path string
	conn *net.UnixConn

	mu       sync.Mutex
	mainPID  int
	state    string   // "starting", "running", "reloading", "stopping"
	log      []string // "pid: message" for every datagram
	rejected []string // datagrams from a process other than the main one
	monoOK   bool     // every RELOADING=1 carried a plausible MONOTONIC_USEC
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	s := &fakeSystemd{path: path, conn: conn, state: "starting", monoOK: true}
	t.Cleanup(func() { conn.Close() })
	go s.serve()
	return s
}

func (s *fakeSystemd) serve() {
	buf, oob := make([]byte, 4096), make([]byte, 1024)
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		pid := 0
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for i := range msgs {
				if cred, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
					pid = int(cred.Pid)
				}
			}
		}
		s.handle(pid, string(buf[:n]))
	}
}

func (s *fakeSystemd) handle(pid int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, fmt.Sprintf("%d: %q", pid, msg))
	if pid != s.mainPID { // NotifyAccess=main
		s.rejected = append(s.rejected, fmt.Sprintf("%d (main %d): %q", pid, s.mainPID, msg))
		return
	}
	tags := map[string]string{}
	for _, l := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			tags[k] = v
		}
	}
	if v, ok := tags["MAINPID"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			s.mainPID = n
		}
	}
	switch {
	case tags["STOPPING"] == "1":
		s.state = "stopping"
	case tags["READY"] == "1":
		s.state = "running"
	case tags["RELOADING"] == "1":
		s.state = "reloading"
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		now := ts.Nano() / 1000
		us, err := strconv.ParseInt(tags["MONOTONIC_USEC"], 10, 64)
		if err != nil || us > now || us < now-int64(time.Minute/time.Microsecond) {
			s.monoOK = false
		}
	}
}

func (s *fakeSystemd) snapshot() (mainPID int, state string, rejected []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mainPID, s.state, append([]string(nil), s.rejected...)
}

func (s *fakeSystemd) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.log {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// TestSystemdNotifyMainPIDHandOver runs sluice as systemd would with
// Type=notify and NotifyAccess=main (deploy/systemd/sluice.service): READY
// at start, RELOADING/READY around a SIGHUP, and across a binary upgrade
// the service stays active and its main PID becomes the new process, with
// no message from anything but the main process; SIGTERM to the new process
// then reports STOPPING.
func TestSystemdNotifyMainPIDHandOver(t *testing.T) {
	sd := newFakeSystemd(t)
	be := httpBackend(t, "a")
	admin, listen := freeAddr(t), freeAddr(t)
	path := writeFile(t, t.TempDir(), "c.yaml", httpConfig(admin, listen, be))
	sd.mu.Lock()
	p := startEnv(t, []string{"NOTIFY_SOCKET=" + sd.path}, "run", "-c", path)
	sd.mainPID = p.cmd.Process.Pid // systemd forked it: the main PID from the start
	sd.mu.Unlock()
	state := func(want string) {
		t.Helper()
		waitFor(t, "state "+want, 10*time.Second, func() bool { _, st, _ := sd.snapshot(); return st == want })
	}
	state("running")

	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "RELOADING=1 then READY=1", 10*time.Second, func() bool {
		_, st, _ := sd.snapshot()
		return sd.count("RELOADING=1") == 1 && st == "running"
	})

	_ = p.cmd.Process.Signal(syscall.SIGUSR2)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("old process exit code %d", code)
	}
	m := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`).FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no new process:\n%s", p.log())
	}
	child, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	mainPID, st, rejected := sd.snapshot()
	if mainPID != child || st != "running" || len(rejected) != 0 {
		t.Fatalf("after the upgrade: main PID %d (new process %d), state %s, rejected %v\nall: %v",
			mainPID, child, st, rejected, sd.log)
	}
	if c, body, _ := get("http://" + listen + "/"); c != 200 || body != "a" {
		t.Fatalf("after the upgrade: %d %q", c, body)
	}

	// The new process is the main process now: reload and stop through it.
	_ = syscall.Kill(child, syscall.SIGHUP)
	waitFor(t, "second reload", 10*time.Second, func() bool {
		_, st, _ := sd.snapshot()
		return sd.count("RELOADING=1") == 2 && st == "running"
	})
	_ = syscall.Kill(child, syscall.SIGTERM)
	state("stopping")
	waitFor(t, "new process stopped", 10*time.Second, func() bool { return !alive(child) })
	if _, _, rejected := sd.snapshot(); len(rejected) != 0 || !sd.monoOK {
		t.Fatalf("rejected %v, MONOTONIC_USEC ok %v; all: %v", rejected, sd.monoOK, sd.log)
	}
}
