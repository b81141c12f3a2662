package peer

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/bench/backend"
	"github.com/sluicelb/sluice/internal/freeport"

	"github.com/sluicelb/sluice/internal/testtool"
)

var testSetup = Setup{
	HTTPListen: "127.0.0.1:18080", TCPListen: "127.0.0.1:18081", AdminListen: "127.0.0.1:18082",
	HTTPBackends: []string{"127.0.0.1:19001", "127.0.0.1:19002"},
	TCPBackends:  []string{"127.0.0.1:19101", "127.0.0.1:19102"},
	MaxConns:     12000,
}

// TestConfigsValid generates every peer's config and runs the peer's own validator when
// the peer is installed.
func TestConfigsValid(t *testing.T) {
	sluice := os.Getenv("SLUICE_BIN")
	if sluice == "" {
		sluice = "../../bin/sluice"
		if _, err := os.Stat(sluice); err != nil { // not built by make build: build it here
			sluice = filepath.Join(t.TempDir(), "sluice")
			if out, err := exec.Command("go", "build", "-o", sluice, "github.com/sluicelb/sluice/cmd/sluice").CombinedOutput(); err != nil {
				t.Fatalf("build sluice: %v\n%s", err, out)
			}
		}
	}
	for _, p := range All(sluice) {
		t.Run(p.Name, func(t *testing.T) {
			dir := t.TempDir()
			s := testSetup
			if !p.L4 {
				s.TCPListen = ""
			}
			cfg, err := p.Generate(dir, s)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range append(s.HTTPBackends, s.HTTPListen) {
				if !bytes.Contains(b, []byte(a[strings.IndexByte(a, ':'):])) {
					t.Fatalf("%s does not mention %s:\n%s", cfg, a, b)
				}
			}
			bin := peerBinary(t, p, sluice)
			out, err := p.Validate(bin, dir, cfg).CombinedOutput()
			if err != nil {
				t.Fatalf("%s rejects %s: %v\n%s\n--- config:\n%s", p.Name, cfg, err, out, b)
			}
		})
	}
}

func TestStartStopRSS(t *testing.T) {
	// haproxy starts fastest; the test needs it installed.
	p := HAProxy()
	bin := testtool.Need(t, p.Binary)
	be, err := backend.StartHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	dir := t.TempDir()
	s := Setup{HTTPListen: freeAddr(t), HTTPBackends: []string{be.Addr()}, MaxConns: 1000}
	cfg, err := p.Generate(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := testtool.Find(t, "taskset")
	pr, err := Start(p, bin, dir, cfg, ts, "0")
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.WaitReady(10*time.Second, s.HTTPListen); err != nil {
		_ = pr.Stop()
		t.Fatal(err)
	}
	rss, err := pr.RSS()
	if err != nil || rss <= 0 {
		t.Fatalf("RSS=%d err=%v", rss, err)
	}
	// Burn some proxy CPU, then check CPUTime sees it (10 ms ticks).
	deadline := time.Now().Add(10 * time.Second)
	for {
		cpu, err := pr.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		if cpu > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CPUTime stayed 0 under load")
		}
		for range 200 {
			if c, err := net.Dial("tcp", s.HTTPListen); err == nil {
				_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}
		}
	}
	if err := pr.Stop(); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestProcCPUParses(t *testing.T) {
	d, err := TreeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 || d%clockTick != 0 {
		t.Fatalf("TreeCPU(self)=%v", d)
	}
	if _, err := TreeCPU(1 << 30); err == nil {
		t.Fatal("no error for a missing pid")
	}
}

func TestCoreBusy(t *testing.T) {
	d, err := CoreBusy(0)
	if err != nil || d <= 0 {
		t.Fatalf("CoreBusy(0)=%v err=%v", d, err)
	}
	if _, err := CoreBusy(1 << 20); err == nil {
		t.Fatal("no error for a missing CPU")
	}
}

func TestTidy(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Caddyfile", "caddy.log", "empty.log", "config/caddy/autosave.json", ".step/certs/x"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		data := "x"
		if f == "empty.log" {
			data = ""
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Caddy().Tidy(dir); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != "Caddyfile,caddy.log" {
		t.Fatalf("left %v", got)
	}
}

// peerBinary is the program p runs: sluice's at sluicePath (built above),
// another peer's where installed (testtool: skipped where absent, a failure
// with SLUICE_REQUIRE_TOOLS=1).
func peerBinary(t *testing.T, p *Peer, sluicePath string) string {
	t.Helper()
	if p.Binary != sluicePath {
		return testtool.Need(t, p.Binary)
	}
	bin, err := p.Lookup()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
