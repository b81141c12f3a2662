package harness

import "github.com/sluicelb/sluice/bench/report"

// The scenarios, in run order. IDs are what --scenario takes.
var scenarios = []report.Scenario{
	{ID: "a", Title: "L7 keep-alive, 1 KiB, 64 conns", Short: "L7 keep-alive 1 KiB", Metrics: []report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p50_ms", Label: "p50 ms"},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}},
	{ID: "b", Title: "L7 keep-alive, 64 KiB, 64 conns", Short: "L7 keep-alive 64 KiB", Metrics: []report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}},
	{ID: "c", Title: "L7 new connection per request, 64 conns", Short: "L7 new conn/request", Metrics: []report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}},
	{ID: "d", Title: "L4 64 B request/response, 64 conns", Short: "L4 request/response", Metrics: []report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}},
	{ID: "e", Title: "L4 bulk echo, 4 conns", Short: "L4 bulk echo", Metrics: []report.Metric{
		{Key: "mbps", Label: "MB/s", HigherBetter: true, Chart: 1}}},
	{ID: "f", Title: "added latency, 1 conn sequential", Short: "low load, 1 conn", Metrics: []report.Metric{
		{Key: "p50_ms", Label: "p50 ms"},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2},
		{Key: "added_p50_us", Label: "added p50 µs"},
		{Key: "added_p99_us", Label: "added p99 µs"}}},
	{ID: "g", Title: "memory, idle keep-alive conns", Short: "memory", Metrics: []report.Metric{
		{Key: "idle_rss_mib", Label: "idle RSS MiB"},
		{Key: "rss_conns_mib", Label: "RSS with conns MiB"},
		{Key: "kib_per_conn", Label: "KiB per conn"}}},
}

// l4Scenario reports whether a scenario needs an L4 (TCP) frontend.
func l4Scenario(id string) bool { return id == "d" || id == "e" }
