package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluicelb/sluice/bench/backend"
)

func cmdBackends(args []string) error {
	fs := flag.NewFlagSet("backends", flag.ContinueOnError)
	httpAddrs := fs.String("http", "", "comma-separated addresses for HTTP backends (e.g. 127.0.0.1:9001,127.0.0.1:9002)")
	tcpAddrs := fs.String("tcp", "", "comma-separated addresses for TCP echo backends")
	lineAddrs := fs.String("tcp-line", "", "comma-separated addresses for TCP line backends (answer each line with \"ADDR LINE\")")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: sluice-bench backends [--http ADDRS] [--tcp ADDRS] [--tcp-line ADDRS]

Starts demo backends in one process until SIGINT/SIGTERM.
HTTP routes: / (names the backend), /health, /size/N, /delay/DUR, /status/N, /headers.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backends: unexpected argument %q", fs.Arg(0))
	}
	if *httpAddrs == "" && *tcpAddrs == "" && *lineAddrs == "" {
		fs.Usage()
		return errors.New("backends: give at least one of --http, --tcp, --tcp-line")
	}
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	start := func(kind, list string, fn func(string) (io.Closer, string, error)) error {
		for _, a := range split(list) {
			c, addr, err := fn(a)
			if err != nil {
				return fmt.Errorf("%s backend %s: %w", kind, a, err)
			}
			closers = append(closers, c)
			fmt.Fprintf(os.Stderr, "sluice-bench: %s backend listening on %s\n", kind, addr)
		}
		return nil
	}
	if err := start("http", *httpAddrs, func(a string) (io.Closer, string, error) {
		b, err := backend.StartHTTP(a)
		if err != nil {
			return nil, "", err
		}
		return b, b.Addr(), nil
	}); err != nil {
		return err
	}
	if err := start("tcp echo", *tcpAddrs, func(a string) (io.Closer, string, error) {
		b, err := backend.StartTCPEcho(a)
		if err != nil {
			return nil, "", err
		}
		return b, b.Addr(), nil
	}); err != nil {
		return err
	}
	if err := start("tcp line", *lineAddrs, func(a string) (io.Closer, string, error) {
		b, err := backend.StartTCPLine(a)
		if err != nil {
			return nil, "", err
		}
		return b, b.Addr(), nil
	}); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	fmt.Fprintf(os.Stderr, "sluice-bench: %v, stopping backends\n", s)
	return nil
}

func split(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
