package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testcert"
)

func TestLoadPairErrorsNameTheFile(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	good := ca.Issue(t, "a.example.com")
	other := ca.Issue(t, "b.example.com")
	expired := ca.IssueWith(t, testcert.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, "old.example.com")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("hello\n"), 0o600)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name      string
		cert, key string
		file      string
		isKey     bool
		want      string
	}{
		{"unreadable cert", missing, good.KeyFile, missing, false, "cannot read"},
		{"unreadable key", good.CertFile, missing, missing, true, "cannot read"},
		{"not pem", junk, good.KeyFile, junk, false, "no PEM certificate"},
		{"bad der", bad, good.KeyFile, bad, false, "does not parse"},
		{"mismatched key", good.CertFile, other.KeyFile, other.KeyFile, true, "does not match"},
		{"key is a cert", good.CertFile, good.CertFile, good.CertFile, true, "no PEM private key"},
		{"expired", expired.CertFile, expired.KeyFile, expired.CertFile, false, "expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPair(tc.cert, tc.key, time.Now())
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FileError", err)
			}
			if fe.File != tc.file || fe.Key != tc.isKey || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q (file %s key %v), want file %s key %v and %q", err, fe.File, fe.Key, tc.file, tc.isKey, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.file+": ") {
				t.Fatalf("err %q does not start with the file name", err)
			}
		})
	}
	p, err := LoadPair(good.CertFile, good.KeyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "a.example.com" || p.Cert.Leaf == nil || !p.NotAfter.Equal(good.X509.NotAfter) {
		t.Fatalf("pair = %+v", p)
	}
}

func TestStoreSelect(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	def := pair(t, ca.Issue(t, "default.example.com"))
	exact := pair(t, ca.Issue(t, "api.example.com"))
	wild := pair(t, ca.Issue(t, "*.example.com"))
	s := NewStore([]*Pair{def, exact, wild})
	for _, tc := range []struct {
		sni  string
		want *Pair
	}{
		{"api.example.com", exact},
		{"API.Example.COM.", exact},
		{"www.example.com", wild},
		{"a.b.example.com", def}, // a wildcard covers one label
		{"example.com", def},
		{"", def},
		{"default.example.com", def},
		{"other.test", def},
	} {
		if got := s.Select(tc.sni); got != tc.want.Cert {
			t.Errorf("Select(%q) = %v, want %v", tc.sni, got.Leaf.DNSNames, tc.want.Names)
		}
	}
	if NewStore(nil).Select("x") != nil {
		t.Fatal("empty store selected something")
	}
}

