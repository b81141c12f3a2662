package accesslog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuf is a goroutine-safe in-memory sink that counts write calls.
type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// blockingWriter blocks every Write until release is closed; entered
// receives one value per Write call.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	lines   atomic.Int64
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	w.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

type countInc struct{ n atomic.Int64 }

func (c *countInc) Inc() { c.n.Add(1) }

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func entry(i int) *HTTPEntry {
	return &HTTPEntry{Time: goldenTime, Frontend: "web", ClientIP: netip.MustParseAddr("127.0.0.1"),
		Method: "GET", Host: "h", Path: "/p", Backend: "b", Server: "s", Status: 200 + i%100, BytesOut: int64(i)}
}

func TestLogAndCloseFlushesEveryLineBatched(t *testing.T) {
	var sink syncBuf
	l, err := New(Options{Writer: &sink})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if i%2 == 0 {
			l.LogHTTP(entry(i))
		} else {
			l.LogTCP(&TCPEntry{Time: goldenTime, Frontend: "pg", Close: "server", BytesIn: int64(i)})
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(sink.String(), "\n"), "\n")
	if len(lines)+int(l.Dropped()) != n {
		t.Fatalf("%d lines written + %d dropped, want %d", len(lines), l.Dropped(), n)
	}
	if l.Dropped() != 0 {
		t.Fatalf("%d lines dropped with a fast writer and a 4096-line queue", l.Dropped())
	}
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("invalid line %q", line)
		}
	}
	if sink.writes >= n {
		t.Fatalf("%d write calls for %d lines: not batched", sink.writes, n)
	}
	t.Logf("%d lines in %d write calls", n, sink.writes)
	l.LogHTTP(entry(0)) // after Close: dropped, no panic
	if l.Dropped() != 1 {
		t.Fatalf("line after Close: dropped=%d", l.Dropped())
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestDropAndCountWhenWriterBlocked(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	var c countInc
	l, err := New(Options{Writer: w, QueueLines: 4, Dropped: &c})
	if err != nil {
		t.Fatal(err)
	}
	l.LogHTTP(entry(0))
	select { // the writer now holds line 0 and is stuck in Write
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("writer never called Write")
	}
	start := time.Now()
	for i := 1; i <= 100; i++ {
		l.LogHTTP(entry(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("logging blocked for %v", d)
	}
	if l.Dropped() != 96 || c.n.Load() != 96 {
		t.Fatalf("dropped=%d counter=%d, want 96 (queue of 4 full)", l.Dropped(), c.n.Load())
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := w.lines.Load(); got != 5 {
		t.Fatalf("%d lines written, want 5", got)
	}
}

func TestCloseTimesOutOnStuckWriter(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	defer close(w.release)
	l, _ := New(Options{Writer: w, CloseTimeout: 50 * time.Millisecond})
	l.LogHTTP(entry(0))
	<-w.entered
	start := time.Now()
	err := l.Close()
	if err == nil || !strings.Contains(err.Error(), "within 50ms") {
		t.Fatalf("Close = %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorCountsDropped(t *testing.T) {
	var logBuf syncBuf
	l, _ := New(Options{Writer: failingWriter{}, Logger: slogTo(&logBuf)})
	for i := range 10 {
		l.LogHTTP(entry(i))
	}
	l.Close()
	if l.Dropped() != 10 {
		t.Fatalf("dropped=%d, want 10", l.Dropped())
	}
	if !strings.Contains(logBuf.String(), "disk full") {
		t.Fatalf("write error not reported: %q", logBuf.String())
	}
}

func TestOffIsNilNoop(t *testing.T) {
	for _, d := range []string{"off", ""} {
		l, err := New(Options{Destination: d})
		if l != nil || err != nil {
			t.Fatalf("%q: New = %v, %v", d, l, err)
		}
		l.LogHTTP(entry(0))
		l.LogTCP(&TCPEntry{})
		if l.Reopen() != nil || l.Close() != nil || l.Dropped() != 0 {
			t.Fatal("nil logger methods")
		}
	}
}

func TestBadFileNamesPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing-dir", "access.log")
	_, err := New(Options{Destination: p})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want one naming %s", err, p)
	}
}

func fileLines(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func hasPath(lines []string, path string) bool {
	for _, l := range lines {
		if strings.Contains(l, `"path":"`+path+`"`) {
			return true
		}
	}
	return false
}

// TestReopenAfterRename follows logrotate's create mode: rename, then
// Reopen; lines before Reopen land in the renamed file, after it in a new
// file at the configured path.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "access.log")
	l, err := New(Options{Destination: p})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := func(path string) { e := entry(0); e.Path = path; l.LogHTTP(e) }

	log("/a")
	waitFor(t, "/a in access.log", func() bool { return hasPath(fileLines(t, p), "/a") })
	rotated := p + ".1"
	if err := os.Rename(p, rotated); err != nil {
		t.Fatal(err)
	}
	log("/b")
	waitFor(t, "/b in the renamed file", func() bool { return hasPath(fileLines(t, rotated), "/b") })
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	log("/c")
	waitFor(t, "/c in the new access.log", func() bool { return hasPath(fileLines(t, p), "/c") })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileLines(t, rotated); len(got) != 2 || hasPath(got, "/c") {
		t.Fatalf("rotated file: %q", got)
	}
	if got := fileLines(t, p); len(got) != 1 {
		t.Fatalf("new file: %q", got)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}
	if l.Reopen() != nil {
		t.Fatal("Reopen after Close should be a no-op")
	}
}

// TestConcurrentLogReopenClose is for -race: loggers on several goroutines,
// reopens, then Close.
func TestConcurrentLogReopenClose(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	l, err := New(Options{Destination: p, QueueLines: 64})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.LogHTTP(entry(g*1000 + i))
			}
		}()
	}
	for range 10 {
		if err := l.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := len(fileLines(t, p))
	if got+int(l.Dropped()) != 2000 {
		t.Fatalf("%d written + %d dropped != 2000", got, l.Dropped())
	}
}
