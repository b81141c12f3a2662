package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cmdTraffic sends a steady, varied trickle of requests through sluice so
// the demo's dashboard has something to show: mostly plain GETs, some slow
// ones, some large, a few 404s and 503s, and a TCP session now and then.
// It is a demo driver, not a benchmark: requests that would exceed the
// rate's in-flight bound are skipped, never queued.
func cmdTraffic(args []string) error {
	fs := flag.NewFlagSet("traffic", flag.ContinueOnError)
	target := fs.String("http", "http://127.0.0.1:8080", "base URL of an HTTP frontend")
	tcpAddr := fs.String("tcp", "", "address of a TCP frontend to open a session on every second (optional)")
	rate := fs.Float64("rate", 20, "HTTP requests per second")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: sluice-bench traffic [--http URL] [--tcp ADDR] [--rate N]\n\nSends demo traffic until SIGINT/SIGTERM.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *rate <= 0 || *rate > 10000 {
		return fmt.Errorf("traffic: --rate must be in (0, 10000], got %v", *rate)
	}
	base := strings.TrimRight(*target, "/")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	slots := make(chan struct{}, max(8, int(*rate)))
	var failed atomic.Int64
	lastReport := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sec.C:
			if *tcpAddr != "" {
				go tcpSession(*tcpAddr)
			}
			if n := failed.Swap(0); n > 0 && time.Since(lastReport) > 10*time.Second {
				fmt.Fprintf(os.Stderr, "sluice-bench traffic: %d requests to %s failed (is sluice running?)\n", n, base)
				lastReport = time.Now()
			}
		case <-tick.C:
			select {
			case slots <- struct{}{}:
			default:
				continue // all in flight: skip rather than queue
			}
			go func() {
				defer func() { <-slots }()
				resp, err := client.Get(base + demoPath())
				if err != nil {
					failed.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
	}
}

// demoPath picks a request of the demo mix (the routes of backend.HTTP).
func demoPath() string {
	switch p := rand.IntN(1000); {
	case p < 830:
		return fmt.Sprintf("/?n=%d", rand.IntN(1000))
	case p < 910:
		return fmt.Sprintf("/delay/%dms", 5+rand.IntN(120))
	case p < 960:
		return fmt.Sprintf("/size/%d", 1024*(1+rand.IntN(64)))
	case p < 990:
		return "/status/404"
	default:
		return "/status/503"
	}
}

func tcpSession(addr string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "hello %d\n", rand.IntN(1000))
	bufio.NewReader(c).ReadString('\n')
}
