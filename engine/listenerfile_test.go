package engine

import (
	"net"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenerFileKeepsNonBlocking hands a listener to a child process the way
// a binary upgrade does and checks the shared socket is still non-blocking
// afterwards: a loop's accept4 on a blocking listener can block when another
// process takes the pending connection first.
func TestListenerFileKeepsNonBlocking(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ListenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	cmd.ExtraFiles = append(cmd.ExtraFiles, f) // exec calls f.Fd()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the listener turned blocking when its file was handed to a child process")
	}
	// The duplicate is a working listener on the same port.
	dl, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if dl.Addr().String() != ln.Addr().String() {
		t.Fatalf("duplicate listens on %s, want %s", dl.Addr(), ln.Addr())
	}
}
