package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// HTTPOptions configures RunHTTP. Zero values: Path "/", Host = Addr, Conns 1,
// Timeout 5 s, Warmup 0.
type HTTPOptions struct {
	Addr              string // host:port to connect to
	Path              string
	Host              string
	Conns             int // concurrent connections, each with one request in flight
	Duration          time.Duration
	Warmup            time.Duration
	NewConnPerRequest bool          // "Connection: close" and a fresh connection per request
	Timeout           time.Duration // per request (dial included)
	// TLS, when set, speaks TLS to Addr with this client config (cloned per
	// worker). Resume gives each worker a session cache, so that every
	// new connection after the first resumes (TLS 1.3 PSK or TLS 1.2
	// tickets); without it every handshake is a full one.
	TLS    *tls.Config
	Resume bool
	// Mark, when set, is called with true as the measurement window opens and with false
	// as it closes (RunWrk: around the measured wrk process), from the calling goroutine.
	// The harness reads the proxy's CPU time there.
	Mark func(open bool)
}

// RunHTTP drives HTTP/1.1 GET requests at opts.Addr from opts.Conns closed-loop
// workers and measures throughput and latency (from writing the request to reading the
// last body byte). A failed connection is counted in Errors and re-dialed.
func RunHTTP(ctx context.Context, opts HTTPOptions) (Result, error) {
	defaults(&opts.Conns, &opts.Timeout)
	if opts.Path == "" {
		opts.Path = "/"
	}
	if opts.Host == "" {
		opts.Host = opts.Addr
	}
	if opts.Duration <= 0 {
		return Result{}, errors.New("load: HTTP duration must be > 0")
	}
	// Check reachability first so a dead target is one clear error, not a run of errors.
	// (A TLS target sees one connection closed before its handshake.)
	c, err := net.DialTimeout("tcp", opts.Addr, opts.Timeout)
	if err != nil {
		return Result{}, fmt.Errorf("load: connect %s: %w", opts.Addr, err)
	}
	_ = c.Close()

	req := "GET " + opts.Path + " HTTP/1.1\r\nHost: " + opts.Host + "\r\nUser-Agent: sluice-bench\r\n"
	if opts.NewConnPerRequest {
		req += "Connection: close\r\n"
	}
	reqb := []byte(req + "\r\n")

	var w window
	parts := newTallies(opts.Conns)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func(p *tally) {
			defer wg.Done()
			var tcfg *tls.Config
			if opts.TLS != nil {
				tcfg = opts.TLS.Clone()
				if opts.Resume {
					tcfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
				}
			}
			var conn net.Conn
			var br *bufio.Reader
			for !w.stop.Load() {
				start := time.Now()
				if conn == nil {
					nc, err := net.DialTimeout("tcp", opts.Addr, opts.Timeout)
					if err != nil {
						if w.measuring.Load() {
							p.errs++
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if tc, ok := nc.(*net.TCPConn); ok && opts.NewConnPerRequest {
						_ = tc.SetLinger(0) // no TIME_WAIT pile-up on the client side
					}
					if tcfg != nil {
						tc := tls.Client(nc, tcfg)
						_ = tc.SetDeadline(start.Add(opts.Timeout))
						if err := tc.Handshake(); err != nil {
							if w.measuring.Load() {
								p.errs++
							}
							_ = nc.Close()
							continue
						}
						if w.measuring.Load() {
							p.hs++
							if tc.ConnectionState().DidResume {
								p.resumed++
							}
						}
						nc = tc
					}
					conn = nc
					if br == nil {
						br = bufio.NewReaderSize(conn, 64<<10)
					} else {
						br.Reset(conn)
					}
				}
				_ = conn.SetDeadline(start.Add(opts.Timeout))
				measuring := w.measuring.Load()
				status, n, keep, err := roundTrip(conn, br, reqb)
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
					p.byts += n
					if status < 200 || status > 399 {
						p.non2xx++
					}
				}
				if !keep || opts.NewConnPerRequest {
					_ = conn.Close()
					conn = nil
				}
			}
			if conn != nil {
				_ = conn.Close()
			}
		}(&parts[i])
	}
	el := w.run(ctx, opts.Warmup, opts.Duration, opts.Mark)
	wg.Wait()
	return sum(parts, el), nil
}

var errMalformed = errors.New("load: malformed HTTP response")

// roundTrip writes req and reads one response, returning its status, the bytes read
// and whether the connection may be reused.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (status int, n int64, keep bool, err error) {
	if _, err = conn.Write(req); err != nil {
		return 0, 0, false, err
	}
	return readResponse(br)
}

// readResponse reads one HTTP/1.1 response head and body (Content-Length, chunked, or
// until EOF) from br, discarding the body.
func readResponse(br *bufio.Reader) (status int, n int64, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, err
	}
	n += int64(len(line))
	if len(line) < 12 || string(line[:7]) != "HTTP/1." {
		return 0, n, false, errMalformed
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, n, false, errMalformed
		}
		status = status*10 + int(c-'0')
	}
	keep = line[7] == '1'
	cl := int64(-1)
	chunked := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return status, n, false, err
		}
		n += int64(len(line))
		if len(line) <= 2 {
			break
		}
		k, v, ok := splitHeader(line)
		if !ok {
			continue
		}
		switch {
		case equalFold(k, "content-length"):
			cl = 0
			for _, c := range v {
				if c < '0' || c > '9' {
					return status, n, false, errMalformed
				}
				cl = cl*10 + int64(c-'0')
			}
		case equalFold(k, "transfer-encoding"):
			chunked = equalFold(v, "chunked")
		case equalFold(k, "connection"):
			if equalFold(v, "close") {
				keep = false
			} else if equalFold(v, "keep-alive") {
				keep = true
			}
		}
	}
	if status == 204 || status == 304 || (status >= 100 && status < 200) {
		return status, n, keep, nil
	}
	switch {
	case chunked:
		m, err := discardChunked(br)
		return status, n + m, keep, err
	case cl >= 0:
		m, err := br.Discard(int(cl))
		return status, n + int64(m), keep, err
	default:
		m, err := io.Copy(io.Discard, br)
		return status, n + m, false, err
	}
}

func discardChunked(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		n += int64(len(line))
		var size int64
		digits := 0
		for _, c := range line {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				goto done
			}
			size = size<<4 | int64(d)
			digits++
			if digits > 15 {
				return n, errMalformed
			}
		}
	done:
		if digits == 0 {
			return n, errMalformed
		}
		if size == 0 { // trailers until an empty line
			for {
				line, err = br.ReadSlice('\n')
				if err != nil {
					return n, err
				}
				n += int64(len(line))
				if len(line) <= 2 {
					return n, nil
				}
			}
		}
		m, err := br.Discard(int(size) + 2)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// splitHeader splits "Name: value\r\n" into trimmed name and value.
func splitHeader(line []byte) (k, v []byte, ok bool) {
	for i, c := range line {
		if c == ':' {
			k, v = line[:i], line[i+1:]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			for len(v) > 0 && (v[len(v)-1] == '\n' || v[len(v)-1] == '\r' || v[len(v)-1] == ' ') {
				v = v[:len(v)-1]
			}
			return k, v, true
		}
	}
	return nil, nil, false
}

// equalFold compares ASCII b with lower-case s case-insensitively, without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
