package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// OpenIdle opens n keep-alive HTTP connections to addr, sends one "GET path" on each and
// reads its response, then leaves them open and idle. The caller owns the returned
// connections and must close them (CloseAll). Work is spread over 64 goroutines; each
// dial and exchange has a 5 s timeout. On the first error every connection opened so far
// is closed.
func OpenIdle(ctx context.Context, addr, path string, n int) ([]net.Conn, error) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: sluice-bench\r\n\r\n")
	return openIdle(ctx, addr, n, func(c net.Conn, br *bufio.Reader) error {
		status, _, _, err := roundTrip(c, br, req)
		if err == nil && status != 200 {
			err = fmt.Errorf("status %d", status)
		}
		return err
	})
}

// OpenIdleTCP opens n TCP sessions to addr, an echo server directly or through a proxy,
// sends 4 bytes on each and reads them back (so the proxy has connected the session to a
// backend), then leaves them open and idle. Ownership, concurrency and errors are as for
// OpenIdle.
func OpenIdleTCP(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	msg := []byte("idle")
	return openIdle(ctx, addr, n, func(c net.Conn, br *bufio.Reader) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		var got [4]byte
		if _, err := io.ReadFull(br, got[:]); err != nil {
			return err
		}
		if string(got[:]) != string(msg) {
			return fmt.Errorf("echo answered %q, want %q", got[:], msg)
		}
		return nil
	})
}

// openIdle dials n connections to addr from 64 goroutines and runs exchange once on each.
func openIdle(ctx context.Context, addr string, n int, exchange func(net.Conn, *bufio.Reader) error) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(64, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(nil, 4096)
			for i := range next {
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				failed := firstErr != nil
				mu.Unlock()
				if failed {
					return
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					br.Reset(c)
					err = exchange(c, br)
					_ = c.SetDeadline(time.Time{})
					if err != nil {
						_ = c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("load: idle connection %d to %s: %w", i+1, addr, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		CloseAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// CloseAll closes every non-nil connection.
func CloseAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}
