package accesslog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultQueueLines    = 4096
	DefaultMaxBatchBytes = 64 << 10
	DefaultCloseTimeout  = 5 * time.Second
	// maxKeptLineCap bounds the capacity a line buffer keeps after an
	// unusually long line, so the queue's memory stays bounded.
	maxKeptLineCap = 8 << 10
	initLineCap    = 512
)

// DropCounter is what the Logger counts dropped lines on;
// *metrics.Counter (VictoriaMetrics) satisfies it.
type DropCounter interface{ Inc() }

// Options configures New. The zero value of each field means its default.
type Options struct {
	// Destination is "stdout", "stderr", "off" (or ""), or a file path,
	// opened with O_APPEND|O_CREATE and FileMode.
	Destination string
	// Writer, when non-nil, receives the lines instead of Destination
	// (tests, in-memory sinks). The Logger never closes it. Writes to it come
	// from one goroutine only.
	Writer io.Writer
	// FileMode is the permission of a created log file. Default 0644.
	FileMode os.FileMode
	// QueueLines bounds the lines waiting for the writer. Default 4096.
	QueueLines int
	// MaxBatchBytes is the most the writer gathers into one write call
	// (one line longer than this is written alone). Default 64 KiB.
	MaxBatchBytes int
	// CloseTimeout bounds how long Close waits for the queue to be flushed.
	// Default 5s.
	CloseTimeout time.Duration
	// Dropped, when non-nil, is incremented for every line dropped (queue
	// full, write error, logged after Close).
	Dropped DropCounter
	// Logger receives write and reopen errors (at most one write error per
	// 10 s). nil discards them.
	Logger *slog.Logger
}

// Logger writes access-log lines asynchronously. A nil *Logger is valid:
// every method is a no-op. LogHTTP and LogTCP are safe for concurrent use,
// never block and do not allocate in steady state.
type Logger struct {
	queue chan *lineBuf // lines waiting for the writer
	free  chan *lineBuf // empty line buffers; len(free)+len(queue) <= QueueLines

	out  io.Writer               // fixed destination (Writer, stdout, stderr)
	path string                  // file destination, "" otherwise
	file atomic.Pointer[os.File] // current file when path != ""
	mode os.FileMode

	maxBatch     int
	closeTimeout time.Duration
	droppedC     DropCounter
	log          *slog.Logger

	fileMu    sync.Mutex // serializes Reopen and Close
	dropped   atomic.Uint64
	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	lastErrAt time.Time // writer goroutine only
}

type lineBuf struct{ b []byte }

// New opens the destination and starts the background writer. It returns
// (nil, nil) for Destination "off" or "" with no Writer: a nil Logger logs
// nothing. Errors name the file that could not be opened.
func New(opts Options) (*Logger, error) {
	l := &Logger{
		maxBatch:     opts.MaxBatchBytes,
		closeTimeout: opts.CloseTimeout,
		droppedC:     opts.Dropped,
		log:          opts.Logger,
		mode:         opts.FileMode,
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if l.maxBatch <= 0 {
		l.maxBatch = DefaultMaxBatchBytes
	}
	if l.closeTimeout <= 0 {
		l.closeTimeout = DefaultCloseTimeout
	}
	if l.mode == 0 {
		l.mode = 0o644
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case opts.Writer != nil:
		l.out = opts.Writer
	case opts.Destination == "off" || opts.Destination == "":
		return nil, nil
	case opts.Destination == "stdout":
		l.out = os.Stdout
	case opts.Destination == "stderr":
		l.out = os.Stderr
	default:
		l.path = opts.Destination
		f, err := l.open()
		if err != nil {
			return nil, err
		}
		l.file.Store(f)
	}
	n := opts.QueueLines
	if n <= 0 {
		n = DefaultQueueLines
	}
	l.queue = make(chan *lineBuf, n)
	l.free = make(chan *lineBuf, n)
	for range n {
		l.free <- &lineBuf{}
	}
	go l.run()
	return l, nil
}

func (l *Logger) open() (*os.File, error) {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, l.mode)
	if err != nil {
		return nil, fmt.Errorf("access log %s: %w", l.path, err)
	}
	return f, nil
}

// LogHTTP queues one HTTP line. It never blocks: when the queue is full the
// line is dropped and counted. e is not retained.
func (l *Logger) LogHTTP(e *HTTPEntry) {
	if l == nil {
		return
	}
	lb := l.acquire()
	if lb == nil {
		return
	}
	lb.b = AppendHTTP(lb.b[:0], e)
	l.queue <- lb // never blocks: there are no more buffers than queue slots
}

