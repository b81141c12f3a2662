package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicelb/sluice/internal/testtool"
)

// inNetns runs f on a thread moved into the network namespace at nsPath;
// sockets f creates live there. The thread is never returned to the Go
// scheduler (the goroutine exits locked, so the thread ends with it).
func inNetns(nsPath string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", nsPath, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// TestImageRunsInOCIRuntime runs the image built by mkimage the way a
// container engine does, without a daemon: umoci unpacks the OCI layout
// into a runtime bundle (rootfs and config.json from the image config) and
// runc runs it in its own namespaces. Inside the container's network, an
// application answers on 127.0.0.1:8000 (the image configuration's
// default UPSTREAM); the test requests /healthz, /readyz and the proxied
// application, checks that the process runs as 65532, and that SIGTERM (the
// image's stop signal) stops it with exit code 0.
func TestImageRunsInOCIRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a container; skipped with -short")
	}
	runc := testtool.Need(t, "runc")
	umoci := testtool.Need(t, "umoci")
	if os.Geteuid() != 0 {
		testtool.Missing(t, "runc needs root to create the container's namespaces")
	}
	b := sharedImage(t)
	dir := t.TempDir()
	bundle, state := filepath.Join(dir, "bundle"), filepath.Join(dir, "runc")
	if out, err := exec.Command(umoci, "unpack", "--image", b.layout+":"+testVersion, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	spec := map[string]any{}
	raw, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	if user := proc["user"].(map[string]any); user["uid"] != float64(UID) || user["gid"] != float64(UID) {
		t.Fatalf("runtime user from the image config: %v", user)
	}
	raw, _ = json.Marshal(spec)
	os.WriteFile(filepath.Join(bundle, "config.json"), raw, 0o600)

	id := "sluice-image-test-" + strconv.Itoa(os.Getpid())
	logf, err := os.Create(filepath.Join(dir, "container.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(runc, "--root", state, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		exec.Command(runc, "--root", state, "kill", id, "KILL").Run()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		exec.Command(runc, "--root", state, "delete", "--force", id).Run()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("container log:\n%s", b)
		}
	})
	pid := 0
	for deadline := time.Now().Add(20 * time.Second); pid == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container did not start")
		}
		out, err := exec.Command(runc, "--root", state, "state", id).Output()
		var st struct {
			Status string
			Pid    int
		}
		if err == nil && json.Unmarshal(out, &st) == nil && st.Status == "running" {
			pid = st.Pid
		}
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t%d\t%d\t%d\n", UID, UID, UID, UID)) {
		t.Errorf("the container's process does not run as %d:\n%s", UID, status)
	}
	netns := fmt.Sprintf("/proc/%d/ns/net", pid)

	// The application, inside the container's network namespace.
	var app net.Listener
	if err := inNetns(netns, func() (err error) { app, err = net.Listen("tcp", "127.0.0.1:8000"); return }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from the app") })}
	go srv.Serve(app)
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = inNetns(netns, func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return
			})
			return
		},
	}}
	get := func(url string) (int, string) {
		r, err := client.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(body)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s", what)
			}
		}
	}
	waitFor("/readyz 200", func() bool { c, _ := get("http://127.0.0.1:9900/readyz"); return c == 200 })
	if c, body := get("http://127.0.0.1:9900/healthz"); c != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", c, body)
	}
	waitFor("the application through sluice", func() bool { c, body := get("http://127.0.0.1:8080/"); return c == 200 && body == "from the app" })
	// The request is counted once its response is written: the client can
	// ask for /metrics a moment before the loop has counted it.
	waitFor("the request counted in /metrics", func() bool {
		c, body := get("http://127.0.0.1:9900/metrics")
		return c == 200 && strings.Contains(body, `sluice_requests_total{frontend="web",backend="app",code="200"}`)
	})

	// docker stop: the image's STOPSIGNAL, then a clean exit.
	if out, err := exec.Command(runc, "--root", state, "kill", id, StopSignal).CombinedOutput(); err != nil {
		t.Fatalf("runc kill %s: %v %s", StopSignal, err, out)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the container exited with %v after %s", err, StopSignal)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the container did not stop within 30s of %s", StopSignal)
	}
	b2, _ := os.ReadFile(logf.Name())
	if !strings.Contains(string(b2), `"msg":"stopped"`) {
		t.Fatalf("no graceful stop in the container's log:\n%s", b2)
	}
}

// TestImageRunsInDocker loads the tarball into Docker, runs it with its
// ports published, requests the admin endpoints and stops it. It needs a
// Docker daemon (`docker info` works), which this kind of machine does not
// run and cannot install: it skips saying so, also under
// SLUICE_REQUIRE_TOOLS=1; SLUICE_REQUIRE_DOCKER=1 makes the skip a failure
// where a daemon is expected. TestImageRunsInOCIRuntime runs the same image
// without a daemon.
func TestImageRunsInDocker(t *testing.T) {
	docker, found := testtool.Lookup("docker")
	err := errors.New("docker is not installed")
	if found {
		err = nil
		var out []byte
		if out, err = exec.Command(docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
			err = fmt.Errorf("docker info: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	if err != nil {
		if os.Getenv("SLUICE_REQUIRE_DOCKER") == "1" {
			t.Fatalf("no Docker daemon (%v); SLUICE_REQUIRE_DOCKER=1 makes this a failure", err)
		}
		t.Skipf("skipped: no Docker daemon here (%v); TestImageRunsInOCIRuntime runs the image with runc instead", err)
	}
	b := sharedImage(t)
	if out, err := exec.Command(docker, "load", "-i", b.tar).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v %s", err, out)
	}
	ref := "sluice:" + testVersion
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", ref).Run() })
	name := "sluice-image-test-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(docker, "run", "-d", "--name", name, "-p", "127.0.0.1::9900", "-p", "127.0.0.1::8080", ref).CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(docker, "rm", "-f", name).Run() })
	port := func(p string) string {
		out, err := exec.Command(docker, "port", name, p).Output()
		if err != nil {
			t.Fatalf("docker port %s: %v", p, err)
		}
		return strings.TrimSpace(strings.Split(string(out), "\n")[0])
	}
	admin, web := port("9900/tcp"), port("8080/tcp")
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err := client.Get("http://" + admin + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command(docker, "logs", name).CombinedOutput()
			t.Fatalf("/readyz not 200 within 30s: %v\n%s", err, logs)
		}
	}
	// No application runs behind it here: sluice itself answers 502 or 503.
	r, err := client.Get("http://" + web + "/")
	if err != nil || (r.StatusCode != 502 && r.StatusCode != 503) {
		t.Fatalf("GET through sluice: %v %v", r, err)
	}
	r.Body.Close()
	if out, err := exec.Command(docker, "stop", "-t", "30", name).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v %s", err, out)
	}
	out, _ := exec.Command(docker, "inspect", "-f", "{{.State.ExitCode}}", name).Output()
	if strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("exit code after docker stop: %s", out)
	}
}
