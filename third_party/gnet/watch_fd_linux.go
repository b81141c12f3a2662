// Copyright (c) 2026 The Sluice Authors. Licensed under the Apache License,
// Version 2.0, as the rest of gnet (see LICENSE).
//
// An addition of Sluice's patched copy of gnet v2.10.0 (see PATCHES.md).

//go:build linux && !poll_opt

package gnet

import (
	"errors"
	"slices"

	"github.com/panjf2000/gnet/v2/pkg/netpoll"
)

// WatchFD adds fd (a descriptor gnet does not own, such as a listening
// socket) to the poller of el with level-triggered read events and
// EPOLLEXCLUSIVE, so that when several loops watch one listening socket a
// connection wakes one of them. cb runs on el each time fd is readable; it
// must consume what made fd readable (accept until EAGAIN, or UnwatchFD)
// or it is called again at once. Call it on el (from a callback or a
// Runnable given to Execute). gnet never closes fd: UnwatchFD it before
// closing it.
func WatchFD(el EventLoop, fd int, cb func(fd int)) error {
	l, ok := el.(*eventloop)
	if !ok {
		return errors.New("gnet: WatchFD: not an event loop of this engine")
	}
	if l.watchedIndex(fd) >= 0 {
		return errors.New("gnet: WatchFD: descriptor already watched")
	}
	if err := l.poller.AddReadExclusive(&netpoll.PollAttachment{FD: fd}); err != nil {
		return err
	}
	l.watched = append(l.watched, watchedFD{fd: fd, cb: cb})
	return nil
}

// UnwatchFD removes fd, added with WatchFD, from el's poller; its callback
// is not called again. Call it on el.
func UnwatchFD(el EventLoop, fd int) error {
	l, ok := el.(*eventloop)
	if !ok {
		return errors.New("gnet: UnwatchFD: not an event loop of this engine")
	}
	i := l.watchedIndex(fd)
	if i < 0 {
		return errors.New("gnet: UnwatchFD: descriptor not watched")
	}
	l.watched = slices.Delete(l.watched, i, i+1)
	return l.poller.Delete(fd)
}

// OpenFD registers fd, a connected non-blocking stream socket, on el with
// ctx as its context, at once: OnOpen has run when it returns. gnet owns fd
// from the call on; if it cannot be registered, fd is closed and the error
// returned (OnOpen never ran). Addresses are read from the socket if asked
// for. Call it on el (typically from a WatchFD callback that accepted fd).
func OpenFD(el EventLoop, fd int, ctx any) error {
	l, ok := el.(*eventloop)
	if !ok {
		return errors.New("gnet: OpenFD: not an event loop of this engine")
	}
	c := newStreamConn("tcp", fd, l, nil, nil, nil)
	c.lazyAddr = true
	c.SetContext(ctx)
	c.SetSafeContext(ctx)
	if err := l.register0(c); err != nil && !c.opened {
		return err
	}
	return nil
}
