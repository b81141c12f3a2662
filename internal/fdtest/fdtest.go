// Package fdtest helps tests that run a listener out of file descriptors.
package fdtest

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// Open counts the process's open descriptors (/proc/self/fd); it skips the
// test where that cannot be read.
func Open(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// RefusedAtEMFILE runs the process out of descriptors and dials addr with
// the one left free, so that the server's accept (in this process) gets
// EMFILE; probe then talks to the connection (it must set its own
// deadline). A refusal — the dial fails, or probe gets a reset or end of
// stream — is what a server should do at EMFILE; a probe that times out
// fails the test (the client was left hanging). Descriptors being released
// elsewhere may let a dial through (served), so it retries, up to 20 times,
// until one is refused.
//
// It lowers the soft RLIMIT_NOFILE to the open count plus 64 for the
// duration and restores the limit and frees every descriptor it took before
// it returns. It skips the test where the limit cannot be changed.
func RefusedAtEMFILE(t testing.TB, addr string, probe func(net.Conn) error) (refused, served int) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	lim := old
	lim.Cur = uint64(Open(t) + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	var hog []*os.File
	defer func() {
		for _, f := range hog {
			f.Close()
		}
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	}()
	for attempt := 0; attempt < 20 && refused == 0; attempt++ {
		for { // take every descriptor left
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			hog = append(hog, f)
		}
		if len(hog) > 0 {
			hog[len(hog)-1].Close()
			hog = hog[:len(hog)-1]
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil { // else the reset came during connect: refused
			err = probe(c)
			c.Close()
		}
		var ne net.Error
		switch {
		case err == nil:
			served++
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatal("client at EMFILE: read timed out, want the connection refused (reset or EOF)")
		default:
			refused++
		}
	}
	return refused, served
}
