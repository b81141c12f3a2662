// Package ctl is `sluice ctl`, the command-line client of the gRPC control
// service sluice.v1.Control (contract §1 and §8): status, servers, drain,
// undrain, enable, disable, weight, add, remove, reload, explain, events,
// alerts and watch (a live table redrawn each second), with tab-separated
// output under --plain for scripts, and exit codes that say what went
// wrong (see Exit codes below and docs/grpc.md).
package ctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Exit codes of sluice ctl.
const (
	ExitOK           = 0
	ExitUsage        = 1 // bad command line
	ExitUnreachable  = 2 // cannot connect (or the service is unavailable / timed out)
	ExitDenied       = 3 // no key, a bad key, or a role too low for the command
	ExitNotFound     = 4 // no such backend, server or frontend
	ExitInvalid      = 5 // the change was refused as invalid (or conflicts, or cannot be persisted)
	ExitServerFailed = 6 // any other failure reported by the server
)

// DefaultAddr is where ctl connects without --addr or SLUICE_CTL_ADDR.
const DefaultAddr = "127.0.0.1:9901"

// Usage is the help text.
const Usage = `usage: sluice ctl [flags] COMMAND [ARGS]

commands:
  status                          version, uptime, configuration, counts
  servers [BACKEND]               every server (of BACKEND) with health, weight, load
  drain BACKEND ADDRESS           no new connections; existing ones finish
  undrain BACKEND ADDRESS
  enable BACKEND ADDRESS
  disable BACKEND ADDRESS
  weight BACKEND ADDRESS N        set the weight (0..256)
  add BACKEND ADDRESS [N]         add a server (weight N, default 1)
  remove BACKEND ADDRESS          remove a server (it drains first)
  reload                          re-read the configuration file
  explain --frontend F [--method M --host H --path P --client-ip IP --header 'Name: value']
                                  which route, backend and server a request would get
  events [BACKEND [ADDRESS]]      recent events (health history with reasons, reloads, alerts)
  alerts                          alert rules and their state
  watch                           a live table, redrawn each second (Ctrl-C ends it)

flags (before or after the command):
  --addr HOST:PORT   the gRPC control service (admin.grpc_listen); default $SLUICE_CTL_ADDR or 127.0.0.1:9901
  --key KEY          API key; default $SLUICE_API_KEY
  --plain            tab-separated output without headers, for scripts
  --timeout D        per call (default 5s)
  --tls              connect with TLS (admin.tls); --ca FILE trusts that CA, --insecure skips verification
  --dry-run          changes: validate and list what would change, apply nothing

exit codes: 0 ok, 1 usage, 2 cannot connect, 3 unauthenticated or denied,
4 not found, 5 invalid change, 6 other server failure.
`

// opts are the global flags.
type opts struct {
	addr, key, ca  string
	plain, tls     bool
	insecure, dry  bool
	timeout        time.Duration
	stdout, stderr io.Writer
	interrupt      <-chan os.Signal // watch ends on it (nil: never)
	frames         int              // watch: stop after this many stats frames (tests); 0 = until interrupted
}

// Run runs `sluice ctl args...` and returns the exit code. getenv reads
// SLUICE_API_KEY and SLUICE_CTL_ADDR; interrupt (may be nil) ends watch.
func Run(args []string, getenv func(string) string, stdout, stderr io.Writer, interrupt <-chan os.Signal) int {
	o := &opts{addr: getenv("SLUICE_CTL_ADDR"), key: getenv("SLUICE_API_KEY"), timeout: 5 * time.Second,
		stdout: stdout, stderr: stderr, interrupt: interrupt}
	if o.addr == "" {
		o.addr = DefaultAddr
	}
	pos, err := o.parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "sluice ctl: %v\n\n%s", err, Usage)
		return ExitUsage
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, Usage)
		return ExitUsage
	}
	if pos[0] == "help" {
		fmt.Fprint(stdout, Usage)
		return ExitOK
	}
	cmd, ok := commands[pos[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice ctl: unknown command %q\n\n%s", pos[0], Usage)
		return ExitUsage
	}
	if n := len(pos) - 1; n < cmd.min || (cmd.max >= 0 && n > cmd.max) {
		fmt.Fprintf(stderr, "sluice ctl %s: wrong number of arguments\n\n%s", pos[0], Usage)
		return ExitUsage
	}
	conn, err := o.dial()
	if err != nil {
		fmt.Fprintf(stderr, "sluice ctl: %v\n", err)
		return ExitUsage
	}
	defer conn.Close()
	c := &client{o: o, cl: newClient(conn)}
	if err := cmd.run(c, pos[1:]); err != nil {
		return c.fail(pos[0], err)
	}
	return ExitOK
}

