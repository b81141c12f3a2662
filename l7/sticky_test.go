package l7

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// namedBackends starts n HTTP servers answering their own name.
func namedBackends(t *testing.T, n int) (addrs []string, names map[string]string) {
	t.Helper()
	names = map[string]string{}
	for i := 0; i < n; i++ {
		name := string(rune('A' + i))
		b := startBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
		addrs = append(addrs, b.addr)
		names[b.addr] = name
	}
	return addrs, names
}

// 1,000 requests of one client stay on one server under every algorithm,
// and move (with the cookie rewritten) only when that server is drained,
// disabled or down; the cookie never shows the address.
func TestStickySessions(t *testing.T) {
	addrs, names := namedBackends(t, 3)
	for _, alg := range []balance.Algorithm{balance.RoundRobin, balance.WeightedRoundRobin, balance.LeastConnections, balance.IPHash} {
		t.Run(alg.String(), func(t *testing.T) {
			var ss []*balance.Server
			for i, a := range addrs {
				ss = append(ss, balance.NewServer("web", a, i+1))
			}
			bal := balance.New(balance.Options{Algorithm: alg}, ss)
			be, err := NewBackend(BackendOptions{Name: "web", Sticky: StickyOptions{Cookie: "SRV", TTL: time.Hour, Secret: [32]byte{7}}}, bal)
			if err != nil {
				t.Fatal(err)
			}
			_, addr := startProxy(t, Options{Default: be})
			jar, _ := cookiejar.New(nil)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}
			var lastCookie string
			do := func() (server string, setCookie string) {
				resp, err := cl.Get("http://" + addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				sc := resp.Header.Get("Set-Cookie")
				if sc != "" {
					lastCookie = sc
				}
				return string(body), sc
			}
			first, sc := do()
			if !strings.HasPrefix(sc, "SRV=") || !strings.Contains(sc, "Max-Age=3600") || !strings.Contains(sc, "HttpOnly") {
				t.Fatalf("first response Set-Cookie %q", sc)
			}
			for _, a := range addrs {
				if strings.Contains(sc, a) || strings.Contains(sc, strings.Split(a, ":")[1]) {
					t.Fatalf("cookie %q shows the address %s", sc, a)
				}
			}
			for i := 0; i < 999; i++ {
				if got, sc := do(); got != first || sc != "" {
					t.Fatalf("request %d went to %s (Set-Cookie %q), want %s", i+2, got, sc, first)
				}
			}
			srvOf := func(name string) *balance.Server {
				for _, s := range ss {
					if names[s.Addr()] == name {
						return s
					}
				}
				t.Fatalf("no server %s", name)
				return nil
			}
			cur := first
			for _, step := range []struct {
				name        string
				break_, fix func(*balance.Server)
			}{
				{"drained", func(s *balance.Server) { s.SetDraining(true) }, func(s *balance.Server) { s.SetDraining(false) }},
				{"disabled", func(s *balance.Server) { s.SetEnabled(false) }, func(s *balance.Server) { s.SetEnabled(true) }},
				{"down", func(s *balance.Server) { s.SetActiveUp(false) }, func(s *balance.Server) { s.SetActiveUp(true) }},
			} {
				s := srvOf(cur)
				step.break_(s)
				before := lastCookie
				moved, sc := do()
				if moved == cur || sc == "" || sc == before {
					t.Fatalf("%s: still on %s (Set-Cookie %q)", step.name, moved, sc)
				}
				for i := 0; i < 100; i++ {
					if got, sc := do(); got != moved || sc != "" {
						t.Fatalf("%s: request went to %s (Set-Cookie %q), want %s", step.name, got, sc, moved)
					}
				}
				step.fix(s) // the client stays where its cookie now points
				for i := 0; i < 50; i++ {
					if got, _ := do(); got != moved {
						t.Fatalf("%s fixed: request went back to %s", step.name, got)
					}
				}
				cur = moved
			}
			// A forged or stale cookie is treated as none.
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			req.Header.Set("Cookie", "SRV=0123456789abcdef")
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "SRV=") {
				t.Fatal("a forged cookie was not replaced")
			}
		})
	}
}
