// Copyright (c) 2026 The Sluice Authors. Licensed under the Apache License,
// Version 2.0, as the rest of gnet (see LICENSE).
//
// This file is an addition of Sluice's patched copy of gnet v2.10.0 (see
// PATCHES.md); it is not part of upstream gnet.

//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package gnet

import "golang.org/x/sys/unix"

// recvSock is unix.Read off Linux (see sluice_fork_recv_linux.go).
func recvSock(fd int, p []byte) (int, error) { return unix.Read(fd, p) }
