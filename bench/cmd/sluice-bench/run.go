package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/sluicelb/sluice/bench/harness"
)

const pinnedEnv = "SLUICE_BENCH_PINNED"

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o harness.Options
	var scen, peers string
	fs.BoolVar(&o.Quick, "quick", false, "short run (1 s per scenario, 1 repetition): the whole run takes under a minute")
	fs.StringVar(&scen, "scenario", "", "comma-separated scenarios to run (default all): a,b,c,d,e,f,h,i,j,g")
	fs.StringVar(&peers, "peers", "", "comma-separated peers (default all installed): sluice,haproxy,nginx,caddy; sluice-rl (sluice with three rate-limit rules), sluice-rl-redis (the same rules shared through Redis at $SLUICE_BENCH_REDIS), sluice+streamN (N WebSocket /api/v1/stream clients attached, subscribed to stats, events and logs as the web UI with its logs view; sluice+streamN-nologs: stats and events) and sluice+watchN (N gRPC Watch clients, as sluice ctl watch) on request")
	fs.DurationVar(&o.Duration, "duration", 0, "measured time per scenario (default 10s, --quick 1s)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "unmeasured warm-up per scenario (default 1s, --quick 200ms)")
	fs.IntVar(&o.Reps, "reps", 0, "repetitions, run alternately A B C A B C ... (default 3, --quick 1)")
	fs.StringVar(&o.Out, "out", "bench-out", "directory for results.json, results.md, chart.svg and configs/")
	fs.StringVar(&o.Sluice, "sluice", "bin/sluice", "path of the sluice binary")
	fs.StringVar(&o.Driver, "driver", "auto", "HTTP load driver: auto (wrk when installed), wrk or go")
	fs.IntVar(&o.IdleConns, "idle-conns", 0, "idle HTTP client connections for the memory scenario g (default 10000, --quick 2000)")
	fs.IntVar(&o.IdleSessions, "idle-sessions", 0, "idle TCP sessions for the memory scenario g; each takes two descriptors (default 5000, --quick 1000)")
	nopin := fs.Bool("no-pin", false, "do not pin the proxy to CPU 0 (and the harness to the other CPUs)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: sluice-bench run [flags]

Benchmarks sluice against haproxy, nginx and caddy (those installed; `+"`make bench-deps`"+` installs them)
with equivalent configs, one worker each, the proxy pinned to CPU 0. Scenarios:
  a) L7 keep-alive, 1 KiB responses, 64 conns   b) L7 keep-alive, 64 KiB responses
  c) L7 new connection per request              d) L4 64 B request/response, 64 persistent conns
  e) L4 bulk echo MB/s                          f) added latency at low load (proxy minus direct)
  g) memory: idle RSS and RSS with --idle-conns idle keep-alive connections
Prints a Markdown table of medians (ratio to sluice in parentheses) and writes results.json,
results.md, chart.svg and the configs used into --out.

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
		return fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
	}
	o.Scenarios, o.Peers = split(scen), split(peers)

	// The re-executed, pinned child finds the proxies' CPU in pinnedEnv (its own
	// runtime.NumCPU counts only the CPUs it is pinned to).
	switch cpus := os.Getenv(pinnedEnv); {
	case *nopin:
	case cpus != "":
		o.ProxyCPUs = cpus
	case runtime.NumCPU() < 2:
		fmt.Fprintln(os.Stderr, "sluice-bench: one CPU: running without CPU pinning (the proxy shares the CPU with the load)")
	default:
		ts, err := exec.LookPath("taskset")
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluice-bench: taskset not found (util-linux): running without CPU pinning")
			break
		}
		return repin(ts)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := harness.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(res.Markdown())
	fmt.Println()
	fmt.Println(res.Note)
	for _, s := range res.Skipped {
		fmt.Printf("\nskipped %s", s)
	}
	if len(res.Skipped) > 0 {
		fmt.Println()
	}
	fmt.Fprintf(os.Stderr, "sluice-bench: wrote %s/results.json, results.md, chart.svg and configs/\n", strings.TrimRight(o.Out, "/"))
	return nil
}

// repin re-executes this command under taskset on CPUs 1..N-1, leaving CPU 0 to the
// proxy under test (Go sizes GOMAXPROCS from the affinity at start, hence the re-exec).
func repin(taskset string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cpus := "1-" + strconv.Itoa(runtime.NumCPU()-1)
	if runtime.NumCPU() == 2 {
		cpus = "1"
	}
	args := append([]string{taskset, "-c", cpus, self}, os.Args[1:]...)
	env := append(os.Environ(), pinnedEnv+"=0")
	return syscall.Exec(taskset, args, env)
}

func cmdReport(args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: sluice-bench report DIR (a directory holding results.json)")
	}
	res, err := harness.Rerender(args[0])
	if err != nil {
		return err
	}
	fmt.Print(res.Markdown())
	fmt.Println()
	fmt.Println(res.Note)
	return nil
}
