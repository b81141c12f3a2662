package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testcert"
)

func TestTLSConfigLoads(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	a := ca.Issue(t, "a.example.com")
	w := ca.Issue(t, "*.example.com")
	src := fmt.Sprintf(`admin: {state_dir: /var/lib/sluice}
frontends:
  - name: web
    listen: 127.0.0.1:8443
    backend: app
    tls:
      certificates:
        - {cert: %s, key: %s}
        - {cert: %s, key: %s}
      redirect_from: 127.0.0.1:8080
      hsts: 24h
      acme: {email: ops@example.com, domains: [Example.COM, www.example.com]}
  - name: pg
    mode: tcp
    listen: 127.0.0.1:5433
    routes:
      - match: {sni: [DB1.example.com, "*.db.example.com"]}
        backend: db1
backends:
  - name: app
    sticky: {}
    tls: {enabled: true, server_name: app.internal, ca: %s}
  - name: db1
    sticky: {cookie: S, ttl: 1h}
`, a.CertFile, a.KeyFile, w.CertFile, w.KeyFile, ca.File)
	c := mustParse(t, src)
	ft := c.Frontends[0].TLS
	if ft.MinVersion != "1.2" || ft.HSTS != 24*time.Hour || ft.RedirectFrom != "127.0.0.1:8080" {
		t.Fatalf("tls = %+v", ft)
	}
	if p := ft.Certificates[0].Pair; p == nil || p.Name() != "a.example.com" || ft.Certificates[1].Pair.Name() != "*.example.com" {
		t.Fatalf("pairs not loaded: %+v", ft.Certificates)
	}
	ac := ft.ACME
	if ac.Directory != DefaultACMEDirectory || ac.Domains[0] != "example.com" || ac.StoragePath(c.Admin.StateDir) != "/var/lib/sluice/acme" {
		t.Fatalf("acme = %+v", ac)
	}
	if r := c.Frontends[1].Routes[0]; r.Name != "route-1" || r.Match.SNI[0] != "db1.example.com" || r.Backend != "db1" || c.Frontends[1].Backend != "" {
		t.Fatalf("tcp route = %+v", r)
	}
	b := c.Backends[0]
	if !b.TLS.Enabled || b.TLS.RootCAs == nil || b.TLS.CASum == [32]byte{} || b.Sticky.Cookie != "SLUICE_STICKY" || b.Sticky.TTL != 0 {
		t.Fatalf("backend = %+v", b)
	}
	if s := c.Backends[1].Sticky; s.Cookie != "S" || s.TTL != time.Hour {
		t.Fatalf("sticky = %+v", s)
	}
	b2 := c.Backends[0].TLS
	if !b.TLS.Same(&b2) {
		t.Fatal("Same is false for a copy")
	}
	b2.CASum[0]++
	if b.TLS.Same(&b2) {
		t.Fatal("Same ignores the CA content")
	}
}

// Certificate problems are validation errors at the key naming the file,
// with the file's name and the cause.
func TestTLSFileErrors(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	good := ca.Issue(t, "a.example.com")
	other := ca.Issue(t, "b.example.com")
	expired := ca.IssueWith(t, testcert.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, "old.example.com")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("not a pem\n"), 0o600)
	src := fmt.Sprintf(`frontends:
  - name: web
    listen: 127.0.0.1:8443
    tls:
      certificates:
        - {cert: %s, key: %s}
        - {cert: %s, key: %s}
        - {cert: %s, key: %s}
        - cert: %s
          key: %s
backends:
  - name: app
    tls: {enabled: true, ca: %s}
`, expired.CertFile, expired.KeyFile, good.CertFile, other.KeyFile, missing, good.KeyFile, good.CertFile, junk, junk)
	got := errLines(t, src)
	want := []string{
		"6:18: frontends[0].tls.certificates[0].cert: " + expired.CertFile + ": certificate for old.example.com expired at",
		fmt.Sprintf("7:%d: frontends[0].tls.certificates[1].key: %s: private key does not match the certificate's public key (certificate %s)", 18+len(good.CertFile)+7, other.KeyFile, good.CertFile),
		"8:18: frontends[0].tls.certificates[2].cert: " + missing + ": cannot read: no such file or directory",
		"10:16: frontends[0].tls.certificates[3].key: " + junk + ": no PEM private key found",
		"13:30: backends[0].tls.ca: " + junk + ": no PEM certificate found",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}

