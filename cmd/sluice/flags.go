package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sluicelb/sluice/internal/config"
)

// envConfig names the configuration file when -c/--config is absent.
const envConfig = "SLUICE_CONFIG"

// cmdFlags is what `sluice run` and `sluice validate` were given.
type cmdFlags struct {
	path       string // the configuration file
	pathSource string // "--config", "-c" or SLUICE_CONFIG
	watch      bool
	overrides  []config.Override
}

// parseFlags parses the flags of command name ("run", "validate" or
// "explain"); extra defines the command's own flags. It returns ok=false
// with the exit code when the command should stop here: 0 after --help
// (printed to stdout), 1 after a flag error.
func parseFlags(name string, args []string, stdout, stderr io.Writer, extra ...func(*flag.FlagSet)) (f cmdFlags, code int, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	own := map[string]bool{}
	for _, def := range extra {
		before := map[string]bool{}
		fs.VisitAll(func(fl *flag.Flag) { before[fl.Name] = true })
		def(fs)
		fs.VisitAll(func(fl *flag.Flag) {
			if !before[fl.Name] {
				own[fl.Name] = true
			}
		})
	}
	fs.SetOutput(io.Discard) // errors are printed below, help by usageOf
	var cflag string
	fs.StringVar(&cflag, "c", "", "")
	fs.StringVar(&cflag, "config", "", "")
	if name == "run" {
		fs.BoolVar(&f.watch, "watch", false, "")
	}
	vals := make([]string, len(config.Settings))
	for i, s := range config.Settings {
		fs.StringVar(&vals[i], s.Flag, "", s.Help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageOf(name))
			return f, 0, false
		}
		fmt.Fprintf(stderr, "sluice %s: %v\n(sluice %s --help lists the flags)\n", name, err, name)
		return f, 1, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice %s: unexpected argument %q\n", name, fs.Arg(0))
		return f, 1, false
	}
	given := map[string]string{}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "c", "config":
			f.pathSource = "-" + fl.Name
			if fl.Name == "config" {
				f.pathSource = "--config"
			}
		case "watch":
		default:
			if own[fl.Name] {
				return
			}
			given[fl.Name] = fl.Value.String()
		}
	})
	f.path = cflag
	if f.pathSource == "" {
		f.path, f.pathSource = os.Getenv(envConfig), envConfig
	}
	if f.path == "" {
		fmt.Fprintf(stderr, "sluice %s: no configuration file: use -c FILE or set %s\n", name, envConfig)
		return f, 1, false
	}
	f.overrides = config.Overrides(given, os.LookupEnv)
	return f, 0, true
}

// usageOf is the --help text of run, validate or explain.
func usageOf(name string) string {
	var b strings.Builder
	if name == "run" {
		b.WriteString(`usage: sluice run [-c FILE] [--watch] [flags]

Runs the proxy in the foreground: process log on stderr, access log where
logging.access_log says.

  -c, --config FILE      the configuration file (default: $SLUICE_CONFIG)
      --watch            reload when FILE changes, also through a symlink swap
                         (as a Kubernetes ConfigMap update does)
`)
	} else if name == "explain" {
		b.WriteString(`usage: sluice explain [-c FILE] --frontend F [--method M] [--host H] [--path P]
                      [--client-ip IP] [--header 'Name: value']... [--json] [flags]

Says, offline, which route, backend and server a request (or a tcp
connection) to frontend F would get, and why: each route tried, the access
lists, the rate limits, each server's standing and the server the algorithm
would pick. Every server is taken as up (no health check runs); enabled and
drain are as in the file. GET /api/v1/explain asks the running process.

  -c, --config FILE      the configuration file (default: $SLUICE_CONFIG)
      --frontend F       the frontend (required)
      --method M         default GET
      --host H           the Host header
      --path P           default /
      --client-ip IP     the client's address as the frontend sees the peer
      --header 'N: v'    a request header, repeatable (X-Forwarded-For, a
                         rate limit's key or match header)
      --json             print the API's JSON form
`)
	} else {
		b.WriteString(`usage: sluice validate [-c FILE] [--diff-against RUNNING] [flags]

Parses and validates FILE with the environment and flags below applied, as
` + "`sluice run`" + ` would: prints "configuration OK" and exits 0, or prints every
error as FILE:LINE:COL: message and exits 1.

  -c, --config FILE      the configuration file (default: $SLUICE_CONFIG)
      --diff-against RUNNING
                         after "configuration OK", list what a reload from
                         RUNNING to FILE would change, in operator terms
                         (servers, weights, routes, listeners...); binds
                         nothing. Exit 1 when RUNNING is not valid either.
`)
	}
	b.WriteString(`
Settings that change per deployment replace the file's value:

  flag                   environment variable   file key
`)
	for _, s := range config.Settings {
		fmt.Fprintf(&b, "  --%-20s %-22s %s\n      %s\n", s.Flag+" "+s.Arg, s.Env, s.Key, s.Help)
	}
	b.WriteString(`
Precedence: flag > environment > file > default. An empty environment
variable counts as unset. An invalid value is an error naming the flag or
variable (exit 1).
`)
	if name == "run" {
		b.WriteString(`
The overrides are applied again to the file on every reload (SIGHUP,
--watch), and a binary upgrade (SIGUSR2) starts the new process with the
same flags and environment. The start-up log line "effective settings" says
where each value came from (a flag, a variable, the file or the default).

Signals: SIGHUP reload; SIGTERM/SIGINT graceful stop (a second one: at once);
SIGUSR2 binary upgrade; SIGUSR1 reopen a file access log.
Exit codes: 0 clean stop, 1 bad configuration or flags, 2 failure at start.
`)
	}
	return b.String()
}

// settingsAttrs is the start-up summary of the effective settings: for the
// configuration file and each overridable key, its value and where it came
// from (a flag, an environment variable, "file" or "default").
func settingsAttrs(f cmdFlags, cfg *config.Config) []any {
	attrs := []any{slog.Group("config", "value", f.path, "source", f.pathSource)}
	for _, s := range config.Settings {
		attrs = append(attrs, slog.Group(s.Key, "value", cfg.Value(s.Key), "source", cfg.Source(s.Key)))
	}
	return attrs
}
