// Copyright (c) 2026 The Sluice Authors. Licensed under the Apache License,
// Version 2.0, as the rest of gnet (see LICENSE).
//
// This file is an addition of Sluice's patched copy of gnet v2.10.0 (see
// PATCHES.md); it is not part of upstream gnet.

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package gnet

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/panjf2000/gnet/v2/pkg/socket"
)

// loadAddrs reads a lazily addressed connection's local and remote addresses
// from its socket (OpenFD).
func (c *conn) loadAddrs() {
	c.lazyAddr = false
	if c.localAddr == nil {
		if sa, err := unix.Getsockname(c.fd); err == nil {
			c.localAddr = socket.SockaddrToTCPOrUnixAddr(sa)
		}
	}
	if c.remoteAddr == nil {
		sa := c.remote
		if sa == nil {
			sa, _ = unix.Getpeername(c.fd)
		}
		if sa != nil {
			c.remoteAddr = socket.SockaddrToTCPOrUnixAddr(sa)
		}
	}
}

// EventLoops returns the client's event loops, in order; empty before Start.
func (cli *Client) EventLoops() []EventLoop {
	var els []EventLoop
	cli.eng.eventLoops.iterate(func(_ int, el *eventloop) bool {
		els = append(els, el)
		return true
	})
	return els
}

// watchedFD is a descriptor added to a loop with WatchFD and its callback.
type watchedFD struct {
	fd int
	cb func(int)
}

// watchedIndex returns the index of fd in el.watched, or -1. A loop watches
// a listener or two, so a scan beats a map's hashing; it runs for every
// event on a descriptor that is not a connection (watchedCB).
func (el *eventloop) watchedIndex(fd int) int {
	for i := range el.watched {
		if el.watched[i].fd == fd {
			return i
		}
	}
	return -1
}

// watchedCB returns the callback of fd if it was added with WatchFD, else nil.
func (el *eventloop) watchedCB(fd int) func(int) {
	if i := el.watchedIndex(fd); i >= 0 {
		return el.watched[i].cb
	}
	return nil
}

// SoleOwner marks c, a connection of this engine, as the only holder of its
// socket: no duplicate of its descriptor exists, and none is made before gnet
// closes c (no dup or fcntl F_DUPFD, also not in OnClose). gnet then closes c
// without removing it from the poller first: close(2) drops the registration
// with the socket's last reference, and the epoll_ctl DEL (kqueue EV_DELETE)
// is saved. A child process being started holds copies of every descriptor
// from fork to exec, so while syscall.ForkLock is held for writing the
// registration is removed first as for any connection. Call it on c's loop;
// the mark lasts until c is closed.
func SoleOwner(c Conn) {
	if cc, ok := c.(*conn); ok {
		cc.sole = true
	}
}

// closeFD closes fd, a connection's descriptor, after removing it from the
// poller unless sole (SoleOwner) and no process is being started.
func (el *eventloop) closeFD(fd int, sole bool) (errDelete, errClose error) {
	if sole && syscall.ForkLock.TryRLock() {
		errClose = unix.Close(fd)
		syscall.ForkLock.RUnlock()
		return nil, errClose
	}
	return el.poller.Delete(fd), unix.Close(fd)
}