func TestTLSValidateErrors(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	a := ca.Issue(t, "a.example.com")
	checkErrs(t, fmt.Sprintf(`frontends:
  - name: web
    listen: 127.0.0.1:8443
    backend: app
    routes:
      - {match: {sni: [x.example.com]}, backend: app}
    tls: {min_version: "1.1", hsts: -1s, redirect_from: 127.0.0.1:8443}
  - name: pg
    mode: tcp
    listen: 127.0.0.1:5433
    tls: {certificates: [{cert: %s, key: %s}]}
    routes:
      - {match: {host: a.example.com}, backend: app, request_headers: {remove: [X]}}
      - {match: {sni: ["bad name"]}, backend: nope}
  - name: acme
    listen: 127.0.0.1:9443
    tls: {acme: {domains: ["*.example.com", nodot], email: nobody, directory: "ftp://x"}}
backends:
  - name: app
    tls: {server_name: x}
    sticky: {cookie: "a b", ttl: -1s}
  - name: b2
    tls: {enabled: true, ca: /x.pem, insecure_skip_verify: true, server_name: "bad name"}
`, a.CertFile, a.KeyFile),
		`6:23: frontends[0].routes[0].match.sni: sni matches on tcp frontends only; an http route matches the Host with host`,
		`7:10: frontends[0].tls.certificates: TLS needs certificates ({cert, key} files) or acme`,
		`7:24: frontends[0].tls.min_version: unknown value "1.1": want 1.2, 1.3`,
		`7:37: frontends[0].tls.hsts: must not be negative, got -1s`,
		`7:57: frontends[0].tls.redirect_from: address 127.0.0.1:8443 is already used by frontends[0] (web, line 3)`,
		`11:10: frontends[1].tls: TLS is terminated on http frontends only; a tcp frontend passes TLS through (route it by name with routes[].match.sni)`,
		`13:17: frontends[1].routes[0].match.sni: a tcp route needs sni: a list of server names like [db1.example.com, "*.example.org"]`,
		`13:24: frontends[1].routes[0].match.host: a tcp route matches only sni (the TLS server name)`,
		`13:71: frontends[1].routes[0].request_headers: headers are only for http routes`,
		`14:24: frontends[1].routes[1].match.sni[0]: invalid server name "bad name": want a host name like db1.example.com or a leading wildcard like *.example.com`,
		`14:47: frontends[1].routes[1].backend: unknown backend "nope"; defined backends: app, b2`,
		`17:17: frontends[2].tls.acme.storage: acme keeps accounts and certificates on disk: set admin.state_dir (they go to state_dir/acme) or acme.storage`,
		`17:28: frontends[2].tls.acme.domains[0]: wildcard "*.example.com" cannot be obtained with HTTP-01 or TLS-ALPN-01 (they need DNS-01): list the names, or give a certificate file`,
		`17:45: frontends[2].tls.acme.domains[1]: invalid domain "nodot": want a DNS name like example.com`,
		`17:60: frontends[2].tls.acme.email: invalid email "nobody"`,
		`17:79: frontends[2].tls.acme.directory: want the URL of an ACME directory, like https://acme-v02.api.letsencrypt.org/directory`,
		`20:24: backends[0].tls.server_name: TLS to the servers is off: add enabled: true`,
		"21:22: backends[0].sticky.cookie: invalid cookie name \"a b\": use letters, digits and !#$%&'*+-.^_`|~",
		`21:34: backends[0].sticky.ttl: must not be negative, got -1s`,
		`23:30: backends[1].tls.ca: /x.pem: cannot read: no such file or directory`,
		`23:60: backends[1].tls.insecure_skip_verify: skips the verification ca is for: use one or the other`,
		`23:79: backends[1].tls.server_name: invalid server name "bad name": want a host name like app.internal`,
	)
}
