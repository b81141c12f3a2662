package backend

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTPRoutes(t *testing.T) {
	h, err := StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	base := "http://" + h.Addr()

	code, hdr, body := get(t, base+"/", nil)
	if code != 200 || body != "backend "+h.Addr()+"\n" || hdr.Get("X-Backend") != h.Addr() {
		t.Fatalf("/: %d %q %q", code, body, hdr.Get("X-Backend"))
	}
	if code, _, body = get(t, base+"/health", nil); code != 200 || body != "ok" {
		t.Fatalf("/health: %d %q", code, body)
	}
	for _, n := range []int{0, 1, 1024, 65536, 3 << 20} {
		code, _, body = get(t, base+"/size/"+itoa(n), nil)
		if code != 200 || len(body) != n || strings.Trim(body, "x") != "" {
			t.Fatalf("/size/%d: %d len %d", n, code, len(body))
		}
	}
	start := time.Now()
	if code, _, _ = get(t, base+"/delay/50ms", nil); code != 200 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("/delay/50ms: %d after %v", code, time.Since(start))
	}
	if code, _, body = get(t, base+"/status/503", nil); code != 503 || body != "status 503\n" {
		t.Fatalf("/status/503: %d %q", code, body)
	}
	code, _, body = get(t, base+"/headers", map[string]string{"X-Forwarded-For": "192.0.2.7"})
	if code != 200 || !strings.Contains(body, "X-Forwarded-For: 192.0.2.7") || !strings.HasPrefix(body, "GET /headers HTTP/1.1") {
		t.Fatalf("/headers: %d %q", code, body)
	}
	for _, p := range []string{"/size/-1", "/size/x", "/delay/forever", "/delay/2m", "/status/99", "/status/600"} {
		if code, _, body = get(t, base+p, nil); code != 400 || !strings.Contains(body, p) {
			t.Fatalf("%s: %d %q", p, code, body)
		}
	}
	if code, _, body = get(t, base+"/other", nil); code != 200 || body != "backend "+h.Addr()+"\n" {
		t.Fatalf("/other: %d %q", code, body)
	}
	if got := h.Requests(); got != 17 {
		t.Fatalf("Requests()=%d, want 17", got)
	}
	h.Reset()
	if h.Requests() != 0 || h.Conns() != 0 {
		t.Fatal("Reset did not zero the counters")
	}
}

func TestHTTPCloseStopsListening(t *testing.T) {
	h, err := StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// An idle keep-alive connection must not hold Close up.
	c, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive request: %v", err)
	}
	start := time.Now()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := net.DialTimeout("tcp", h.Addr(), time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestTCPEcho(t *testing.T) {
	e, err := StartTCPEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo mismatch")
	}
	if e.Conns() != 1 || e.Bytes() != int64(len(msg)) {
		t.Fatalf("Conns=%d Bytes=%d", e.Conns(), e.Bytes())
	}
	waitFor(t, func() bool { return e.Active() == 1 })
	_ = c.Close()
	waitFor(t, func() bool { return e.Active() == 0 })
}

func TestTCPLine(t *testing.T) {
	l, err := StartTCPLine("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello\nworld\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for _, want := range []string{"hello", "world"} {
		line, err := r.ReadString('\n')
		if err != nil || line != l.Addr()+" "+want+"\n" {
			t.Fatalf("got %q, %v", line, err)
		}
	}
}

func TestTCPCloseEndsSessions(t *testing.T) {
	e, err := StartTCPEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, func() bool { return e.Active() == 1 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("session still open after Close")
	}
	if e.Active() != 0 {
		t.Fatalf("Active=%d after Close", e.Active())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
