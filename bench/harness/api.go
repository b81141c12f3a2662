package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicelb/sluice/bench/apiclient"
	"github.com/sluicelb/sluice/bench/report"
)

// apiMetrics are the rows the load scenarios get when an API peer (sluice+streamN,
// sluice+watchN) runs: what its clients received in each measurement window. A window
// in which any client received nothing fails the sample.
var apiMetrics = []report.Metric{
	{Key: "api_clients", Label: "API clients attached"},
	{Key: "api_msgs_per_s", Label: "API msgs received/s (all clients)"},
	{Key: "api_min_client_msgs", Label: "API msgs, fewest of one client"},
}

// withAPIMetrics appends apiMetrics to the load scenarios (all but f, the added latency of
// one connection, and g, memory on fresh processes), as copies: the package's scenario
// table is left alone.
func withAPIMetrics(scs []report.Scenario) []report.Scenario {
	out := slices.Clone(scs)
	for i, sc := range out {
		if sc.ID != "f" && sc.ID != "g" {
			out[i].Metrics = append(slices.Clone(sc.Metrics), apiMetrics...)
		}
	}
	return out
}

// attach creates a viewer API key on pp's running process (log in as the generated
// admin user, POST /api/v1/keys) and attaches the clients pp asks for. They stay
// attached until the process is stopped.
func (r *runner) attach(ctx context.Context, pp *prepared) (*apiclient.Set, error) {
	a := pp.p.API
	key, err := apiclient.CreateKey(ctx, pp.setup.AdminListen, a.User, a.Password, "sluice-bench", "viewer")
	if err != nil {
		return nil, fmt.Errorf("%s: create an API key: %w", pp.p.Name, err)
	}
	set, err := apiclient.Attach(ctx, apiclient.Options{Kind: a.Kind, N: a.N, AdminAddr: pp.setup.AdminListen,
		GRPCAddr: pp.setup.GRPCListen, Key: key, Topics: a.Topics, Timeout: 15 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pp.p.Name, err)
	}
	return set, nil
}

// apiValues records what set's clients received in the window just marked, or fails the
// sample when a client failed or received nothing in it.
func apiValues(set *apiclient.Set, s *report.Sample) error {
	w, err := set.Check()
	if err != nil {
		return err
	}
	s.Values["api_clients"] = float64(set.N())
	s.Values["api_msgs_per_s"] = w.PerSecond()
	s.Values["api_min_client_msgs"] = float64(w.MinClient)
	return nil
}

// apiLegend is the legend's sentence on the API peers, or "".
func apiLegend(o Options) string {
	if !slices.ContainsFunc(o.Peers, func(p string) bool { return strings.HasPrefix(p, "sluice+") }) {
		return ""
	}
	return " sluice+streamN: sluice with N WebSocket clients on GET /api/v1/stream subscribed to stats, events and logs (as the web UI with its logs view open; -nologs: stats and events only); " +
		"sluice+watchN: N gRPC sluice.v1.Control/Watch clients (as `sluice ctl watch`). The clients run in the harness process, off the proxy's core, " +
		"attached for the whole life of the process (every scenario but g, which starts fresh processes without them); a window in which any client received nothing fails."
}
