package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// TCPOptions configures RunTCPRR and RunTCPBulk. Zero values: Conns 1, Size 64 (RR) or
// 64 KiB (bulk), Timeout 5 s, Warmup 0.
type TCPOptions struct {
	Addr     string // an echo server, directly or through a proxy
	Conns    int
	Size     int // RR: message size; bulk: write chunk size
	Duration time.Duration
	Warmup   time.Duration
	Timeout  time.Duration   // RR: per round trip; bulk: connect only
	Mark     func(open bool) // as HTTPOptions.Mark
}

// RunTCPRR sends opts.Size-byte messages over opts.Conns persistent connections to an
// echo server, one in flight per connection, and measures round trips per second and
// their latency. A failed connection is counted in Errors and re-dialed.
func RunTCPRR(ctx context.Context, opts TCPOptions) (Result, error) {
	defaults(&opts.Conns, &opts.Timeout)
	if opts.Size <= 0 {
		opts.Size = 64
	}
	if opts.Duration <= 0 {
		return Result{}, errors.New("load: TCP duration must be > 0")
	}
	if err := probe(opts.Addr, opts.Timeout); err != nil {
		return Result{}, err
	}
	var w window
	parts := newTallies(opts.Conns)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func(p *tally) {
			defer wg.Done()
			msg := make([]byte, opts.Size)
			for j := range msg {
				msg[j] = byte('a' + j%26)
			}
			buf := make([]byte, opts.Size)
			var conn net.Conn
			for !w.stop.Load() {
				if conn == nil {
					c, err := net.DialTimeout("tcp", opts.Addr, opts.Timeout)
					if err != nil {
						if w.measuring.Load() {
							p.errs++
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					conn = c
				}
				start := time.Now()
				measuring := w.measuring.Load()
				_ = conn.SetDeadline(start.Add(opts.Timeout))
				_, err := conn.Write(msg)
				if err == nil {
					_, err = io.ReadFull(conn, buf)
				}
				if err != nil {
					if measuring && !w.stop.Load() {
						p.errs++
					}
					_ = conn.Close()
					conn = nil
					continue
				}
				if measuring {
					p.h.RecordDuration(time.Since(start))
					p.reqs++
				}
			}
			if conn != nil {
				_ = conn.Close()
			}
		}(&parts[i])
	}
	el := w.run(ctx, opts.Warmup, opts.Duration, opts.Mark)
	wg.Wait()
	res := sum(parts, el)
	res.Bytes = res.Requests * int64(opts.Size)
	return res, nil
}

// RunTCPBulk streams opts.Size-byte chunks over opts.Conns connections to an echo server
// while reading the echo back, and measures the echoed bytes per second (Result.Bytes
// counts bytes received in the window; MBps gives the rate).
func RunTCPBulk(ctx context.Context, opts TCPOptions) (Result, error) {
	defaults(&opts.Conns, &opts.Timeout)
	if opts.Size <= 0 {
		opts.Size = 64 << 10
	}
	if opts.Duration <= 0 {
		return Result{}, errors.New("load: TCP duration must be > 0")
	}
	if err := probe(opts.Addr, opts.Timeout); err != nil {
		return Result{}, err
	}
	var w window
	type part struct{ bytes, errs int64 }
	parts := make([]part, opts.Conns)
	var wg sync.WaitGroup
	conns := make([]net.Conn, opts.Conns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", opts.Addr, opts.Timeout)
		if err != nil {
			for _, c := range conns[:i] {
				_ = c.Close()
			}
			return Result{}, fmt.Errorf("load: connect %s: %w", opts.Addr, err)
		}
		conns[i] = c
	}
	for i, c := range conns {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			chunk := make([]byte, opts.Size)
			for !w.stop.Load() {
				_ = c.SetWriteDeadline(time.Now().Add(opts.Timeout))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func(p *part) { // reader
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for !w.stop.Load() {
				_ = c.SetReadDeadline(time.Now().Add(opts.Timeout))
				n, err := c.Read(buf)
				if w.measuring.Load() && !w.stop.Load() {
					p.bytes += int64(n)
				}
				if err != nil {
					if !w.stop.Load() {
						p.errs++
					}
					return
				}
			}
		}(&parts[i])
	}
	el := w.run(ctx, opts.Warmup, opts.Duration, opts.Mark)
	for _, c := range conns {
		_ = c.Close() // unblocks the reader and writer
	}
	wg.Wait()
	res := Result{Elapsed: el, Driver: "go"}
	for _, p := range parts {
		res.Bytes += p.bytes
		res.Errors += p.errs
	}
	return res, nil
}

func probe(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("load: connect %s: %w", addr, err)
	}
	return c.Close()
}
