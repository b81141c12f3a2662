package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadProbesNewServersFirst: with active checks on, a server added by
// a reload starts down and gets traffic only after healthy_threshold good
// probes; a server that stays keeps its state and serves throughout.
func TestReloadProbesNewServersFirst(t *testing.T) {
	var newHits atomic.Int64
	var probed atomic.Int64 // health probes answered by the new server
	var early atomic.Int64  // requests that reached it before its second probe
	serve := func(name string, hits *atomic.Int64) string {
		return obsServe(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
				}
				if strings.HasPrefix(line, "GET /health ") {
					if hits == &newHits {
						probed.Add(1)
					}
				} else if hits != nil {
					hits.Add(1)
					if probed.Load() < 2 {
						early.Add(1)
					}
				}
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+fmt.Sprint(len(name))+"\r\n\r\n"+name); err != nil {
					return
				}
			}
		})
	}
	oldSrv := serve("old", nil)
	newSrv := serve("new", &newHits)
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	conf := func(servers ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "admin: {listen: %q}\nlogging: {access_log: \"off\"}\nfrontends:\n  - {name: web, mode: http, listen: %q, backend: web}\n", admin, web)
		b.WriteString("backends:\n  - name: web\n    health: {active: {type: http, path: /health, interval: 300ms, timeout: 200ms, healthy_threshold: 2, unhealthy_threshold: 2}}\n    servers:\n")
		for _, s := range servers {
			fmt.Fprintf(&b, "      - {address: %q}\n", s)
		}
		return b.String()
	}
	a := obsStart(t, conf(oldSrv), Options{})
	obsWaitListening(t, web)
	if _, err := a.Apply(obsConfig(t, conf(oldSrv, newSrv))); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	// Until its second good probe the new server gets nothing (the old one
	// serves every request); no request fails.
	for probed.Load() < 2 {
		if code, _ := obsGet(t, web, "/"); code != 200 {
			t.Fatalf("%v after the reload: status %d", time.Since(applied), code)
		}
		if time.Since(applied) > 5*time.Second {
			t.Fatal("the new server was not probed twice within 5s")
		}
	}
	if n := early.Load(); n != 0 {
		t.Fatalf("the new server got %d requests before it was probed healthy", n)
	}
	obsEventually(t, 3*time.Second, func() error {
		obsGet(t, web, "/")
		if newHits.Load() == 0 {
			return fmt.Errorf("the new server gets no traffic after it was probed healthy")
		}
		return nil
	})
}
