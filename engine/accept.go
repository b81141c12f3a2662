package engine

import (
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// closeCheck is how often ServeOnLoops looks whether its listener was
// closed other than with CloseListener (and is still non-blocking).
const closeCheck = 50 * time.Millisecond

// lookInterval is how often ServeOnLoops looks at its listener
// (loopServer.look); closeCheck, stretched by a test that must not see a
// look.
var lookInterval = closeCheck

// waiting maps a listener ServeOnLoops serves to its loopServer.
var waiting sync.Map // *net.TCPListener → *loopServer

// CloseListener closes ln. If ServeOnLoops serves it, it is first removed
// from every event loop's poller: CloseListener returns once none watches
// it, and the port is closed then (unless another process shares it).
func CloseListener(ln *net.TCPListener) error {
	if v, ok := waiting.Load(ln); ok {
		s := v.(*loopServer)
		s.close()
		<-s.done
	}
	return ln.Close()
}

// nextPause is the pause after a failed accept that followed a pause of d
// (0: none): 5 ms, doubling up to 500 ms.
func nextPause(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, 500*time.Millisecond)
}

// refuseOneFD is refuseOne for a listener accepted on raw (ServeOnLoops): it
// frees the reserve descriptor, accepts one pending connection (if any)
// without waiting and resets it, then takes the reserve back.
func refuseOneFD(rc interface{ Control(func(uintptr)) error }) {
	withReserveFreed(func() {
		_ = rc.Control(func(fd uintptr) {
			if nfd, _, err := accept4(int(fd)); err == nil {
				resetOnClose(nfd)
				_ = unix.Close(nfd)
			}
		})
	})
}

// accept4 accepts a connection on the listening socket fd, non-blocking and
// close-on-exec, and returns the peer's address without allocating (x/sys's
// Accept4 asks the kernel for the socket's protocol on every IPv4 or IPv6
// accept: one getsockopt per connection).
func accept4(fd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	var ap netip.AddrPort
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		ap = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return int(r), ap, nil
}
