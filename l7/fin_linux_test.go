//go:build linux

package l7

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLastBytesLeaveWithFIN: a response after which the proxy closes the
// connection (Connection: close) is sent with MSG_MORE, so close(2) sends
// its last bytes and the FIN in one segment. The client counts what came:
// the SYN-ACK, perhaps a bare ACK of its request, and one segment with the
// whole 1 KiB response and the FIN, where a separate FIN would make one more
// segment without data.
func TestLastBytesLeaveWithFIN(t *testing.T) {
	body := strings.Repeat("x", 1024)
	b := startBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) })
	bk := newBackend(t, "web", BackendOptions{}, b.addr)
	_, addr := startProxy(t, Options{Default: bk})
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c) // to the FIN
		if err != nil || !strings.HasSuffix(string(got), body) || !strings.HasPrefix(string(got), "HTTP/1.1 200") {
			t.Fatalf("round %d: response %q (%v)", i, got, err)
		}
		rc, _ := c.(*net.TCPConn).SyscallConn()
		var ti *unix.TCPInfo
		var terr error
		_ = rc.Control(func(fd uintptr) { ti, terr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
		_ = c.Close()
		if terr != nil {
			t.Fatal(terr)
		}
		if ti.Data_segs_in != 1 || ti.Segs_in-ti.Data_segs_in > 2 {
			t.Fatalf("round %d: %d segments in, %d with data; want the response and the FIN in one (at most 2 without data: SYN-ACK, ACK)", i, ti.Segs_in, ti.Data_segs_in)
		}
	}
}
