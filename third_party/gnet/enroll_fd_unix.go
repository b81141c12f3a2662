// Copyright (c) 2026 The Sluice Authors. Licensed under the Apache License,
// Version 2.0, as the rest of gnet (see LICENSE).
//
// This file is an addition of Sluice's patched copy of gnet v2.10.0 (see
// PATCHES.md); it is not part of upstream gnet.

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package gnet

import (
	"golang.org/x/sys/unix"

	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/queue"
	"github.com/panjf2000/gnet/v2/pkg/socket"
)

// EnrollFD registers fd, a connected non-blocking stream socket that the
// caller accepted itself (accept4 with SOCK_NONBLOCK), on one of the
// client's event loops, chosen round robin, with ctx as the connection's
// context, and returns without waiting: OnOpen runs on that loop.
//
// Unlike EnrollContext it takes fd as it is: no duplicate, no socket
// options, no address look-up and no wait for the loop. gnet owns fd from
// the call on, whatever happens; the caller must not use or close it.
// remote is the peer's address as accept returned it (nil: unknown). The
// connection's LocalAddr and RemoteAddr are read from the socket the first
// time they are asked for (getsockname, getpeername), on the loop.
//
// When the engine is shutting down or the loop cannot be woken, fd is closed
// and the error is returned. When the loop cannot register fd (epoll_ctl
// fails), fd is closed, OnOpen never runs, and fail, if not nil, is called on
// that loop with ctx and the error.
func (cli *Client) EnrollFD(fd int, remote unix.Sockaddr, ctx any, fail func(ctx any, err error)) error {
	if cli.eng.isShutdown() {
		_ = unix.Close(fd)
		return errorx.ErrEngineInShutdown
	}
	lb := cli.eng.eventLoops
	el := lb.index(int(cli.fdNext.Add(1) % uint64(lb.len())))
	proto := "tcp"
	if _, ok := remote.(*unix.SockaddrUnix); ok {
		proto = "unix"
	}
	c := newStreamConn(proto, fd, el, remote, nil, nil)
	c.lazyAddr = true
	c.SetContext(ctx)
	c.SetSafeContext(ctx)
	err := el.poller.Trigger(queue.HighPriority, el.registerFD, &fdEnrollment{c: c, fail: fail})
	if err != nil {
		_ = unix.Close(fd)
		c.release()
		return err
	}
	return nil
}

// fdEnrollment is an EnrollFD connection on its way to its loop.
type fdEnrollment struct {
	c    *conn
	fail func(ctx any, err error)
}

// registerFD registers an EnrollFD connection on el (on el's goroutine).
func (el *eventloop) registerFD(a any) error {
	r := a.(*fdEnrollment)
	ctx := r.c.ctx
	if err := el.register0(r.c); err != nil && !r.c.opened && r.fail != nil {
		r.fail(ctx, err) // register0 closed the descriptor
	}
	return nil
}

// loadAddrs reads a lazily addressed connection's local and remote addresses
// from its socket (EnrollFD).
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
