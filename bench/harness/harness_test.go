package harness

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/bench/benchtest"
	"github.com/sluicelb/sluice/internal/testtool"
)

func TestMain(m *testing.M) {
	code := m.Run()
	benchtest.Cleanup()
	os.Exit(code)
}

func TestOptionsValidation(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Scenarios: []string{"z"}}, `--scenario "z"`},
		{Options{Peers: []string{"envoy"}}, `--peers "envoy"`},
		{Options{Driver: "ab"}, `--driver "ab"`},
		{Options{Peers: []string{"sluice+stream0"}}, `--peers "sluice+stream0"`},
		{Options{Peers: []string{"sluice+stream1001"}}, `--peers "sluice+stream1001"`},
		{Options{Peers: []string{"sluice+poll3"}}, `--peers "sluice+poll3"`},
		{Options{Peers: []string{"sluice+watch07"}}, `--peers "sluice+watch07"`},
	} {
		if err := c.o.defaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err=%v, want %q", c.o, err, c.want)
		}
	}
	o := Options{Quick: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.Duration != time.Second || o.Reps != 1 || len(o.Scenarios) != 10 || len(o.Peers) != 4 || o.IdleConns != 2000 || o.IdleSessions != 1000 || o.Warmup != 200*time.Millisecond {
		t.Fatalf("quick defaults: %+v", o)
	}
}

// TestRunNoPeers checks that a run with no usable peer says why, and names the install hint.
func TestRunNoPeers(t *testing.T) {
	out := t.TempDir()
	var log strings.Builder
	_, err := Run(context.Background(), Options{Peers: []string{"sluice"}, Sluice: filepath.Join(out, "missing"),
		Out: out, Log: &log, IdleConns: 100})
	if err == nil || !strings.Contains(err.Error(), "sluice not found at") {
		t.Fatalf("err=%v", err)
	}
	if !strings.Contains(log.String(), "skipping sluice") {
		t.Fatalf("log: %q", log.String())
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		t.Fatal("results.json written for an empty run")
	}
}

