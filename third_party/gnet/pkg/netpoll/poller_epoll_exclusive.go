// Copyright (c) 2026 The Sluice Authors. Licensed under the Apache License,
// Version 2.0, as the rest of gnet (see LICENSE).
//
// An addition of Sluice's patched copy of gnet v2.10.0 (see PATCHES.md).

//go:build linux && !poll_opt

package netpoll

import (
	"os"

	"golang.org/x/sys/unix"
)

// AddReadExclusive registers fd with level-triggered read events and
// EPOLLEXCLUSIVE: when several pollers watch the same file (a listening
// socket), an event wakes one of them (or a few), not all.
func (p *Poller) AddReadExclusive(pa *PollAttachment) error {
	return os.NewSyscallError("epoll_ctl add",
		unix.EpollCtl(p.fd, unix.EPOLL_CTL_ADD, pa.FD, &unix.EpollEvent{Fd: int32(pa.FD), Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE}))
}