// parse takes the global flags from anywhere in args and returns the rest.
func (o *opts) parse(args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "addr":
			o.addr, err = value()
		case "key":
			o.key, err = value()
		case "ca":
			o.ca, err = value()
			o.tls = true
		case "timeout":
			var v string
			if v, err = value(); err == nil {
				if o.timeout, err = time.ParseDuration(v); err != nil || o.timeout <= 0 {
					err = fmt.Errorf("--timeout %q: want a duration like 5s", v)
				}
			}
		case "plain":
			o.plain = true
		case "tls":
			o.tls = true
		case "insecure":
			o.tls, o.insecure = true, true
		case "dry-run":
			o.dry = true
		case "h", "help":
			pos = append(pos, "help")
		default: // a command's own flag (explain)
			pos = append(pos, a)
		}
		if err != nil {
			return nil, err
		}
	}
	return pos, nil
}

func (o *opts) dial() (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if o.tls {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure} //nolint:gosec // --insecure asks for it
		if o.ca != "" {
			pem, err := os.ReadFile(o.ca)
			if err != nil {
				return nil, fmt.Errorf("--ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca %s: no PEM certificate in it", o.ca)
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	}
	return grpc.NewClient("passthrough:///"+o.addr, grpc.WithTransportCredentials(creds))
}

type client struct {
	o  *opts
	cl sluicev1.ControlClient
}

// ctx is one call's context, with the key in the metadata.
func (c *client) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.timeout)
	if c.o.key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.o.key)
	}
	return ctx, cancel
}

// usageError is a bad argument found by a command.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// fail prints err and returns its exit code.
func (c *client) fail(cmd string, err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.o.stderr, "sluice ctl %s: %s\n", cmd, ue.msg)
		return ExitUsage
	}
	st, _ := status.FromError(err)
	code, msg := st.Code(), st.Message()
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded:
		fmt.Fprintf(c.o.stderr, "sluice ctl: cannot reach the control service at %s: %s\n", c.o.addr, msg)
		return ExitUnreachable
	case codes.Unauthenticated:
		if c.o.key == "" {
			msg += " (give --key or set SLUICE_API_KEY)"
		}
		fmt.Fprintf(c.o.stderr, "sluice ctl %s: unauthenticated: %s\n", cmd, msg)
		return ExitDenied
	case codes.PermissionDenied:
		fmt.Fprintf(c.o.stderr, "sluice ctl %s: denied: %s\n", cmd, msg)
		return ExitDenied
	case codes.NotFound:
		fmt.Fprintf(c.o.stderr, "sluice ctl %s: not found: %s\n", cmd, msg)
		return ExitNotFound
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists, codes.OutOfRange:
		fmt.Fprintf(c.o.stderr, "sluice ctl %s: refused: %s\n", cmd, msg)
		return ExitInvalid
	}
	fmt.Fprintf(c.o.stderr, "sluice ctl %s: %s: %s\n", cmd, code, msg)
	return ExitServerFailed
}

// command is one ctl command: its argument count and what it does.
type command struct {
	min, max int // max -1: any
	run      func(c *client, args []string) error
}

var commands = map[string]command{
	"status":  {0, 0, (*client).status},
	"servers": {0, 1, (*client).servers},
	"drain":   {2, 2, func(c *client, a []string) error { return c.patch(a, nil, nil, ptr(true)) }},
	"undrain": {2, 2, func(c *client, a []string) error { return c.patch(a, nil, nil, ptr(false)) }},
	"enable":  {2, 2, func(c *client, a []string) error { return c.patch(a, nil, ptr(true), nil) }},
	"disable": {2, 2, func(c *client, a []string) error { return c.patch(a, nil, ptr(false), nil) }},
	"weight":  {3, 3, (*client).weight},
	"add":     {2, 3, (*client).add},
	"remove":  {2, 2, (*client).remove},
	"reload":  {0, 0, (*client).reload},
	"explain": {1, -1, (*client).explain},
	"events":  {0, 2, (*client).events},
	"alerts":  {0, 0, (*client).alerts},
	"watch":   {0, 0, (*client).watch},
}

func ptr[T any](v T) *T { return &v }

func parseWeight(s string) (*int32, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 256 {
		return nil, usageError{fmt.Sprintf("weight %q: want a number 0..256", s)}
	}
	w := int32(n)
	return &w, nil
}

func newClient(conn *grpc.ClientConn) sluicev1.ControlClient { return sluicev1.NewControlClient(conn) }
