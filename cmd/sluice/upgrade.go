package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/internal/app"
)

// Binary upgrade (SIGUSR2): the running process starts its executable
// again with the same arguments and hands over its listening sockets as
// inherited file descriptors 3, 4, … (env SLUICE_LISTEN_FDS lists their
// addresses in that order). The new process serves on the very same
// sockets — connections waiting in the accept queues are not lost — and
// reports readiness through a pipe (env SLUICE_READY_FD). Only then does the
// old process stop gracefully; if the new one fails, the old one keeps
// running. See docs/operations.md.
const (
	envListenFDs = "SLUICE_LISTEN_FDS"
	envReadyFD   = "SLUICE_READY_FD"
	upgradeWait  = 30 * time.Second
)

// inherited returns the listeners handed over by a previous process.
func inherited() (map[string]*net.TCPListener, error) {
	list := os.Getenv(envListenFDs)
	os.Unsetenv(envListenFDs)
	if list == "" {
		return nil, nil
	}
	out := map[string]*net.TCPListener{}
	for i, addr := range strings.Split(list, ";") {
		f := os.NewFile(uintptr(3+i), "listener "+addr)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("inherited listener %s (fd %d): %w", addr, 3+i, err)
		}
		tl, ok := ln.(*net.TCPListener)
		if !ok {
			ln.Close()
			return nil, fmt.Errorf("inherited fd %d for %s is not a TCP listener", 3+i, addr)
		}
		out[addr] = tl
	}
	return out, nil
}

// signalReady tells the parent of a binary upgrade that this process
// serves, and reports whether this process is such a new process.
func signalReady() bool {
	fd := os.Getenv(envReadyFD)
	os.Unsetenv(envReadyFD)
	if fd == "" {
		return false
	}
	n, err := strconv.Atoi(fd)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(n), "ready")
	_, _ = io.WriteString(f, "ready\n")
	f.Close()
	return true
}

// upgrade starts exe with args, the same environment and the listeners of
// a, and waits until it is ready; it returns the new process's pid. On
// success the caller stops gracefully. The flags and SLUICE_* variables
// that override the configuration go to the new process unchanged, so it
// runs with the same effective settings.
func upgrade(a *app.App, exe string, args []string, log *slog.Logger) (int, error) {
	addrs, files, err := a.ListenerFiles()
	if err != nil {
		return 0, fmt.Errorf("duplicating listeners: %w", err)
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = append(files, w)
	cmd.Env = append(os.Environ(),
		envListenFDs+"="+strings.Join(addrs, ";"),
		envReadyFD+"="+strconv.Itoa(3+len(files)))
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("starting %s: %w", exe, err)
	}
	w.Close()
	log.Info("binary upgrade: new process started", "pid", cmd.Process.Pid, "executable", exe)
	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		n, err := r.Read(buf)
		if n > 0 && strings.HasPrefix(string(buf[:n]), "ready") {
			ready <- nil
			return
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("the new process exited before it was ready")
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			go func() { _ = cmd.Wait() }() // reaped if we outlive it
			return cmd.Process.Pid, nil
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, err
	case <-time.After(upgradeWait):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("the new process was not ready within %v", upgradeWait)
	}
}