// LogTCP queues one TCP-session line; see LogHTTP.
func (l *Logger) LogTCP(e *TCPEntry) {
	if l == nil {
		return
	}
	lb := l.acquire()
	if lb == nil {
		return
	}
	lb.b = AppendTCP(lb.b[:0], e)
	l.queue <- lb
}

func (l *Logger) acquire() *lineBuf {
	if l.closed.Load() {
		l.drop(1)
		return nil
	}
	select {
	case lb := <-l.free:
		if lb.b == nil {
			lb.b = make([]byte, 0, initLineCap)
		}
		return lb
	default:
		l.drop(1)
		return nil
	}
}

func (l *Logger) drop(n int) {
	l.dropped.Add(uint64(n))
	if l.droppedC != nil {
		for range n {
			l.droppedC.Inc()
		}
	}
}

// Dropped returns how many lines were dropped so far.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

// Reopen reopens a file destination at its path (logrotate "create" mode:
// the old file was renamed; later lines go to a new file at the path). The
// old file is closed once the line being written to it is done. It is a
// no-op for stdout, stderr, a Writer and a nil Logger. Safe for concurrent
// use with logging.
func (l *Logger) Reopen() error {
	if l == nil || l.path == "" {
		return nil
	}
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	if l.closed.Load() {
		return nil
	}
	f, err := l.open()
	if err != nil {
		l.log.Error("access log reopen failed; still writing to the old file", "path", l.path, "err", err)
		return err
	}
	if old := l.file.Swap(f); old != nil {
		old.Close()
	}
	return nil
}

// Close flushes the queued lines and stops the writer, waiting at most
// Options.CloseTimeout; it closes a file destination. Lines logged during
// or after Close are dropped. Calling it again is a no-op.
func (l *Logger) Close() error {
	if l == nil || !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.stop)
	var err error
	t := time.NewTimer(l.closeTimeout)
	defer t.Stop()
	select {
	case <-l.done:
	case <-t.C:
		err = fmt.Errorf("access log: flush did not finish within %v; %d lines may be lost", l.closeTimeout, len(l.queue))
	}
	if l.path != "" {
		l.fileMu.Lock()
		defer l.fileMu.Unlock()
		if f := l.file.Swap(nil); f != nil {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("access log %s: %w", l.path, cerr)
			}
		}
	}
	return err
}

// run is the writer goroutine: it gathers queued lines into one batch of
// at most maxBatch bytes and writes it with one call.
func (l *Logger) run() {
	defer close(l.done)
	batch := make([]byte, 0, l.maxBatch)
	for {
		select {
		case lb := <-l.queue:
			var n int
			batch, n = l.gather(batch[:0], lb)
			l.write(batch, n)
		case <-l.stop:
			for {
				select {
				case lb := <-l.queue:
					var n int
					batch, n = l.gather(batch[:0], lb)
					l.write(batch, n)
				default:
					return
				}
			}
		}
	}
}

// gather copies lb and then every queued line that still fits into batch,
// returning the buffers to the free list.
func (l *Logger) gather(batch []byte, lb *lineBuf) ([]byte, int) {
	n := 0
	for {
		batch = append(batch, lb.b...)
		n++
		l.release(lb)
		if len(batch) >= l.maxBatch {
			return batch, n
		}
		select {
		case lb = <-l.queue:
			// A line that would overflow the batch still goes in: batches are
			// bounded by maxBatch plus one line.
		default:
			return batch, n
		}
	}
}

func (l *Logger) release(lb *lineBuf) {
	if cap(lb.b) > maxKeptLineCap {
		lb.b = nil
	}
	l.free <- lb // never blocks: at most QueueLines buffers exist
}

func (l *Logger) write(batch []byte, lines int) {
	var err error
	if l.path == "" {
		_, err = l.out.Write(batch)
	} else {
		err = errNoFile
		for range 2 { // retry once if Reopen closed the file under us
			f := l.file.Load()
			if f == nil {
				break
			}
			if _, err = f.Write(batch); !errors.Is(err, os.ErrClosed) {
				break
			}
		}
	}
	if err != nil {
		l.drop(lines)
		if now := time.Now(); now.Sub(l.lastErrAt) >= 10*time.Second {
			l.lastErrAt = now
			l.log.Error("access log write failed; lines dropped", "dest", l.dest(), "lines", lines, "err", err)
		}
	}
}

var errNoFile = errors.New("access log file is closed")

func (l *Logger) dest() string {
	if l.path != "" {
		return l.path
	}
	switch l.out {
	case os.Stdout:
		return "stdout"
	case os.Stderr:
		return "stderr"
	}
	return "writer"
}
