//go:build linux

package l7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCloseLeavesNoPollerEntry: a client connection the proxy closes after
// its response (Connection: close) is closed without epoll_ctl DEL when no
// duplicate of its socket exists (gnet.SoleOwner): close(2) drops the
// registration with the socket's last reference. While a process is being
// started (syscall.ForkLock held for writing, from fork to exec) the child
// holds copies of every descriptor, so the registration is removed first.
//
// The test stands in for that child: it duplicates the proxy's side of each
// client connection before the request. With ForkLock held, no poller keeps
// an entry for those sockets once the proxy has closed them, although they
// are still open here; without it the entries stay until the duplicates are
// closed, and then they are gone too.
func TestCloseLeavesNoPollerEntry(t *testing.T) {
	b := startBackend(t, okHandler)
	bk := newBackend(t, "web", BackendOptions{}, b.addr)
	p, addr := startProxy(t, Options{Default: bk})
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)

	// round makes 8 connections, duplicates the proxy's side of each and
	// sends one request on each; it returns the duplicates (the clients
	// are closed with them: a socket the proxy no longer reads, still
	// registered, would keep waking its loop once the client's FIN came).
	seen := map[uint64]bool{}
	round := func(forking bool) (held []int, inodes map[uint64]bool) {
		const n = 8
		clients := make([]net.Conn, n)
		for i := range clients {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			clients[i] = c
		}
		inodes = map[uint64]bool{}
		waitFor(t, 5*time.Second, "the proxy's side of each connection", func() bool {
			inodes = acceptedInodes(t, port)
			for ino := range seen { // an earlier round's, still open
				delete(inodes, ino)
			}
			return len(inodes) == n
		})
		for ino := range inodes { // the "child's" copies
			seen[ino] = true
			fd := fdOfInode(t, ino)
			d, err := syscall.Dup(fd)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, d)
		}
		if forking {
			syscall.ForkLock.Lock()
			defer syscall.ForkLock.Unlock()
		}
		for i, c := range clients {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "GET /r"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 || !resp.Close {
				t.Fatalf("request %d: status %d, close %v", i, resp.StatusCode, resp.Close)
			}
		}
		// The duplicates keep the sockets open, so the clients see no FIN:
		// the proxy's count says when it has closed its descriptors.
		waitFor(t, 5*time.Second, "the proxy to close the connections", func() bool { return p.Stats().ActiveConns == 0 })
		t.Cleanup(func() { closeAll(held) })
		return held, inodes
	}

	// A process is being started: every registration is removed at close.
	_, inodes := round(true)
	if left := pollerEntries(t, inodes); len(left) != 0 {
		t.Fatalf("with a fork in progress, closed connections are still registered: %v", left)
	}

	// No fork: the close leaves the registration to close(2), so while the
	// stand-in duplicates live the entries are there, and then they go.
	held, inodes := round(false)
	if left := pollerEntries(t, inodes); len(left) != len(inodes) {
		t.Fatalf("without a fork, %d of %d closed connections are registered; want all (no DEL was made)", len(left), len(inodes))
	}
	closeAll(held)
	if left := pollerEntries(t, inodes); len(left) != 0 {
		t.Fatalf("registrations outlived the sockets' last descriptor: %v", left)
	}
}

// closeAll closes the descriptors in fds, each once (it marks them -1).
func closeAll(fds []int) {
	for i, fd := range fds {
		if fd >= 0 {
			_ = syscall.Close(fd)
			fds[i] = -1
		}
	}
}

// acceptedInodes returns the socket inodes of established TCP connections
// whose local port is port (the proxy's side of its clients).
func acceptedInodes(t *testing.T, port int) map[uint64]bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/net/tcp")
	if err != nil {
		t.Skipf("no /proc/self/net/tcp: %v", err)
	}
	out := map[uint64]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "01" { // 01: ESTABLISHED
			continue
		}
		local := f[1]
		i := strings.LastIndexByte(local, ':')
		p, err := strconv.ParseUint(local[i+1:], 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		if ino, err := strconv.ParseUint(f[9], 10, 64); err == nil && ino != 0 {
			out[ino] = true
		}
	}
	return out
}

// fdOfInode returns this process's descriptor for the socket with inode ino.
func fdOfInode(t *testing.T, ino uint64) int {
	t.Helper()
	want := fmt.Sprintf("socket:[%d]", ino)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == want {
			fd, _ := strconv.Atoi(e.Name())
			return fd
		}
	}
	t.Fatalf("no descriptor for socket inode %d", ino)
	return -1
}

// pollerEntries returns the entries of this process's epoll instances
// (/proc/self/fdinfo: "tfd: N events: … ino: HEX") whose target file is one
// of inodes.
func pollerEntries(t *testing.T, inodes map[uint64]bool) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err != nil || l != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if !strings.HasPrefix(line, "tfd:") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if h, ok := strings.CutPrefix(f, "ino:"); ok {
					if ino, err := strconv.ParseUint(h, 16, 64); err == nil && inodes[ino] {
						out = append(out, "epoll "+e.Name()+": "+line)
					}
				}
			}
		}
	}
	return out
}