// TestRunHAProxy runs three scenarios against haproxy (when installed) with short windows
// and the Go driver, and checks every output file.
func TestRunHAProxy(t *testing.T) {
	testtool.Need(t, "haproxy")
	out := t.TempDir()
	var log strings.Builder
	res, err := Run(context.Background(), Options{Peers: []string{"haproxy"}, Scenarios: []string{"a", "d", "g"},
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Reps: 1, Driver: "go",
		IdleConns: 200, IdleSessions: 100, Out: out, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, c := range []struct {
		sc, m string
		lo    float64
	}{{"a", "rps", 100}, {"a", "cpu_us_per_req", 0}, {"d", "rps", 100}, {"g", "idle_rss_mib", 1},
		{"g", "kib_per_conn", 0.01}, {"g", "kib_per_session", 0.01}} {
		md, ok := res.Lookup("haproxy", c.sc, c.m)
		if !ok || md.Value < c.lo {
			t.Errorf("%s %s = %+v (found %v), want >= %v\n%s", c.sc, c.m, md, ok, c.lo, log.String())
		}
	}
	if !strings.Contains(res.Markdown(), "| d) L4 64 B request/response, 64 conns | req/s |") {
		t.Errorf("table:\n%s", res.Markdown())
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Peers   []string `json:"peers"`
		Medians []struct {
			Peer string `json:"peer"`
		} `json:"medians"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Peers) != 1 || len(back.Medians) < 6 {
		t.Fatalf("results.json: %v %+v", err, back)
	}
	for _, f := range []string{"chart.svg", "results.md", "configs/haproxy/haproxy.cfg"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestRerender(t *testing.T) {
	dir := t.TempDir()
	in := `{"meta":{"reps":1,"duration":"1s"},"peers":["sluice","haproxy"],"note":"n",
"scenarios":[{"id":"a","title":"old a","metrics":[{"key":"rps","label":"req/s"}]},{"id":"g","title":"memory: 7 conns","metrics":[]}],
"samples":[{"peer":"sluice","scenario":"a","rep":1,"values":{"rps":100,"core_other_pct":5}},
{"peer":"haproxy","scenario":"a","rep":1,"values":{"rps":150,"core_other_pct":7}},
{"peer":"sluice","scenario":"g","rep":1,"values":{"kib_per_conn":3}}]}`
	if err := os.WriteFile(filepath.Join(dir, "results.json"), []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Rerender(dir)
	if err != nil {
		t.Fatal(err)
	}
	if md, ok := res.Lookup("haproxy", "a", "core_other_pct"); !ok || md.Value != 7 || md.Ratio != 1.4 {
		t.Fatalf("core_other_pct: %+v %v", md, ok)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	for _, want := range []string{"| a) old a | req/s | 100 | 150 (1.50×) |", "| g) memory: 7 conns | idle RSS MiB | n/a | n/a |", "KiB per HTTP conn | 3.00 |", "\nn\n"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "chart.svg")); err != nil {
		t.Fatal(err)
	}
}

func TestMachineInfo(t *testing.T) {
	if n := onlineCPUs(); n < 1 {
		t.Fatalf("onlineCPUs=%d", n)
	}
	_ = cpuModel() // "" is allowed (e.g. arm64 /proc/cpuinfo has no model name)
}

// TestRunAPIPeers runs scenario a against plain sluice, sluice with 3 stream clients and
// sluice with one Watch client in one run, and checks the API peers' clients were
// attached and received messages in the window (a sample fails otherwise), the plain peer
// has no API figures, and the table carries the rows. The stream clients take stats and
// events only: with logs, this race-instrumented process, busy driving the load, falls
// behind the log flood and sluice rightly drops it (bench/apiclient's tests count the
// log messages exactly).
func TestRunAPIPeers(t *testing.T) {
	out := t.TempDir()
	var log strings.Builder
	res, err := Run(context.Background(), Options{Peers: []string{"sluice+watch", "sluice", "sluice+stream3-nologs"}, Scenarios: []string{"a"},
		Sluice: benchtest.Sluice(t), Duration: 1500 * time.Millisecond, Warmup: 100 * time.Millisecond, Reps: 1, Driver: "go",
		IdleConns: 100, IdleSessions: 50, Out: out, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if strings.Join(res.Peers, ",") != "sluice,sluice+watch,sluice+stream3-nologs" {
		t.Fatalf("peers %v", res.Peers)
	}
	for _, s := range res.Samples {
		if s.Err != "" {
			t.Fatalf("%s %s: %s\n%s", s.Peer, s.Scenario, s.Err, log.String())
		}
	}
	for _, c := range []struct {
		peer, m string
		lo, hi  float64
	}{{"sluice+stream3-nologs", "api_clients", 3, 3}, {"sluice+watch", "api_clients", 1, 1},
		{"sluice+stream3-nologs", "api_min_client_msgs", 0, 10}, // stats once a second
		{"sluice+watch", "api_min_client_msgs", 0, 10},          // stats once a second (0: the next one came in the grace after the window)
		{"sluice+stream3-nologs", "api_msgs_per_s", 0, 3 * 5}, {"sluice+stream3-nologs", "rps", 100, 1e9}, {"sluice+watch", "cpu_us_per_req", 0, 1e9}} {
		md, ok := res.Lookup(c.peer, "a", c.m)
		if !ok || md.Value < c.lo || md.Value > c.hi {
			t.Errorf("%s %s = %+v (found %v), want %v..%v\n%s", c.peer, c.m, md, ok, c.lo, c.hi, log.String())
		}
	}
	if _, ok := res.Lookup("sluice", "a", "api_clients"); ok {
		t.Error("plain sluice has API figures")
	}
	md := res.Markdown()
	for _, want := range []string{"| a) L7 keep-alive, 1 KiB, 64 conns | req/s |", "|  | API clients attached | n/a | 1.00 | 3.00 |",
		"|  | API msgs received/s (all clients) | n/a |"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	for _, want := range []string{"sluice+watch: 1 watch client(s) received stats=", "sluice+stream3-nologs: 3 stream client(s) received stats=",
		"event=0 log=0\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	cfg, err := os.ReadFile(filepath.Join(out, "configs", "sluice+watch", "sluice.yaml"))
	if err != nil || !strings.Contains(string(cfg), "grpc_listen: 127.0.0.1:") || !strings.Contains(string(cfg), `password_hash: "$2`) {
		t.Fatalf("sluice+watch config: %v\n%s", err, cfg)
	}
	if _, err := os.Stat(filepath.Join(out, "configs", "sluice+stream3-nologs", "state")); !os.IsNotExist(err) {
		t.Errorf("state_dir (API keys) left in the output: %v", err)
	}
}
