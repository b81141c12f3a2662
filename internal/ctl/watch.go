package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
	"google.golang.org/grpc/metadata"
)

// watch shows the live state, redrawn at every stats frame (once a
// second): process numbers, frontends, every server, the last events.
// Under --plain it prints one tab-separated line per server per frame
// (time first) and one per event, and never clears the screen.
func (c *client) watch(_ []string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c.o.key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.o.key)
	}
	if c.o.interrupt != nil {
		go func() {
			select {
			case <-c.o.interrupt:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	stream, err := c.cl.Watch(ctx, &sluicev1.WatchRequest{Stats: true, Events: true})
	if err != nil {
		return err
	}
	var events []*sluicev1.Event
	frames := 0
	for {
		m, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a clean end
			}
			return err
		}
		if e := m.GetEvent(); e != nil {
			events = append(events, e)
			if len(events) > 8 {
				events = events[len(events)-8:]
			}
			if c.o.plain {
				fmt.Fprintf(c.o.stdout, "%d\tevent\t%s\t%s\t%s\t%s\n", e.TimeUnixMs, e.Type, e.Backend+"/"+e.Server, e.State, e.Message)
			}
			continue
		}
		st := m.GetStats()
		if st == nil {
			continue
		}
		if c.o.plain {
			for _, b := range st.Backends {
				for _, s := range b.Servers {
					fmt.Fprintf(c.o.stdout, "%d\tserver\t%s\n", st.TimeUnixMs, strings.Join(serverRow(s), "\t"))
				}
			}
		} else {
			var b strings.Builder
			drawWatch(&b, c.o.addr, st, events)
			fmt.Fprint(c.o.stdout, "\x1b[H\x1b[2J"+b.String())
		}
		if frames++; c.o.frames > 0 && frames >= c.o.frames {
			return nil
		}
	}
}

// drawWatch renders one screen.
func drawWatch(w io.Writer, addr string, st *sluicev1.Stats, events []*sluicev1.Event) {
	p := st.GetProcess()
	fmt.Fprintf(w, "sluice %s  %s  uptime %s  rss %.1fMiB  cpu %.1f%%  fds %d  conns %d\n\n", addr,
		time.UnixMilli(st.TimeUnixMs).Format("15:04:05"), (time.Duration(p.GetUptimeSeconds()) * time.Second).String(),
		float64(p.GetRssBytes())/(1<<20), p.GetCpuPercent(), p.GetOpenFds(), p.GetActiveConnections())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FRONTEND\tCONNS\tREQ/S\tERR%\tP50_MS\tP99_MS\tTOTAL")
	for _, f := range st.Frontends {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\n", f.Name, f.ActiveConnections, f.RequestsPerSec, f.ErrorRate*100,
			f.P50Ms, f.P99Ms, f.RequestsTotal)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tSERVER\tHEALTH\tWEIGHT\tACTIVE\tREQ/S\tP99_MS\tFAILS\tUP_1H\tNOTE")
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			note := s.Reason
			switch {
			case !s.Enabled:
				note = "disabled"
			case s.Removed:
				note = "removed, draining"
			case s.Draining:
				note = "draining"
			case s.Health == "damped" && s.DampedUntilUnixMs > 0:
				note = "damped until " + time.UnixMilli(s.DampedUntilUnixMs).Format("15:04:05")
			}
			if len(note) > 40 {
				note = note[:39] + "…"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%d\t%.1f%%\t%s\n", b.Name, s.Address, s.Health, s.Weight,
				s.ActiveConnections, s.RequestsPerSec, s.P99Ms, s.FailuresTotal, s.UptimeRatio_1H*100, note)
		}
	}
	_ = tw.Flush()
	if len(events) > 0 {
		fmt.Fprintln(w, "\nrecent events")
		for _, e := range events {
			msg := e.Message
			if len(msg) > 100 {
				msg = msg[:99] + "…"
			}
			fmt.Fprintf(w, "  %s  %s\n", time.UnixMilli(e.TimeUnixMs).Format("15:04:05"), msg)
		}
	}
	fmt.Fprintln(w, "\nCtrl-C to quit")
}
