// Command sluice is the Sluice load balancer: `sluice run -c FILE` runs the
// proxy, `sluice validate -c FILE` checks a configuration, `sluice
// hash-password` hashes an admin password, `sluice version` prints the
// build. See README.md and the contract for flags, signals and
// exit codes (0 clean stop, 1 bad config or flags, 2 failure at start).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/internal/app"
	"github.com/sluicelb/sluice/internal/confdiff"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/ctl"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var version, commit = "dev", ""

const usage = `usage:
  sluice run -c FILE [--watch]   run the proxy (FILE also from $SLUICE_CONFIG)
  sluice validate -c FILE [--diff-against RUNNING]
                                 check a configuration; with --diff-against, list
                                 what a reload from RUNNING to FILE would change
  sluice explain -c FILE --frontend F [--method M --host H --path P --client-ip IP --header 'Name: value']
                                 which route, backend and server a request would get, and why
  sluice hash-password           read a password on stdin, print its bcrypt hash for admin.users
  sluice ctl [--addr HOST:PORT] [--key KEY] [--plain] COMMAND
                                 drive a running sluice over gRPC (admin.grpc_listen):
                                 status, servers, drain, undrain, enable, disable, weight,
                                 add, remove, reload, explain, events, alerts, watch
                                 (sluice ctl help lists them and the exit codes)
  sluice version                 print version, commit and Go version

  sluice run --help lists the flags and SLUICE_* environment variables that
  override the file (precedence: flag > environment > file).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdout, stderr)
	case "hash-password":
		return cmdHashPassword(args[1:], os.Stdin, stdout, stderr)
	case "ctl":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		return ctl.Run(args[1:], os.Getenv, stdout, stderr, sig)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sluice %s commit %s %s %s/%s\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
	return 1
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// load reads, validates and resolves path with the overrides applied,
// printing every error.
func load(path string, ovs []config.Override, stderr io.Writer) *config.Config {
	cfg, err := app.LoadConfig(path, ovs...)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e.Error())
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
		}
		return nil
	}
	return cfg
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	var running string
	f, code, ok := parseFlags("validate", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&running, "diff-against", "", "")
	})
	if !ok {
		return code
	}
	cfg := load(f.path, f.overrides, stderr)
	if cfg == nil {
		return 1
	}
	var old *config.Config
	if running != "" {
		if old = load(running, f.overrides, stderr); old == nil {
			fmt.Fprintf(stderr, "sluice validate: %s (--diff-against) is not a valid configuration\n", running)
			return 1
		}
	}
	fmt.Fprintln(stdout, "configuration OK")
	if old != nil {
		lines := confdiff.Diff(old, cfg)
		if len(lines) == 0 {
			fmt.Fprintf(stdout, "no changes against %s\n", running)
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
	}
	return 0
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseFlags("run", args, stdout, stderr)
	if !ok {
		return code
	}
	path, watch := f.path, f.watch
	cfg := load(path, f.overrides, stderr)
	if cfg == nil {
		return 1
	}
	level := new(slog.LevelVar)
	level.Set(app.ParseLevel(cfg.Logging.Level))
	log := app.NewLogger(stderr, cfg.Logging.Format, level)
	slog.SetDefault(log)
	exe, _ := os.Executable() // resolved now: an upgrade execs the file at this path
	inh, err := inherited()
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 2
	}
	nInherited := len(inh) // Start takes them out of the map
	a, err := app.New(app.Options{Logger: log, Level: level, Inherited: inh, Overrides: f.overrides,
		ConfigFile: path, Version: version, Commit: buildCommit()})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 2
	}
	// Signals are caught before the listeners open, so none is lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	if err := a.Start(cfg); err != nil {
		log.Error("start failed", "error", err.Error())
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 2
	}
	log.Info("configuration loaded", "file", path, "version", version, "inherited_listeners", nInherited)
	log.Info("effective settings", settingsAttrs(f, cfg)...)
	ready()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloads := make(chan struct{}, 1)
	if watch {
		go app.Watch(ctx, path, 0, func() {
			select {
			case reloads <- struct{}{}:
			default:
			}
		})
	}
	for {
		select {
		case <-reloads:
			log.Info("configuration file changed", "file", path)
			_ = a.ReloadFrom(path, app.SourceWatch)
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				log.Info("SIGHUP: reloading", "file", path)
				notifyReloading()
				_ = a.Reload(path)
				sdNotify("READY=1")
			case syscall.SIGUSR1:
				a.ReopenLogs()
			case syscall.SIGUSR2:
				log.Info("SIGUSR2: binary upgrade", "executable", exe)
				pid, err := upgrade(a, exe, os.Args[1:], log)
				if err != nil {
					log.Error("binary upgrade failed: still serving", "error", err.Error())
					continue
				}
				// Hand the service over to the new process before stopping:
				// systemd then supervises it, and ignores this one.
				sdNotify("MAINPID=" + strconv.Itoa(pid))
				log.Info("binary upgrade: new process ready, stopping gracefully", "pid", pid)
				return shutdown(a, cfg.ShutdownTimeout, s, sigs, log, false)
			default:
				return shutdown(a, cfg.ShutdownTimeout, s, sigs, log, true)
			}
		}
	}
}

// shutdown stops gracefully within timeout; a second SIGTERM/SIGINT stops
// at once. notify tells systemd that the service stops (STOPPING=1); not
// after a binary upgrade, where the service goes on in the new process.
func shutdown(a *app.App, timeout time.Duration, s os.Signal, sigs chan os.Signal, log *slog.Logger, notify bool) int {
	log.Info("signal received: stopping gracefully", "signal", s.String(), "timeout", timeout.String())
	if notify {
		sdNotify("STOPPING=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM || s == syscall.SIGINT {
				log.Warn("second signal: stopping now", "signal", s.String())
				cancel()
				return
			}
		}
	}()
	_ = a.Shutdown(ctx)
	return 0
}
