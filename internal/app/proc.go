package app

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// procSampler reads the whole-process numbers of Stats (what resource
// alerts watch) from /proc/self and getrusage. Owned by the sampler.
type procSampler struct {
	started time.Time
	cpu     time.Duration // user+system at the last sample
	page    int64
	buf     []byte
}

func (p *procSampler) init() {
	p.cpu = cpuTime()
	p.page = int64(os.Getpagesize())
}

// sample returns the process stats; CPU % is of one CPU over dt seconds.
func (p *procSampler) sample(now time.Time, dt float64) state.ProcessStats {
	ps := state.ProcessStats{Uptime: now.Sub(p.started).Seconds(), Goroutines: runtime.NumGoroutine(),
		RSSBytes: p.rss(), OpenFDs: openFDs()}
	c := cpuTime()
	if dt > 0 {
		ps.CPUPercent = 100 * (c - p.cpu).Seconds() / dt
	}
	p.cpu = c
	return ps
}

// rss is the resident set size from /proc/self/statm (0 where there is none).
func (p *procSampler) rss() int64 {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0
	}
	defer f.Close()
	if cap(p.buf) == 0 {
		p.buf = make([]byte, 256)
	}
	n, _ := f.Read(p.buf[:cap(p.buf)])
	fields := bytes.Fields(p.buf[:n])
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * p.page
}

// openFDs counts /proc/self/fd (-1 where it cannot be read).
func openFDs() int64 {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer f.Close()
	var n int64
	for {
		names, err := f.Readdirnames(256)
		n += int64(len(names))
		if err != nil || len(names) == 0 {
			break
		}
	}
	return n - 1 // the descriptor reading the directory
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
