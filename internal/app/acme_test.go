package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testcert"
)

// pebble is a Pebble ACME server run by a test (`go tool pebble`).
type pebble struct {
	dir    string // directory URL
	caFile string // CA of Pebble's own HTTPS certificate
	mgmt   string // management address (roots)
	ca     *testcert.CA
	out    *obsBuffer
}

// startPebble runs Pebble on loopback ports, its certificates valid for
// validity seconds; with alwaysValid it skips challenge validation
// (PEBBLE_VA_ALWAYS_VALID=1), else it validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort.
func startPebble(t *testing.T, validity int, alwaysValid bool, httpPort, tlsPort int) *pebble {
	t.Helper()
	goBin := "go" // the toolchain running this test runs Pebble (go tool pebble)
	p := &pebble{ca: testcert.NewCA(t, "pebble-https"), out: &obsBuffer{}}
	leaf := p.ca.Issue(t, "localhost", "127.0.0.1")
	p.caFile = p.ca.File
	listen, mgmt := obsFreeAddr(t), obsFreeAddr(t)
	p.mgmt = mgmt
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": leaf.CertFile, "privateKey": leaf.KeyFile,
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "short-lived, for renewal tests", "validityPeriod": validity}},
	}}
	b, _ := json.Marshal(conf)
	cfgFile := filepath.Join(t.TempDir(), "pebble.json")
	os.WriteFile(cfgFile, b, 0o600)
	cmd := exec.Command(goBin, "tool", "pebble", "-config", cfgFile)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	if alwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// `go tool` runs Pebble as its child: give them a process group of
	// their own and end the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.out.b.String())
		}
	})
	p.dir = "https://" + listen + "/dir"
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()}}}
	// The first `go tool pebble` builds Pebble: allow for it.
	obsEventually(t, 3*time.Minute, func() error {
		resp, err := cl.Get(p.dir)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("directory: %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

// roots returns Pebble's current root (it makes a new one at every start).
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()}}}
	resp, err := cl.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pemData, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("pebble root: %q", pemData)
	}
	return pool
}

// acmeServed returns the leaf certificate sluice serves for name at addr,
// verified against roots ("" error when none verifies yet).
func acmeServed(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// acmeApp starts sluice with an ACME frontend for domains.
func acmeApp(t *testing.T, p *pebble, web, plain string, renewRatio float64, domains ...string) (*App, string) {
	t.Helper()
	admin := obsFreeAddr(t)
	be := obsHTTPBackend(t, 200, "acme")
	ds, _ := json.Marshal(domains)
	redirect := ""
	if plain != "" {
		redirect = fmt.Sprintf("redirect_from: %q, ", plain)
	}
	src := fmt.Sprintf(`admin: {listen: %q, state_dir: %q}
logging: {access_log: "off"}
frontends:
  - name: web
    listen: %q
    backend: app
    tls: {%sacme: {email: ops@example.com, domains: %s, directory: %q, ca: %s}}
backends:
  - name: app
    servers: [{address: %q}]
`, admin, t.TempDir(), web, redirect, ds, p.dir, p.caFile, be)
	cfg, err := LoadConfig(tlsFile(t, src))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&acmeLog{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := New(Options{Logger: log, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	a.acmeRenewCheck, a.acmeRenewRatio = time.Second, renewRatio
	if err := a.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a, admin
}

// acmeLog sends the App's log to the test log while the test runs.
type acmeLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (l *acmeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("%s", p)
	}
	return len(p), nil
}

// ACME against Pebble: a certificate is obtained at start (no handshake
// needed to trigger it), served for its name with a chain to Pebble's
// root, and renewed before it expires (Pebble issues 30-second
// certificates here); the expiry metric follows.
func TestACMEObtainServeRenew(t *testing.T) {
	p := startPebble(t, 30, true, 0, 0)
	web := obsFreeAddr(t)
	_, admin := acmeApp(t, p, web, "", 0.6, "acme.test")
	roots := p.roots(t)
	var first *x509.Certificate
	obsEventually(t, 60*time.Second, func() error {
		c, err := acmeServed(web, "acme.test", roots)
		if err != nil {
			return err
		}
		first = c
		return nil
	})
	if first.DNSNames[0] != "acme.test" || first.NotAfter.Sub(first.NotBefore) > time.Minute {
		t.Fatalf("served %v valid %v..%v", first.DNSNames, first.NotBefore, first.NotAfter)
	}
	obsEventually(t, 10*time.Second, func() error {
		v, ok := obsFind(obsMetrics(t, admin), "sluice_tls_certificate_expiry_seconds", obsLabels("frontend", "web", "name", "acme.test"))
		if !ok || math.IsNaN(v) || v <= 0 || v > 31 {
			return fmt.Errorf("expiry metric %v (found %v)", v, ok)
		}
		return nil
	})
	// Renewed before it expires: a new certificate is served while the
	// first is still valid.
	var renewed *x509.Certificate
	obsEventually(t, 40*time.Second, func() error {
		c, err := acmeServed(web, "acme.test", roots)
		if err != nil {
			return err
		}
		if c.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return fmt.Errorf("still the first certificate (expires in %v)", time.Until(first.NotAfter).Round(time.Second))
		}
		renewed = c
		return nil
	})
	if !time.Now().Before(first.NotAfter) {
		t.Fatalf("renewed only after the first certificate expired (%v)", first.NotAfter)
	}
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Fatalf("the renewed certificate expires %v, not after the first's %v", renewed.NotAfter, first.NotAfter)
	}
	t.Logf("obtained %s (expires %v), renewed %s at %v before expiry", first.SerialNumber, first.NotAfter.Format(time.TimeOnly),
		renewed.SerialNumber, time.Until(first.NotAfter).Round(time.Second))
}

// ACME with Pebble validating the challenges for real (no
// PEBBLE_VA_ALWAYS_VALID): TLS-ALPN-01 answered on the TLS listener
// itself, and HTTP-01 answered on redirect_from (Pebble's TLS-ALPN-01
// port points nowhere there, so only HTTP-01 can succeed).
func TestACMEChallengesValidated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		redirect bool
	}{{"tls-alpn-01", false}, {"http-01", true}} {
		t.Run(tc.name, func(t *testing.T) {
			web := obsFreeAddr(t)
			plain, tlsPort := "", portOf(web)
			if tc.redirect {
				plain, tlsPort = obsFreeAddr(t), freePort(t) // nothing listens on tlsPort
			}
			p := startPebble(t, 300, false, portOf(plain), tlsPort)
			acmeApp(t, p, web, plain, 0, "localhost")
			roots := p.roots(t)
			obsEventually(t, 90*time.Second, func() error {
				c, err := acmeServed(web, "localhost", roots)
				if err != nil {
					return err
				}
				if c.DNSNames[0] != "localhost" {
					return fmt.Errorf("served %v", c.DNSNames)
				}
				return nil
			})
		})
	}
}
