package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sluicelb/sluice/internal/app"
	"github.com/sluicelb/sluice/internal/state"
)

// headerFlags collects repeated --header 'Name: value'.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }
func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want 'Name: value', got %q", v)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// cmdExplain is `sluice explain -c FILE --frontend F [--method M --host H
// --path P --client-ip IP --header 'Name: value' --json]` (contract §1): the
// admin API's explain, offline against a file.
func cmdExplain(args []string, stdout, stderr io.Writer) int {
	q := state.ExplainQuery{Headers: headerFlags{}}
	var asJSON bool
	f, code, ok := parseFlags("explain", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&q.Frontend, "frontend", "", "")
		fs.StringVar(&q.Method, "method", "GET", "")
		fs.StringVar(&q.Host, "host", "", "")
		fs.StringVar(&q.Path, "path", "/", "")
		fs.StringVar(&q.ClientIP, "client-ip", "", "")
		fs.Var(headerFlags(q.Headers), "header", "")
		fs.BoolVar(&asJSON, "json", false, "")
	})
	if !ok {
		return code
	}
	path := f.path
	if q.Frontend == "" {
		fmt.Fprintln(stderr, "sluice explain: --frontend is required")
		return 1
	}
	cfg := load(path, f.overrides, stderr)
	if cfg == nil {
		return 1
	}
	ex, err := app.ExplainConfig(cfg, q)
	if errors.Is(err, state.ErrNotFound) {
		var names []string
		for _, f := range cfg.Frontends {
			names = append(names, f.Name)
		}
		fmt.Fprintf(stderr, "sluice explain: %s has no frontend named %q (it has %s)\n", path, q.Frontend, strings.Join(names, ", "))
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice explain: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ex)
		return 0
	}
	printExplanation(stdout, &ex)
	return 0
}

func printExplanation(w io.Writer, ex *state.Explanation) {
	fmt.Fprintln(w, "offline: every server is taken as up (no health check has run); enabled and drain are as in the file")
	client := ex.ClientIP
	if client == "" {
		client = "(no client address given)"
	}
	fmt.Fprintf(w, "frontend %s (%s), client %s: access %s\n", ex.Frontend, ex.Mode, client, ex.Access)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(ex.Routes) > 0 {
		fmt.Fprintln(w, "routes, first match wins:")
		for _, r := range ex.Routes {
			if r.Matched {
				fmt.Fprintf(tw, "  %s\tmatches\n", r.Name)
			} else {
				fmt.Fprintf(tw, "  %s\tno: %s\n", r.Name, r.Reason)
			}
		}
		tw.Flush()
	}
	switch {
	case ex.Mode == "http" && ex.Route == "" && ex.Backend != "":
		fmt.Fprintf(w, "no route matches: default backend %s\n", ex.Backend)
	case ex.Route != "":
		fmt.Fprintf(w, "route %s: backend %s\n", ex.Route, ex.Backend)
	case ex.Backend != "":
		fmt.Fprintf(w, "backend %s\n", ex.Backend)
	}
	if len(ex.Servers) > 0 {
		fmt.Fprintln(w, "servers:")
		for _, s := range ex.Servers {
			why := "eligible"
			if s.Reason != "" {
				why = s.Reason
			}
			fmt.Fprintf(tw, "  %s\t%s\n", s.Address, why)
		}
		tw.Flush()
	}
	if ex.Pick != "" {
		fmt.Fprintf(w, "pick: %s\n", ex.Pick)
	}
	if ex.Reason != "" {
		fmt.Fprintf(w, "answer: %s\n", ex.Reason)
	}
}
