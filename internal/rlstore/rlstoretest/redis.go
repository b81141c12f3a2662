// Package rlstoretest runs a real redis-server for tests.
package rlstoretest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/freeport"
	"github.com/sluicelb/sluice/internal/testtool"
)

// Redis is a redis-server started by a test (also used by the scale-out
// test in cmd/sluice). It skips the test where redis-server is missing
// (failing under SLUICE_REQUIRE_TOOLS=1).
type Redis struct {
	Addr string
	t    testing.TB
	bin  string
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port, without
// persistence, and stops it when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := testtool.Need(t, "redis-server")
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{Addr: addr, t: t, bin: bin, dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server on the same port, with empty data.
func (r *Redis) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			l, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(l, "+PONG") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	r.t.Fatalf("redis-server did not answer on %s:\n%s", r.Addr, log)
}

// Stop kills the server (a crash, as far as clients can tell) and waits.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }
