package peer

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a running peer. It is owned by one goroutine.
type Process struct {
	Peer    *Peer
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{}
	err     error
}

// Start runs the peer with cfg in the foreground, pinned to cpus with taskset when
// taskset is non-empty, its stdout and stderr going to dir/NAME.log. The process is in its
// own process group so Stop can end its children too.
func Start(p *Peer, bin, dir, cfg, taskset, cpus string) (*Process, error) {
	cmd := p.Command(bin, dir, cfg)
	if taskset != "" && cpus != "" {
		args := append([]string{taskset, "-c", cpus}, cmd.Args...)
		c := exec.Command(taskset, args[1:]...)
		c.Env = cmd.Env
		cmd = c
	}
	cmd.Dir = dir
	logPath := filepath.Join(dir, p.Name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: a harness killed outright (SIGKILL, a closed pipe) takes the proxy along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	pr := &Process{Peer: p, Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		_ = f.Close()
		close(pr.exited)
	}()
	return pr, nil
}

// Pid is the main process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// WaitReady polls until every addr accepts a TCP connection, the process exits, or
// timeout passes.
func (p *Process) WaitReady(timeout time.Duration, addrs ...string) error {
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited before listening on %s (%v); log %s:\n%s", p.Peer.Name, a, p.err, p.LogPath, p.LogTail(15))
			default:
			}
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not listening on %s after %v; log %s:\n%s", p.Peer.Name, a, timeout, p.LogPath, p.LogTail(15))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Stop sends SIGTERM to the process group and waits up to 5 s, then SIGKILLs it.
func (p *Process) Stop() error {
	pgid := p.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Peer.Name, pgid)
	}
	return errors.New(p.Peer.Name + " needed SIGKILL to stop")
}

// LogTail returns the last n lines of the process log.
func (p *Process) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// RSS returns the resident set size in KiB of the process and all its descendants
// (nginx's workers), read from /proc/PID/status VmRSS.
func (p *Process) RSS() (int64, error) { return TreeRSS(p.Pid()) }

// TreeRSS sums VmRSS (KiB) over pid and its descendants.
func TreeRSS(pid int) (int64, error) {
	total, err := VmRSS(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range children(pid) {
		if r, err := TreeRSS(c); err == nil {
			total += r
		}
	}
	return total, nil
}

// TreeSockets counts the open sockets of pid and its descendants (their
// /proc/PID/fd links to "socket:[…]"); a socket shared by several processes
// of the tree counts once per process.
func TreeSockets(pid int) int {
	n := 0
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			n++
		}
	}
	for _, c := range children(pid) {
		n += TreeSockets(c)
	}
	return n
}

// VmRSS reads one process's VmRSS in KiB.
func VmRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fs := strings.Fields(v)
			if len(fs) == 0 {
				break
			}
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time used so far by the process and its
// descendants (all threads), read from /proc/PID/stat; resolution 10 ms.
func (p *Process) CPUTime() (time.Duration, error) { return TreeCPU(p.Pid()) }

// TreeCPU sums utime+stime over pid and its live descendants.
func TreeCPU(pid int) (time.Duration, error) {
	total, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range children(pid) {
		if t, err := TreeCPU(c); err == nil {
			total += t
		}
	}
	return total, nil
}

// procCPU reads utime and stime (fields 14 and 15) of one process.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: skip past it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return time.Duration(u+s) * clockTick, nil
}

// CoreBusy returns the time CPU cpu has spent busy since boot (user, nice, system, irq,
// softirq and steal from /proc/stat; idle and iowait excluded); resolution 10 ms.
func CoreBusy(cpu int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest) // user nice system idle iowait irq softirq steal ...
		if len(f) < 8 {
			return 0, fmt.Errorf("/proc/stat: short %q line", strings.TrimSpace(prefix))
		}
		var busy int64
		for _, i := range []int{0, 1, 2, 5, 6, 7} {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %q: %w", line, err)
			}
			busy += v
		}
		return time.Duration(busy) * clockTick, nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu%d line", cpu)
}
