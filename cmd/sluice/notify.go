package main

import (
	"net"
	"os"
	"strconv"
)

// sdNotify sends state to systemd when it started sluice with Type=notify
// (NOTIFY_SOCKET is set); otherwise it does nothing. After a binary upgrade
// the new process announces itself with MAINPID, so systemd follows it
// (the unit needs NotifyAccess=all). See docs/operations.md.
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

func notifyReady() { sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid())) }
