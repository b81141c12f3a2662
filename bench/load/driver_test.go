package load

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/bench/backend"
)

func TestRunHTTPKeepAlive(t *testing.T) {
	b, err := backend.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r, err := RunHTTP(context.Background(), HTTPOptions{Addr: b.Addr(), Path: "/size/1024", Conns: 4,
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 50 || r.Errors != 0 || r.Non2xx != 0 || r.P50 <= 0 || r.P99 < r.P50 {
		t.Fatalf("%+v", r)
	}
	if r.Bytes < r.Requests*1024 {
		t.Fatalf("Bytes=%d for %d requests of 1 KiB", r.Bytes, r.Requests)
	}
	if c := b.Conns(); c != 5 { // the probe + 4 keep-alive connections
		t.Fatalf("backend saw %d connections, want 5", c)
	}
}

func TestRunHTTPNewConnAndStatus(t *testing.T) {
	b, err := backend.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r, err := RunHTTP(context.Background(), HTTPOptions{Addr: b.Addr(), Path: "/status/503", Conns: 2,
		Duration: 200 * time.Millisecond, NewConnPerRequest: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 10 || r.Non2xx != r.Requests || r.Errors != 0 {
		t.Fatalf("%+v", r)
	}
	if c := b.Conns(); c < r.Requests {
		t.Fatalf("%d connections for %d requests: not one per request", c, r.Requests)
	}
}

func TestRunHTTPUnreachable(t *testing.T) {
	_, err := RunHTTP(context.Background(), HTTPOptions{Addr: "127.0.0.1:1", Duration: time.Second, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err=%v", err)
	}
}

func TestRunTCP(t *testing.T) {
	e, err := backend.StartTCPEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r, err := RunTCPRR(context.Background(), TCPOptions{Addr: e.Addr(), Conns: 4, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 50 || r.Errors != 0 || r.P99 <= 0 {
		t.Fatalf("RR %+v", r)
	}
	r, err = RunTCPBulk(context.Background(), TCPOptions{Addr: e.Addr(), Conns: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes < 1<<20 || r.Errors != 0 || r.MBps() <= 0 {
		t.Fatalf("bulk %+v", r)
	}
}

func TestReadResponse(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" +
		"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\na;x=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n" +
		"HTTP/1.0 200 OK\r\n\r\nrest-until-eof"
	br := bufio.NewReader(strings.NewReader(in))
	for _, want := range []struct {
		status int
		keep   bool
	}{{200, true}, {404, true}, {204, false}, {200, false}} {
		st, _, keep, err := readResponse(br)
		if err != nil || st != want.status || keep != want.keep {
			t.Fatalf("got %d keep=%v err=%v, want %+v", st, keep, err, want)
		}
	}
	for _, bad := range []string{"HTTP/2 200\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"} {
		if _, _, _, err := readResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Fatalf("no error for %q", bad)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(strings.NewReader(string(b)))
		for i := 0; i < 4; i++ {
			if _, _, _, err := readResponse(br); err != nil {
				return
			}
		}
	})
}

func TestOpenIdle(t *testing.T) {
	b, err := backend.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	conns, err := OpenIdle(context.Background(), b.Addr(), "/", 200)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(conns)
	if len(conns) != 200 || b.Requests() != 200 || b.Conns() != 200 {
		t.Fatalf("conns=%d requests=%d accepted=%d", len(conns), b.Requests(), b.Conns())
	}
	if _, err := OpenIdle(context.Background(), "127.0.0.1:1", "/", 3); err == nil {
		t.Fatal("want error for a closed port")
	}
}

func TestOpenIdleTCP(t *testing.T) {
	e, err := backend.StartTCPEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	conns, err := OpenIdleTCP(context.Background(), e.Addr(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 100 || e.Active() != 100 || e.Bytes() != 400 {
		t.Fatalf("conns=%d active=%d bytes=%d", len(conns), e.Active(), e.Bytes())
	}
	CloseAll(conns)
	deadline := time.Now().Add(5 * time.Second)
	for e.Active() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open after CloseAll", e.Active())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMarkBracketsWindow checks Mark is called once open and once closed, around the
// measured requests only.
func TestMarkBracketsWindow(t *testing.T) {
	e, err := backend.StartTCPEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var marks []bool
	var at []time.Time
	r, err := RunTCPRR(context.Background(), TCPOptions{Addr: e.Addr(), Conns: 2, Duration: 200 * time.Millisecond,
		Warmup: 100 * time.Millisecond, Mark: func(open bool) { marks = append(marks, open); at = append(at, time.Now()) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != 2 || !marks[0] || marks[1] {
		t.Fatalf("marks=%v", marks)
	}
	if d := at[1].Sub(at[0]); d < r.Elapsed || d > r.Elapsed+50*time.Millisecond {
		t.Fatalf("marks %v apart, window %v", d, r.Elapsed)
	}
}
