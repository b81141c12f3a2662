// Copyright (c) 2026 The Sluice Authors. Licensed under the Apache License,
// Version 2.0, as the rest of gnet (see LICENSE).
//
// This file is an addition of Sluice's patched copy of gnet v2.10.0 (see
// PATCHES.md); it is not part of upstream gnet.

package gnet

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvSock reads from fd, a socket, with recvfrom(2) rather than read(2): the
// same bytes without the file layer (fdget_pos, vfs_read, sock_read_iter)
// that read goes through first. unix.Recvfrom would do, but it passes a
// sockaddr buffer that escapes: one allocation per read.
func recvSock(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	if e != 0 {
		return -1, e // an Errno: err == unix.EAGAIN holds, and boxing it does not allocate
	}
	return int(n), nil
}
