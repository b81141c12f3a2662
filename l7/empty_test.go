package l7

import (
	"testing"

	"github.com/sluicelb/sluice/balance"
)

// A backend with no servers (valid configuration, contract §2) answers 503
// at once; once a server is added (a reload updates the balancer in place)
// it serves.
func TestBackendWithoutServers(t *testing.T) {
	bal := balance.New(balance.Options{}, nil)
	be, err := NewBackend(BackendOptions{Name: "empty"}, bal)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startProxy(t, Options{Frontend: "web", Default: be})
	if r := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false); r.status != 503 {
		t.Fatalf("no servers: status %d, want 503", r.status)
	}
	srv := startBackend(t, okHandler)
	bal.Update(balance.Options{}, []*balance.Server{balance.NewServer("empty", srv.addr, 1)})
	be.Update(bal)
	if r := rawExchange(t, addr, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", false); r.status != 200 || r.body != "hello from /x" {
		t.Fatalf("after adding a server: %d %q", r.status, r.body)
	}
}
