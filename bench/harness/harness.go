// Package harness owns `sluice-bench run`: it starts the backends, configures and runs
// each peer proxy in turn (A B C A B C …), drives the scenarios against it and collects
// the results.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/bench/backend"
	"github.com/sluicelb/sluice/bench/load"
	"github.com/sluicelb/sluice/bench/peer"
	"github.com/sluicelb/sluice/bench/report"
	"github.com/sluicelb/sluice/internal/freeport"
)

// Options configures Run. Zero values: Duration 10 s (Quick: 1 s), Warmup 1 s (Quick:
// 300 ms), Reps 3 (Quick: 1), all scenarios, all peers, Out "bench-out", Sluice
// "bin/sluice", Driver "auto", IdleConns 10000 (Quick: 2000), IdleSessions 5000 (Quick:
// 1000). Quick also halves each side of the latency scenario f, so that a quick run of all
// four peers stays under a minute.
type Options struct {
	Quick        bool
	Scenarios    []string // IDs a..g
	Peers        []string // sluice, haproxy, nginx, caddy; sluice-rl, sluice-rl-redis, sluice+streamN, sluice+watchN
	Duration     time.Duration
	Warmup       time.Duration
	Reps         int
	Out          string
	Sluice       string
	Driver       string    // "auto" (wrk when installed), "wrk" or "go"
	IdleConns    int       // idle HTTP client connections in scenario g
	IdleSessions int       // idle TCP sessions in scenario g (each holds two descriptors in the proxy)
	ProxyCPUs    string    // taskset CPU list for the proxies ("" = no pinning)
	Log          io.Writer // progress lines; nil = os.Stderr
}

func (o *Options) defaults() error {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
		if o.Quick {
			o.Duration = time.Second
		}
	}
	if o.Warmup <= 0 {
		o.Warmup = time.Second
		if o.Quick {
			o.Warmup = 200 * time.Millisecond
		}
	}
	if o.Reps <= 0 {
		o.Reps = 3
		if o.Quick {
			o.Reps = 1
		}
	}
	if o.Out == "" {
		o.Out = "bench-out"
	}
	if o.Sluice == "" {
		o.Sluice = "bin/sluice"
	}
	if o.IdleConns <= 0 {
		o.IdleConns = 10000
		if o.Quick {
			o.IdleConns = 2000
		}
	}
	if o.IdleSessions <= 0 {
		o.IdleSessions = 5000
		if o.Quick {
			o.IdleSessions = 1000
		}
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	switch o.Driver {
	case "":
		o.Driver = "auto"
	case "auto", "go", "wrk":
	default:
		return fmt.Errorf("--driver %q: want auto, go or wrk", o.Driver)
	}
	if len(o.Scenarios) == 0 {
		for _, s := range scenarios {
			o.Scenarios = append(o.Scenarios, s.ID)
		}
	}
	for _, id := range o.Scenarios {
		if !slices.ContainsFunc(scenarios, func(s report.Scenario) bool { return s.ID == id }) {
			return fmt.Errorf("--scenario %q: want some of a,b,c,d,e,f,g", id)
		}
	}
	if len(o.Peers) == 0 {
		o.Peers = []string{"sluice", "haproxy", "nginx", "caddy"} // sluice-rl, sluice+streamN... on request
	}
	_, err := peer.Select(o.Sluice, o.Peers)
	return err
}

// runner is the state of one Run.
type runner struct {
	opts     Options
	setup    peer.Setup
	wrk      string
	taskset  string
	httpBE   []*backend.HTTP
	tcpBE    []*backend.TCP
	res      *report.Results
	selected []report.Scenario
}

