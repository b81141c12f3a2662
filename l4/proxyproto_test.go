package l4

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicelb/sluice/proxyproto"
	"golang.org/x/sys/unix"
)

// TestPeekSignature: what an untrusted peer has sent by the time its server
// is dialled is looked at without being consumed — a PROXY signature (v1 or
// v2) is found, anything else is not, and the bytes are still there for the
// relay.
func TestPeekSignature(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, dest := netip.MustParseAddrPort("203.0.113.7:41000"), netip.MustParseAddrPort("198.51.100.1:443")
	for _, tc := range []struct {
		name string
		sent []byte
		want bool
	}{
		{"v1", proxyproto.AppendV1(nil, client, dest), true},
		{"v2", proxyproto.AppendV2(nil, proxyproto.Proxy, client, dest), true},
		{"plain", []byte("GET / HTTP/1.1\r\n\r\n"), false},
		{"nothing yet", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			s := sc.(*net.TCPConn)
			if len(tc.sent) > 0 {
				if _, err := c.Write(tc.sent); err != nil {
					t.Fatal(err)
				}
				waitReadable(t, s, len(tc.sent))
			}
			if got := peekSignature(s); got != tc.want {
				t.Fatalf("peekSignature = %v, want %v", got, tc.want)
			}
			if len(tc.sent) == 0 {
				return
			}
			_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, len(tc.sent))
			if _, err := io.ReadFull(s, b); err != nil || string(b) != string(tc.sent) {
				t.Fatalf("after the peek the relay reads %q (%v), want %q", b, err, tc.sent)
			}
		})
	}
}

// waitReadable polls (MSG_PEEK, deadline 5 s) until n bytes have arrived on s.
func waitReadable(t *testing.T, s *net.TCPConn, n int) {
	t.Helper()
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		got := 0
		_ = rc.Read(func(fd uintptr) bool {
			got, _, _ = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
			return true
		})
		if got >= n {
			return
		}
	}
	t.Fatalf("%d bytes did not arrive within 5s", n)
}
