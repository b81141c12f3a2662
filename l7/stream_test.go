package l7

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// streamSize is 1 GiB for a full run without the race detector, else 256 MiB.
func streamSize() int64 {
	if testing.Short() || raceEnabled {
		return 256 << 20
	}
	return 1 << 30
}

// pattern is a 1 MiB random block repeated to make a large deterministic stream.
var pattern = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// patternReader yields n bytes of pattern, repeated.
type patternReader struct{ off, n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := copy(p, pattern[r.off%int64(len(pattern)):])
	if rem := r.n - r.off; int64(k) > rem {
		k = int(rem)
	}
	r.off += int64(k)
	return k, nil
}

// patternSum is the CRC-32C of n bytes of the pattern stream.
func patternSum(n int64) uint32 {
	h := crc32.New(castagnoli)
	_, _ = io.Copy(h, &patternReader{n: n})
	return h.Sum32()
}

// memSampler records the peak VmRSS of this process and the peak Go heap
// (runtime/metrics) while it runs.
type memSampler struct {
	stop           chan struct{}
	done           chan struct{}
	rss0, heap0    uint64
	peakRSS, peakH atomic.Uint64
}

func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	i := bytes.Index(b, []byte("VmRSS:"))
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+6:])
	kb, _ := strconv.ParseUint(string(f[0]), 10, 64)
	return kb << 10
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startMemSampler() *memSampler {
	runtime.GC()
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{}), rss0: vmRSS(), heap0: heapBytes()}
	go func() {
		defer close(m.done)
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			if r := vmRSS(); r > m.peakRSS.Load() {
				m.peakRSS.Store(r)
			}
			if h := heapBytes(); h > m.peakH.Load() {
				m.peakH.Store(h)
			}
			select {
			case <-m.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return m
}

// end stops sampling and returns the peak RSS growth and peak heap.
func (m *memSampler) end() (rssGrowth, heapPeak uint64) {
	close(m.stop)
	<-m.done
	if p := m.peakRSS.Load(); p > m.rss0 {
		rssGrowth = p - m.rss0
	}
	return rssGrowth, m.peakH.Load()
}

const memLimit = 100 << 20

// TestStreamLargeBodies sends a large upload and a large download through the
// proxy (client, proxy and backend all in this process) and checks the
// CRC-32C of what arrived, and that neither the process RSS nor the Go heap
// grew anywhere near the body size (limit 100 MB; the body never sits in
// memory whole). 1 GiB each way without -race and -short, else 256 MiB; a
// chunked upload of a quarter of that as well.
func TestStreamLargeBodies(t *testing.T) {
	n := streamSize()
	want := patternSum(n)
	nChunked := n / 4 // the chunked upload is framed by this test's slow writer
	wantChunked := patternSum(nChunked)
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/up":
			h := crc32.New(castagnoli)
			k, err := io.Copy(h, r.Body)
			if err != nil {
				w.WriteHeader(500)
				return
			}
			fmt.Fprintf(w, "%d %08x", k, h.Sum32())
		case "/down":
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
			_, _ = io.Copy(w, &patternReader{n: n})
		}
	})
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr)})

	t.Run("upload", func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			m := startMemSampler()
			start := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			bw := bufio.NewWriterSize(c, 64<<10)
			size, sum := n, want
			if chunked {
				size, sum = nChunked, wantChunked
			}
			var body io.Reader = &patternReader{n: size}
			if chunked {
				fmt.Fprintf(bw, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
				go func() {
					cw := newChunkWriter(bw)
					_, _ = io.Copy(cw, body)
					cw.close()
					_ = bw.Flush()
				}()
			} else {
				fmt.Fprintf(bw, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
				go func() { _, _ = io.Copy(bw, body); _ = bw.Flush() }()
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			rss, heap := m.end()
			d := time.Since(start)
			if resp.StatusCode != 200 || string(got) != fmt.Sprintf("%d %08x", size, sum) {
				t.Fatalf("chunked=%v: %d %q", chunked, resp.StatusCode, got)
			}
			t.Logf("upload %d MiB chunked=%v in %v (%.0f MiB/s): peak RSS growth %.1f MiB, peak heap %.1f MiB",
				size>>20, chunked, d, float64(size>>20)/d.Seconds(), float64(rss)/(1<<20), float64(heap)/(1<<20))
			if rss > memLimit || heap > memLimit {
				t.Fatalf("memory grew: RSS +%d, heap %d", rss, heap)
			}
		}
	})

	t.Run("download", func(t *testing.T) {
		m := startMemSampler()
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /down HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 64<<10), nil)
		if err != nil {
			t.Fatal(err)
		}
		h := crc32.New(castagnoli)
		k, err := io.Copy(h, resp.Body)
		rss, heap := m.end()
		d := time.Since(start)
		if err != nil || k != n || h.Sum32() != want {
			t.Fatalf("got %d bytes (%v), checksum match %v", k, err, h.Sum32() == want)
		}
		t.Logf("download %d MiB in %v (%.0f MiB/s): peak RSS growth %.1f MiB, peak heap %.1f MiB",
			n>>20, d, float64(n>>20)/d.Seconds(), float64(rss)/(1<<20), float64(heap)/(1<<20))
		if rss > memLimit || heap > memLimit {
			t.Fatalf("memory grew: RSS +%d, heap %d", rss, heap)
		}
	})
}

// chunkWriter writes HTTP/1.1 chunks of whatever it is given.
type chunkWriter struct{ w *bufio.Writer }

func newChunkWriter(w *bufio.Writer) *chunkWriter { return &chunkWriter{w} }

func (c *chunkWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(c.w, "%x\r\n", len(p))
	c.w.Write(p)
	_, err := c.w.WriteString("\r\n")
	return len(p), err
}

func (c *chunkWriter) close() { c.w.WriteString("0\r\n\r\n") }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