// Run benchmarks the selected peers and writes results.json, results.md, chart.svg and
// the peers' configs (configs/PEER/) into opts.Out. It returns the results; the caller
// prints the Markdown table.
func Run(ctx context.Context, opts Options) (*report.Results, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := &runner{opts: opts, res: &report.Results{}}
	for _, s := range scenarios {
		if slices.Contains(opts.Scenarios, s.ID) {
			r.selected = append(r.selected, s)
		}
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	fdLimit := int(min(raiseNoFile(uint64(max(opts.IdleConns, 2*opts.IdleSessions))+2000), 1<<20))
	// This process holds one descriptor per idle HTTP connection and two per idle TCP
	// session (the client side and the echo server's side); the proxies inherit the same
	// limit. Leave 1500 for everything else.
	if maxConns, maxSess := fdLimit-1500, (fdLimit-1500)/2; opts.IdleConns > maxConns || opts.IdleSessions > maxSess {
		if maxSess < 100 {
			return nil, fmt.Errorf("open-file limit %d is too low: raise `ulimit -n` to at least %d", fdLimit, max(opts.IdleConns, 2*opts.IdleSessions)+1500)
		}
		r.opts.IdleConns, r.opts.IdleSessions = min(opts.IdleConns, maxConns), min(opts.IdleSessions, maxSess)
		fmt.Fprintf(opts.Log, "sluice-bench: open-file limit %d allows %d idle HTTP connections and %d idle TCP sessions; using those (raise `ulimit -Hn` to %d for %d and %d)\n",
			fdLimit, r.opts.IdleConns, r.opts.IdleSessions, max(opts.IdleConns, 2*opts.IdleSessions)+1500, opts.IdleConns, opts.IdleSessions)
		opts.IdleConns, opts.IdleSessions = r.opts.IdleConns, r.opts.IdleSessions
	}
	for i := range r.selected {
		if r.selected[i].ID == "g" {
			r.selected[i].Title = fmt.Sprintf("memory: %s idle HTTP conns, %s idle TCP sessions (fresh process each)",
				report.FormatValue(float64(opts.IdleConns)), report.FormatValue(float64(opts.IdleSessions)))
		}
	}
	if slices.ContainsFunc(opts.Peers, func(p string) bool { return strings.HasPrefix(p, "sluice+") }) {
		r.selected = withAPIMetrics(r.selected)
	}
	r.res.Scenarios = r.selected
	if opts.ProxyCPUs != "" {
		r.taskset, _ = exec.LookPath("taskset")
	}
	if opts.Driver != "go" {
		r.wrk = load.WrkPath()
		if r.wrk == "" && opts.Driver == "wrk" {
			return nil, errors.New("--driver wrk: wrk is not installed (" + peer.DepsHint + ")")
		}
	}
	r.setup.FDLimit = fdLimit
	if err := r.startBackends(); err != nil {
		return nil, err
	}
	defer r.closeBackends()

	peers, err := r.preparePeers()
	if err != nil {
		return nil, err
	}
	r.res.Meta = r.meta(peers)
	for rep := 1; rep <= opts.Reps; rep++ {
		for _, pp := range peers {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.runPeer(ctx, pp, rep)
		}
	}
	for _, pp := range peers {
		if err := pp.p.Tidy(pp.dir); err != nil {
			r.logf("tidy %s: %v", pp.dir, err)
		}
	}
	r.res.Summarize()
	r.res.Note = legend(opts)
	if err := r.res.WriteJSON(filepath.Join(opts.Out, "results.json")); err != nil {
		return nil, err
	}
	md := r.res.Markdown() + "\n" + r.res.Note + "\n"
	if err := os.WriteFile(filepath.Join(opts.Out, "results.md"), []byte(md), 0o644); err != nil {
		return nil, err
	}
	title := fmt.Sprintf("sluice-bench: medians of %d run(s), %v each", opts.Reps, opts.Duration)
	if err := os.WriteFile(filepath.Join(opts.Out, "chart.svg"), []byte(r.res.SVG(title)), 0o644); err != nil {
		return nil, err
	}
	return r.res, nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.opts.Log, "sluice-bench: "+format+"\n", args...)
}

func (r *runner) startBackends() error {
	for range 3 {
		h, err := backend.StartHTTP("127.0.0.1:0")
		if err != nil {
			return err
		}
		r.httpBE = append(r.httpBE, h)
		r.setup.HTTPBackends = append(r.setup.HTTPBackends, h.Addr())
		t, err := backend.StartTCPEcho("127.0.0.1:0")
		if err != nil {
			return err
		}
		r.tcpBE = append(r.tcpBE, t)
		r.setup.TCPBackends = append(r.setup.TCPBackends, t.Addr())
	}
	var err error
	for _, a := range []*string{&r.setup.HTTPListen, &r.setup.TCPListen, &r.setup.AdminListen} {
		if *a, err = freeport.Addr(); err != nil {
			return err
		}
	}
	r.setup.MaxConns = max(r.opts.IdleConns, r.opts.IdleSessions) + 200
	if r.setup.TLSCert, r.setup.TLSKey, r.setup.TLSCombined, err = peer.MakeTLSCert(filepath.Join(r.opts.Out, "configs", "tls")); err != nil {
		return fmt.Errorf("benchmark certificate: %w", err)
	}
	return nil
}

func (r *runner) closeBackends() {
	for _, h := range r.httpBE {
		_ = h.Close()
	}
	for _, t := range r.tcpBE {
		_ = t.Close()
	}
}

// prepared is a peer that is installed and whose config validated.
type prepared struct {
	p       *peer.Peer
	bin     string
	dir     string
	cfg     string
	version string
	setup   peer.Setup // its listen addresses; copied into runner.setup while it runs
}

