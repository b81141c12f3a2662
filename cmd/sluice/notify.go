package main

import (
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// sdNotify sends state to systemd when it started sluice with Type=notify
// (NOTIFY_SOCKET is set); otherwise it does nothing. What sluice sends
// (docs/operations.md, deploy/systemd/sluice.service):
//
//   - READY=1 and MAINPID once serving (not by the new process of a binary
//     upgrade: see below);
//   - RELOADING=1 with MONOTONIC_USEC on SIGHUP, then READY=1 when the
//     reload is done (accepted or rejected), as Type=notify-reload expects;
//   - STOPPING=1 when a graceful stop begins;
//   - binary upgrade (SIGUSR2): once the new process is ready, the old one
//     sends MAINPID=<new pid> and stops without STOPPING=1, so systemd
//     follows the new process and the service stays active. Only the main
//     process speaks, so the unit can keep NotifyAccess=main.
func sdNotify(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if sock[0] == '@' { // abstract namespace
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

// ready reports that this process serves: to the old process when this one
// is the new process of a binary upgrade (which then hands the service over
// to it), otherwise to systemd.
func ready() {
	if signalReady() {
		return
	}
	sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()))
}

// notifyReloading tells systemd a reload begins. MONOTONIC_USEC (the
// CLOCK_MONOTONIC time) lets Type=notify-reload (systemd ≥ 253) match the
// message to the SIGHUP it sent.
func notifyReloading() {
	var ts unix.Timespec
	msg := "RELOADING=1"
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		msg += "\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
	}
	sdNotify(msg)
}
