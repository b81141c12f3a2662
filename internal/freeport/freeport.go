// Package freeport finds loopback ports for tests and the benchmark harness
// to hand to a process that binds them later.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// Addr returns a 127.0.0.1 address whose port was free a moment ago. The
// port is outside the kernel's default ephemeral range (32768–60999): a port
// from ":0" can be taken as the source port of any outgoing connection of a
// concurrent test or load driver before the intended process binds it. Safe
// for concurrent use.
func Addr() (string, error) {
	for i := 0; i < 1000; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(20000+rand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr, nil
	}
	return "", errors.New("freeport: no free port in 20000-31999")
}
