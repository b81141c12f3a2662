package config

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testcert"
)

// Every example in configs/ must load without errors (with no environment
// variables set: examples give defaults for theirs).
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 example configs, got %v %v", files, err)
	}
	// configs/tls.yaml reads its certificates from SLUICE_TLS_DIR: make them.
	tlsDir := t.TempDir()
	ca := testcert.NewCA(t, "examples")
	for name, names := range map[string][]string{"example.com": {"example.com", "www.example.com"}, "wildcard.example.org": {"*.example.org"}} {
		l := ca.Issue(t, names...)
		os.WriteFile(filepath.Join(tlsDir, name+".pem"), l.CertPEM, 0o600)
		os.WriteFile(filepath.Join(tlsDir, name+"-key.pem"), l.KeyPEM, 0o600)
	}
	lookup := func(k string) (string, bool) {
		if k == "SLUICE_TLS_DIR" {
			return tlsDir, true
		}
		return "", false
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			c, err := parse(p, data, lookup)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if c.SHA256 != sha256.Sum256(data) || len(c.Checksum()) != 64 {
				t.Error("checksum")
			}
		})
	}
}

func TestQuickstartShape(t *testing.T) {
	c, err := Load("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen != "127.0.0.1:9900" || c.Logging.AccessLog != "stdout" || len(c.Frontends) != 2 || len(c.Backends) != 2 {
		t.Fatalf("%+v", c)
	}
	web, echo := c.Frontends[0], c.Frontends[1]
	if web.Mode != "http" || web.Listen != "127.0.0.1:8080" || web.Backend != "web" {
		t.Errorf("web = %+v", web)
	}
	if echo.Mode != "tcp" || echo.Listen != "127.0.0.1:8081" || echo.Backend != "echo" {
		t.Errorf("echo = %+v", echo)
	}
	bw, be := c.Backends[0], c.Backends[1]
	if bw.Algorithm != "round_robin" || len(bw.Servers) != 3 || bw.Servers[2].Address != "127.0.0.1:9003" ||
		bw.Health.Active.Type != "http" || bw.Health.Active.Path != "/health" {
		t.Errorf("web backend = %+v", bw)
	}
	if be.Algorithm != "least_connections" || len(be.Servers) != 3 || be.Servers[0].Address != "127.0.0.1:9101" ||
		be.Health.Active.Type != "tcp" || be.Health.Active.Interval != 2*time.Second {
		t.Errorf("echo backend = %+v", be)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.HasSuffix(err.Error(), "missing.yaml: cannot read configuration: no such file or directory") {
		t.Fatalf("got %v", err)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte(minimal+"bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(p)
	if err == nil || err.Error() != p+`:9:1: top level: unknown key "bogus"; known keys: admin, logging, shutdown_timeout, max_connections, frontends, backends, rate_limit_store, resolvers, alerts` {
		t.Fatalf("got %v", err)
	}
	if _, err := parseT(strings.Repeat("#", MaxFileSize+1)); err == nil || !strings.Contains(err.Error(), "file is larger than") {
		t.Fatalf("got %v", err)
	}
}

// Parse reads the real environment.
func TestParseUsesEnvironment(t *testing.T) {
	t.Setenv("SLUICE_TEST_LISTEN", "127.0.0.1:18080")
	c, err := Parse("e.yaml", []byte(strings.Replace(minimal, "127.0.0.1:8080", "${SLUICE_TEST_LISTEN}", 1)))
	if err != nil || c.Frontends[0].Listen != "127.0.0.1:18080" {
		t.Fatalf("%v %v", c, err)
	}
}
