package peer

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago. The
// port is outside the kernel's default ephemeral range (32768–60999), so the
// load driver's own outgoing connections cannot take it as a source port
// before the peer binds it.
func FreeAddr() (string, error) {
	for i := 0; i < 1000; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(20000+rand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr, nil
	}
	return "", errors.New("no free port in 20000-31999")
}
