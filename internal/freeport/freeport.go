// Package freeport finds loopback ports for tests and the benchmark harness
// to hand to a process that binds them later.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// given holds the ports this process has handed out, so that two calls
// never return the same port (a test asking for seven addresses before
// anything binds them would otherwise get one twice now and then). Bounded
// by the range: when every port was given once, it starts over.
var (
	mu    sync.Mutex
	given = map[int]bool{}
)

const first, span = 20000, 12000

// Addr returns a 127.0.0.1 address whose port was free a moment ago. The
// port is outside the kernel's default ephemeral range (32768–60999): a port
// from ":0" can be taken as the source port of any outgoing connection of a
// concurrent test or load driver before the intended process binds it. A
// port is not handed out twice by one process (until all of them were).
// Safe for concurrent use.
func Addr() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if len(given) >= span/2 {
		clear(given)
	}
	for i := 0; i < 1000; i++ {
		port := first + rand.IntN(span)
		if given[port] {
			continue
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		given[port] = true
		return addr, nil
	}
	return "", errors.New("freeport: no free port in 20000-31999")
}