func (r *runner) preparePeers() ([]*prepared, error) {
	var out []*prepared
	selected, err := peer.Select(r.opts.Sluice, r.opts.Peers)
	if err != nil {
		return nil, err
	}
	for _, p := range selected {
		bin, err := p.Lookup()
		if err != nil {
			r.skip(p.Name, err.Error())
			continue
		}
		dir, err := filepath.Abs(filepath.Join(r.opts.Out, "configs", p.Name))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		// Each peer listens on its own ports, so that TIME_WAIT entries left by one peer's
		// new-connection scenario never meet the next peer's clients.
		s := r.setup
		for _, a := range []*string{&s.HTTPListen, &s.TCPListen, &s.AdminListen, &s.GRPCListen} {
			if *a, err = freeport.Addr(); err != nil {
				return nil, err
			}
		}
		if !p.L4 {
			s.TCPListen = ""
		}
		if p.TLS {
			if s.TLSListen, err = freeport.Addr(); err != nil {
				return nil, err
			}
			// Absolute paths: every peer reads the same certificate.
			for _, f := range []*string{&s.TLSCert, &s.TLSKey, &s.TLSCombined} {
				if *f, err = filepath.Abs(*f); err != nil {
					return nil, err
				}
			}
		}
		cfg, err := p.Generate(dir, s)
		if err != nil {
			return nil, err
		}
		if p.Validate != nil {
			if b, err := p.Validate(bin, dir, cfg).CombinedOutput(); err != nil {
				r.skip(p.Name, fmt.Sprintf("%s rejects %s: %v: %s", p.Name, cfg, err, strings.TrimSpace(string(b))))
				continue
			}
		}
		pp := &prepared{p: p, bin: bin, dir: dir, cfg: cfg, setup: s}
		if b, err := p.Version(bin).CombinedOutput(); err == nil {
			pp.version = firstLine(string(b))
		}
		out = append(out, pp)
		r.res.Peers = append(r.res.Peers, p.Name)
	}
	if len(out) == 0 {
		return nil, errors.New("no peer to benchmark: " + strings.Join(r.res.Skipped, "; "))
	}
	return out, nil
}

func (r *runner) skip(name, why string) {
	r.res.Skipped = append(r.res.Skipped, name+": "+why)
	r.logf("skipping %s: %s", name, why)
}

func (r *runner) meta(peers []*prepared) map[string]any {
	versions := map[string]string{}
	for _, p := range peers {
		versions[p.p.Name] = p.version
	}
	driver := "go"
	if r.wrk != "" {
		driver = "wrk (L7 throughput scenarios a-c), go (the rest)"
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	pin := "none (taskset not found or fewer than 2 CPUs)"
	if r.taskset != "" {
		pin = "proxy on CPU " + r.opts.ProxyCPUs + "; driver and backends on the others"
	}
	return map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "cpus": onlineCPUs(), "harness_cpus": runtime.NumCPU(),
		"gomaxprocs": runtime.GOMAXPROCS(0), "cpu_model": cpuModel(),
		"go": runtime.Version(), "kernel": strings.TrimSpace(string(kernel)), "versions": versions,
		"driver": driver, "pinning": pin, "duration": r.opts.Duration.String(), "warmup": r.opts.Warmup.String(),
		"reps": r.opts.Reps, "idle_conns": r.opts.IdleConns, "idle_sessions": r.opts.IdleSessions, "quick": r.opts.Quick,
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// raiseNoFile raises RLIMIT_NOFILE towards want (the hard limit too when allowed) and
// returns the soft limit now in force. It always calls Setrlimit, so that child processes
// (the proxies) inherit the raised limit instead of the one Go restores for children.
func raiseNoFile(want uint64) uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 1024
	}
	if rl.Max < want {
		try := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) == nil {
			return want
		}
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// legend is the line printed under the table: what the cells hold.
func legend(o Options) string {
	return fmt.Sprintf("Medians of %d run(s) of %v each (after %v warm-up); in parentheses each peer's median ÷ sluice's. "+
		"Proxy CPU is the proxy's user+system time in the measurement window, pinned to one core.%s", o.Reps, o.Duration, o.Warmup, apiLegend(o))
}

// onlineCPUs counts the machine's online CPUs from /sys (runtime.NumCPU counts only those
// this process may run on, one once pinned); it falls back to runtime.NumCPU.
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b < a {
			return runtime.NumCPU()
		}
		n += b - a + 1
	}
	return n
}

// cpuModel is the first "model name" in /proc/cpuinfo, or "".
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