func pair(t *testing.T, l *testcert.Leaf) *Pair {
	t.Helper()
	p, err := LoadPair(l.CertFile, l.KeyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve accepts TLS connections with srv until the listener closes.
func serve(t *testing.T, srv *Server, keys *TicketKeys) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if keys != nil {
		keys.Attach(srv.Config())
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, srv.Config())
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() == nil {
					var b [1]byte
					tc.Read(b[:]) // lets TLS 1.3 tickets go out; ends at the client's close
				}
				tc.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	// Read the server's tickets (TLS 1.3 sends them after the handshake).
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	c.Read(b[:])
	return c.ConnectionState(), nil
}

func TestServerSNIAndSwap(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	a := pair(t, ca.Issue(t, "a.example.com"))
	b := pair(t, ca.Issue(t, "b.example.com"))
	srv := NewServer(Settings{Store: NewStore([]*Pair{a, b})})
	addr := serve(t, srv, nil)
	check := func(sni, want string) {
		t.Helper()
		st, err := dial(t, addr, &tls.Config{ServerName: sni, RootCAs: ca.Pool(), NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("%s: %v", sni, err)
		}
		if got := st.PeerCertificates[0].DNSNames[0]; got != want {
			t.Fatalf("SNI %s got certificate %s, want %s", sni, got, want)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("ALPN = %q", st.NegotiatedProtocol)
		}
	}
	check("a.example.com", "a.example.com")
	check("b.example.com", "b.example.com")
	a2 := pair(t, ca.Issue(t, "a.example.com"))
	srv.Swap(Settings{Store: NewStore([]*Pair{a2, b})})
	st, err := dial(t, addr, &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(a2.Cert.Leaf.SerialNumber) != 0 {
		t.Fatal("the swapped certificate is not served")
	}
	// min_version 1.3 on a reload: a TLS 1.2-only client is refused.
	if _, err := dial(t, addr, &tls.Config{ServerName: "b.example.com", RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("TLS 1.2 refused before min_version 1.3: %v", err)
	}
	srv.Swap(Settings{Store: NewStore([]*Pair{a2, b}), MinVersion: tls.VersionTLS13})
	if _, err := dial(t, addr, &tls.Config{ServerName: "b.example.com", RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("TLS 1.2 accepted with min_version 1.3")
	}
	if st, err := dial(t, addr, &tls.Config{ServerName: "b.example.com", RootCAs: ca.Pool()}); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3: %v %x", err, st.Version)
	}
}

// Tickets issued before a reload (Swap) and by a previous process (keys
// read back from the file) still resume.
func TestTicketKeysKeepResumption(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	a := pair(t, ca.Issue(t, "a.example.com"))
	file := filepath.Join(t.TempDir(), "tls-ticket-keys")
	now := time.Now()
	keys, err := NewTicketKeys(TicketOptions{File: file}, now)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Settings{Store: NewStore([]*Pair{a})})
	addr := serve(t, srv, keys)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(4)
		cfg := &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool(), ClientSessionCache: cache, MaxVersion: v}
		if st, err := dial(t, addr, cfg); err != nil || st.DidResume {
			t.Fatalf("first: %v resumed=%v", err, st.DidResume)
		}
		srv.Swap(Settings{Store: NewStore([]*Pair{a})}) // a reload
		if st, err := dial(t, addr, cfg); err != nil || !st.DidResume {
			t.Fatalf("v%x after a reload: %v resumed=%v", v, err, st.DidResume)
		}
		// A new process reads the keys from the file.
		keys2, err := NewTicketKeys(TicketOptions{File: file}, now.Add(time.Minute))
		if err != nil || keys2.Len() < 1 {
			t.Fatalf("reloaded keys: %v len %d", err, keys2.Len())
		}
		srv2 := NewServer(Settings{Store: NewStore([]*Pair{a})})
		addr2 := serve(t, srv2, keys2)
		if st, err := dial(t, addr2, cfg); err != nil || !st.DidResume {
			t.Fatalf("v%x in the next process: %v resumed=%v", v, err, st.DidResume)
		}
		// Rotation keeps the old key for decryption.
		if n := keys2.Len(); func() bool {
			ok, err := keys2.Rotate(now.Add(time.Duration(3+n) * time.Hour))
			return !ok || err != nil || keys2.Len() != n+1
		}() {
			t.Fatalf("rotate: len %d", keys2.Len())
		}
		if st, err := dial(t, addr2, cfg); err != nil || !st.DidResume {
			t.Fatalf("v%x after a rotation: %v resumed=%v", v, err, st.DidResume)
		}
		keys2.Detach(srv2.Config())
	}
	// Keys older than Keep rotations are dropped.
	keys3, _ := NewTicketKeys(TicketOptions{Rotation: time.Hour, Keep: 3}, now)
	for i := 1; i <= 5; i++ {
		keys3.Rotate(now.Add(time.Duration(i) * time.Hour))
	}
	if keys3.Len() != 3 {
		t.Fatalf("kept %d keys, want 3", keys3.Len())
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi.Mode())
	}
}

func TestFailureReason(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	a := pair(t, ca.Issue(t, "a.example.com"))
	srv := NewServer(Settings{Store: NewStore([]*Pair{a}), MinVersion: tls.VersionTLS13})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The "unknown ca" client verifies against the system roots: load them
	// now, so that their first load (slow on a busy machine) is not part of
	// the handshake.
	if _, err := x509.SystemCertPool(); err != nil {
		t.Fatal(err)
	}
	// Each handshake's deadline: short for the stall, which only the
	// deadline ends; long for the others, which the client ends (a loaded
	// machine may take longer than the stall's 300ms to verify and alert).
	errs, deadlines := make(chan error, 1), make(chan time.Duration, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(c, srv.Config())
			tc.SetDeadline(time.Now().Add(<-deadlines))
			errs <- tc.Handshake()
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name   string
		client func(c net.Conn)
		want   string
	}{
		{"plain http", func(c net.Conn) { c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) }, ReasonNotTLS},
		{"stall", func(c net.Conn) { c.Write([]byte{0x16, 3, 1}) }, ReasonTimeout},
		{"close", func(c net.Conn) { c.Close() }, ReasonClosed},
		{"version", func(c net.Conn) {
			tls.Client(c, &tls.Config{ServerName: "a.example.com", MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true}).Handshake()
		}, ReasonVersion},
		{"unknown ca", func(c net.Conn) {
			tls.Client(c, &tls.Config{ServerName: "a.example.com"}).Handshake()
		}, ReasonAlert},
		{"alpn", func(c net.Conn) {
			tls.Client(c, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{"smtp"}}).Handshake()
		}, ReasonALPN},
	} {
		if tc.want == ReasonTimeout {
			deadlines <- 300 * time.Millisecond
		} else {
			deadlines <- 10 * time.Second
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tc.client(c)
		err = <-errs
		c.Close()
		if got := FailureReason(err); got != tc.want {
			t.Errorf("%s: reason %q for %v, want %q", tc.name, got, err, tc.want)
		}
	}
}
