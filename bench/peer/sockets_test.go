package peer

import (
	"net"
	"os"
	"testing"
)

// TestTreeSockets: a connection accepted by this process adds its two ends
// (client and accepted socket) to the count, and closing them removes them.
func TestTreeSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before := TreeSockets(os.Getpid())
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if n := TreeSockets(os.Getpid()); n != before+2 {
		t.Errorf("with one connection: %d sockets, want %d", n, before+2)
	}
	c.Close()
	s.Close()
	if n := TreeSockets(os.Getpid()); n != before {
		t.Errorf("after closing: %d sockets, want %d", n, before)
	}
}
