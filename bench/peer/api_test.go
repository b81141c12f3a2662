package peer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/bench/benchtest"
)

func TestSluiceAPINames(t *testing.T) {
	for name, want := range map[string]string{"sluice+stream10": "stream 10", "sluice+stream": "stream 1", "sluice+watch": "watch 1",
		"sluice+watch1000": "watch 1000", "sluice+stream10-nologs": "stream 10 [stats events]", "sluice+stream-nologs": "stream 1 [stats events]"} {
		p, err := SluiceAPI("bin/sluice", name)
		if err == nil && p.API.Kind == "stream" && !strings.HasSuffix(name, "-nologs") && fmt.Sprint(p.API.Topics) != "[stats events logs]" {
			t.Errorf("%s: topics %v", name, p.API.Topics)
		}
		got := ""
		if err == nil {
			got = p.API.Kind + " " + strconv.Itoa(p.API.N)
			if strings.HasSuffix(name, "-nologs") {
				got += " " + fmt.Sprint(p.API.Topics)
			}
		}
		if err != nil || p.Name != name || got != want || len(p.API.Password) != 32 {
			t.Errorf("%s: %+v %v, want %s", name, p, err, want)
		}
	}
	for _, bad := range []string{"sluice", "sluice+", "sluice+stream0", "sluice+stream1001", "sluice+stream-1", "sluice+watch+1", "sluice+streams", "haproxy+watch", "sluice+watch-nologs", "sluice+stream-nologs2"} {
		if _, err := SluiceAPI("bin/sluice", bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	ps, err := Select("bin/sluice", []string{"caddy", "sluice+watch", "sluice", "sluice+stream10", "sluice+watch", "sluice-rl"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "sluice,sluice-rl,sluice+watch,sluice+stream10,caddy" {
		t.Fatalf("Select order %s", got)
	}
	if _, err := Select("bin/sluice", []string{"envoy"}); err == nil || !strings.Contains(err.Error(), "sluice+streamN, sluice+streamN-nologs, sluice+watchN") {
		t.Fatalf("Select envoy: %v", err)
	}
}

// TestSluiceAPIConfig generates an API peer's config with the built binary's own
// hash-password (bcrypt, cost 12), checks `sluice validate` accepts it and that a state_dir
// left by an earlier run is removed (logging in with the password is
// bench/apiclient's TestStreamAndWatchClientsCount).
func TestSluiceAPIConfig(t *testing.T) {
	bin := benchtest.Sluice(t)
	p, err := SluiceAPI(bin, "sluice+watch2")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stale := filepath.Join(dir, "state", "keys.json")
	if err := os.MkdirAll(filepath.Dir(stale), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testSetup
	s.GRPCListen = "127.0.0.1:18083"
	cfg, err := p.Generate(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	for _, want := range []string{"  listen: 127.0.0.1:18082\n  grpc_listen: 127.0.0.1:18083\n  state_dir: " + filepath.Join(dir, "state") + "\n",
		`- {name: bench, password_hash: "$2a$12$`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale keys.json kept: %v", err)
	}
	if out, err := p.Validate(bin, dir, cfg).CombinedOutput(); err != nil {
		t.Fatalf("sluice validate: %v\n%s\n%s", err, out, b)
	}
	s.GRPCListen = ""
	if _, err := p.Generate(dir, s); err == nil {
		t.Fatal("generated without a gRPC address")
	}
	if _, err := hashPassword(filepath.Join(dir, "missing"), "x"); err == nil {
		t.Fatal("hash-password of a missing binary")
	}
}
