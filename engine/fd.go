package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// writeFull writes b to the non-blocking socket fd. It returns len(b), nil when
// the kernel took everything, or how much it took and unix.EAGAIN when it would
// block, or the write error.
func writeFull(fd int, b []byte) (int, error) {
	off := 0
	for off < len(b) {
		n, err := unix.Write(fd, b[off:])
		if n > 0 {
			off += n
		}
		switch err {
		case nil:
		case unix.EINTR:
			continue
		default:
			return off, err
		}
		if n == 0 {
			return off, unix.EAGAIN
		}
	}
	return off, nil
}

// DupFD duplicates the socket descriptor fd with close-on-exec set (a
// connection handed from gnet to goroutines, or kept past gnet's close).
func DupFD(fd int) (int, error) { return dupFD(fd) }

// Stream is a connected stream socket on Go's poller: a *net.TCPConn, or a
// *net.UnixConn (one end of an in-process bridge, such as the decrypted side
// of a TLS connection). Sessions and pipes carry either.
type Stream interface {
	net.Conn
	CloseWrite() error
}

// FileConn turns a socket descriptor the caller owns into a Stream on Go's
// poller; fd is closed in every case (the connection holds its own
// duplicate).
func FileConn(fd int) (Stream, error) { return fdConn(fd) }

// dupFD duplicates fd with close-on-exec set.
func dupFD(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dup fd %d: %w", fd, err)
	}
	return nfd, nil
}

// shutdownWrite passes a FIN on: the peer sees end of stream, and can still send.
func shutdownWrite(fd int) { _ = unix.Shutdown(fd, unix.SHUT_WR) }

// resetOnClose sets SO_LINGER to zero on fd, so that closing it sends a reset
// (RST) instead of a FIN and drops unsent bytes.
func resetOnClose(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// fdConn turns a socket descriptor the caller owns into a Stream on Go's
// poller. fd is closed in every case; the connection holds its own duplicate.
func fdConn(fd int) (Stream, error) {
	f := os.NewFile(uintptr(fd), "sluice-pipe")
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	switch s := c.(type) {
	case *net.TCPConn:
		return s, nil
	case *net.UnixConn:
		return s, nil
	}
	_ = c.Close()
	return nil, fmt.Errorf("fd %d is not a stream socket", fd)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// ListenerFile returns a duplicate of ln's socket as an *os.File for handing to
// another process (exec.Cmd.ExtraFiles), without ever putting the socket in
// blocking mode. (*net.TCPListener).File would: its File's Fd, which exec calls,
// clears O_NONBLOCK, and that flag belongs to the socket every process holding
// it shares, so the event loops' accept4 could block. The caller closes the
// file; ln is unchanged.
func ListenerFile(ln *net.TCPListener) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	if cerr := rc.Control(func(fd uintptr) { nfd, err = dupFD(int(fd)) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	// NewFile of a non-blocking descriptor leaves it non-blocking in Fd.
	return os.NewFile(uintptr(nfd), "listener "+ln.Addr().String()), nil
}
