package ctl

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
)

// table writes rows aligned (or tab-separated under --plain, without the
// header).
type table struct {
	plain bool
	w     io.Writer
	tw    *tabwriter.Writer
}

func (c *client) table(header ...string) *table {
	t := &table{plain: c.o.plain, w: c.o.stdout}
	if !t.plain {
		t.tw = tabwriter.NewWriter(c.o.stdout, 0, 0, 2, ' ', 0)
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	if t.plain {
		fmt.Fprintln(t.w, strings.Join(cells, "\t"))
		return
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() {
	if t.tw != nil {
		_ = t.tw.Flush()
	}
}

func f1(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) }
func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func yes(b bool) string    { return map[bool]string{true: "yes", false: "no"}[b] }
func dash(s string) string { return map[bool]string{true: "-", false: s}[s == ""] }

func ago(unixMs int64) string {
	if unixMs == 0 {
		return "-"
	}
	return time.UnixMilli(unixMs).UTC().Format(time.RFC3339)
}

func (c *client) status(_ []string) error {
	ctx, cancel := c.ctx()
	defer cancel()
	s, err := c.cl.Status(ctx, &sluicev1.StatusRequest{})
	if err != nil {
		return err
	}
	lr := s.GetLastReload()
	rows := [][2]string{
		{"version", s.Version}, {"commit", dash(s.Commit)}, {"go", s.GoVersion},
		{"uptime", (time.Duration(s.UptimeSeconds) * time.Second).String()},
		{"config_file", dash(s.ConfigFile)}, {"config_checksum", s.ConfigChecksum},
		{"generation", strconv.FormatUint(s.Generation, 10)},
		{"last_reload", dash(lr.GetResult()) + " " + dash(lr.GetSource()) + " " + ago(lr.GetTimeUnixMs())},
		{"frontends", itoa(int64(s.Frontends))}, {"backends", itoa(int64(s.Backends))},
		{"servers", itoa(int64(s.Servers))}, {"servers_up", itoa(int64(s.ServersUp))},
		{"alerts_firing", itoa(int64(s.AlertsFiring))},
		{"rss_bytes", itoa(s.GetProcess().GetRssBytes())}, {"open_fds", itoa(s.GetProcess().GetOpenFds())},
		{"cpu_percent", f1(s.GetProcess().GetCpuPercent())}, {"connections", itoa(s.GetProcess().GetActiveConnections())},
	}
	if e := lr.GetError(); e != "" {
		rows = append(rows, [2]string{"last_reload_error", e})
	}
	t := &table{plain: c.o.plain, w: c.o.stdout}
	if !t.plain {
		t.tw = tabwriter.NewWriter(c.o.stdout, 0, 0, 2, ' ', 0)
	}
	for _, r := range rows {
		t.row(r[0], r[1])
	}
	t.flush()
	return nil
}

var serverHeader = []string{"BACKEND", "ADDRESS", "HEALTH", "WEIGHT", "ACTIVE", "REQ/S", "P99_MS", "ENABLED", "DRAINING", "UP_1H", "REASON"}

func serverRow(s *sluicev1.Server) []string {
	return []string{s.Backend, s.Address, s.Health, itoa(int64(s.Weight)), itoa(s.ActiveConnections), f1(s.RequestsPerSec),
		f1(s.P99Ms), yes(s.Enabled), yes(s.Draining), strconv.FormatFloat(s.UptimeRatio_1H*100, 'f', 1, 64) + "%", dash(s.Reason)}
}

func (c *client) servers(args []string) error {
	ctx, cancel := c.ctx()
	defer cancel()
	req := &sluicev1.ListServersRequest{}
	if len(args) == 1 {
		req.Backend = args[0]
	}
	r, err := c.cl.ListServers(ctx, req)
	if err != nil {
		return err
	}
	t := c.table(serverHeader...)
	for _, s := range r.Servers {
		t.row(serverRow(s)...)
	}
	t.flush()
	return nil
}

// changed prints what a change did: one line per change (or "no change").
func (c *client) changed(r *sluicev1.ChangeResponse) {
	if len(r.Changes) == 0 {
		if !c.o.plain {
			fmt.Fprintln(c.o.stdout, "no change")
		}
		return
	}
	for _, ch := range r.Changes {
		fmt.Fprintln(c.o.stdout, ch)
	}
	if !c.o.plain {
		switch {
		case r.DryRun:
			fmt.Fprintln(c.o.stdout, "(dry run: nothing applied)")
		case r.Persisted != "":
			fmt.Fprintf(c.o.stdout, "(applied; kept in the %s)\n", r.Persisted)
		}
		for _, w := range r.Warnings {
			fmt.Fprintln(c.o.stderr, "warning: "+w)
		}
	}
}

func (c *client) patch(args []string, w *int32, enabled, drain *bool) error {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.cl.UpdateServer(ctx, &sluicev1.UpdateServerRequest{Backend: args[0], Address: args[1], Weight: w,
		Enabled: enabled, Drain: drain, DryRun: c.o.dry})
	if err != nil {
		return err
	}
	c.changed(r)
	return nil
}

func (c *client) weight(args []string) error {
	w, err := parseWeight(args[2])
	if err != nil {
		return err
	}
	return c.patch(args, w, nil, nil)
}

func (c *client) add(args []string) error {
	req := &sluicev1.AddServerRequest{Backend: args[0], Address: args[1], DryRun: c.o.dry}
	if len(args) == 3 {
		w, err := parseWeight(args[2])
		if err != nil {
			return err
		}
		req.Weight = w
	}
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.cl.AddServer(ctx, req)
	if err != nil {
		return err
	}
	c.changed(r)
	return nil
}

func (c *client) remove(args []string) error {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.cl.RemoveServer(ctx, &sluicev1.RemoveServerRequest{Backend: args[0], Address: args[1], DryRun: c.o.dry})
	if err != nil {
		return err
	}
	c.changed(r)
	return nil
}

func (c *client) reload(_ []string) error {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.cl.Reload(ctx, &sluicev1.ReloadRequest{})
	if err != nil {
		return err
	}
	if len(r.Changes) == 0 && !c.o.plain {
		fmt.Fprintln(c.o.stdout, "reloaded")
	}
	c.changed(r)
	return nil
}

type headerFlags map[string]string

func (h headerFlags) String() string { return fmt.Sprint(map[string]string(h)) }
func (h headerFlags) Set(v string) error {
	name, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("--header %q: want 'Name: value'", v)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(val)
	return nil
}

func (c *client) explain(args []string) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	req := &sluicev1.ExplainRequest{Headers: map[string]string{}}
	fs.StringVar(&req.Frontend, "frontend", "", "")
	fs.StringVar(&req.Method, "method", "GET", "")
	fs.StringVar(&req.Host, "host", "", "")
	fs.StringVar(&req.Path, "path", "/", "")
	fs.StringVar(&req.ClientIp, "client-ip", "127.0.0.1", "")
	fs.StringVar(&req.Sni, "sni", "", "")
	fs.Var(headerFlags(req.Headers), "header", "")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if req.Frontend == "" || fs.NArg() > 0 {
		return usageError{"explain needs --frontend F (and only flags)"}
	}
	ctx, cancel := c.ctx()
	defer cancel()
	ex, err := c.cl.Explain(ctx, req)
	if err != nil {
		return err
	}
	if c.o.plain {
		fmt.Fprintf(c.o.stdout, "frontend\t%s\naccess\t%s\nroute\t%s\nbackend\t%s\npick\t%s\nstatus\t%d\nreason\t%s\n",
			ex.Frontend, ex.Access, ex.Route, ex.Backend, ex.Pick, ex.Status, ex.Reason)
		for _, r := range ex.Routes {
			fmt.Fprintf(c.o.stdout, "route\t%s\t%s\t%s\n", r.Name, yes(r.Matched), r.Reason)
		}
		for _, s := range ex.Servers {
			fmt.Fprintf(c.o.stdout, "server\t%s\t%s\t%s\n", s.Address, yes(s.Eligible), s.Reason)
		}
		return nil
	}
	w := c.o.stdout
	fmt.Fprintf(w, "frontend %s (%s), client %s: %s\n", ex.Frontend, ex.Mode, ex.ClientIp, ex.Access)
	for _, r := range ex.Routes {
		mark := "  no "
		if r.Matched {
			mark = "  YES"
		}
		fmt.Fprintf(w, "%s route %s %s\n", mark, r.Name, r.Reason)
	}
	if ex.Backend == "" {
		fmt.Fprintf(w, "no backend: the client gets %d (%s)\n", ex.Status, ex.Reason)
		return nil
	}
	fmt.Fprintf(w, "backend %s\n", ex.Backend)
	for _, s := range ex.Servers {
		fmt.Fprintf(w, "  %-24s %s %s\n", s.Address, map[bool]string{true: "eligible", false: "not eligible:"}[s.Eligible], s.Reason)
	}
	fmt.Fprintf(w, "pick: %s\n", dash(ex.Pick))
	if ex.Reason != "" {
		fmt.Fprintln(w, ex.Reason)
	}
	return nil
}

func (c *client) events(args []string) error {
	req := &sluicev1.ListEventsRequest{Limit: 50}
	if len(args) > 0 {
		req.Backend = args[0]
	}
	if len(args) > 1 {
		req.Server = args[1]
	}
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.cl.ListEvents(ctx, req)
	if err != nil {
		return err
	}
	t := c.table("TIME", "TYPE", "SEVERITY", "SERVER", "STATE", "MESSAGE")
	for _, e := range r.Events {
		srv := e.Server
		if srv != "" {
			srv = e.Backend + "/" + srv
		} else if e.Alert != "" {
			srv = "alert " + e.Alert
		}
		t.row(ago(e.TimeUnixMs), e.Type, e.Severity, dash(srv), dash(e.State), e.Message)
	}
	t.flush()
	return nil
}

func (c *client) alerts(_ []string) error {
	ctx, cancel := c.ctx()
	defer cancel()
	r, err := c.cl.ListAlerts(ctx, &sluicev1.ListAlertsRequest{})
	if err != nil {
		return err
	}
	t := c.table("ALERT", "WHEN", "SCOPE", "THRESHOLD", "STATE", "SINCE", "VALUE")
	for _, a := range r.Alerts {
		when := a.When
		if a.Resource != "" {
			when += ":" + a.Resource
		}
		scope := "process"
		switch {
		case a.ScopeFrontend != "":
			scope = "frontend " + a.ScopeFrontend
		case a.ScopeServer != "":
			scope = "server " + a.ScopeBackend + "/" + a.ScopeServer
		case a.ScopeBackend != "":
			scope = "backend " + a.ScopeBackend
		}
		t.row(a.Name, when, scope, a.Threshold, a.State, ago(a.SinceUnixMs), strconv.FormatFloat(a.Value, 'g', 4, 64))
	}
	t.flush()
	return nil
}
