package harness

import "github.com/sluicelb/sluice/bench/report"

// cpuMetrics are the proxy CPU figures of the load scenarios a to d.
var cpuMetrics = []report.Metric{
	{Key: "cpu_us_per_req", Label: "proxy CPU µs/req", Chart: 3},
	{Key: "cpu_pct", Label: "proxy CPU %"},
	{Key: "core_other_pct", Label: "other load on proxy's CPU %"},
}

// The scenarios, in run order. IDs are what --scenario takes.
var scenarios = []report.Scenario{
	{ID: "a", Title: "L7 keep-alive, 1 KiB, 64 conns", Short: "L7 keep-alive 1 KiB", Metrics: append([]report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p50_ms", Label: "p50 ms"},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}, cpuMetrics...)},
	{ID: "b", Title: "L7 keep-alive, 64 KiB, 64 conns", Short: "L7 keep-alive 64 KiB", Metrics: append([]report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}, cpuMetrics...)},
	{ID: "c", Title: "L7 new connection per request, 64 conns", Short: "L7 new conn/request", Metrics: append([]report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}, cpuMetrics...)},
	{ID: "d", Title: "L4 64 B request/response, 64 conns", Short: "L4 request/response", Metrics: append([]report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}, cpuMetrics...)},
	{ID: "e", Title: "L4 bulk echo, 4 conns", Short: "L4 bulk echo", Metrics: []report.Metric{
		{Key: "mbps", Label: "MB/s", HigherBetter: true, Chart: 1},
		{Key: "cpu_us_per_mb", Label: "proxy CPU µs/MB", Chart: 3},
		{Key: "cpu_pct", Label: "proxy CPU %"},
		{Key: "core_other_pct", Label: "other load on proxy's CPU %"}}},
	{ID: "f", Title: "added latency, 1 conn sequential", Short: "low load, 1 conn", Metrics: []report.Metric{
		{Key: "p50_ms", Label: "p50 ms"},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2},
		{Key: "added_p50_us", Label: "added p50 µs"},
		{Key: "added_p99_us", Label: "added p99 µs"}}},
	{ID: "h", Title: "TLS 1.3 full handshake + 1 KiB request per connection, 32 conns", Short: "TLS new handshakes", Metrics: append([]report.Metric{
		{Key: "rps", Label: "handshakes/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}, cpuMetrics...)},
	{ID: "i", Title: "TLS 1.3 resumed handshake + 1 KiB request per connection, 32 conns", Short: "TLS resumed handshakes", Metrics: append([]report.Metric{
		{Key: "rps", Label: "handshakes/s", HigherBetter: true, Chart: 1},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2},
		{Key: "resumed_pct", Label: "resumed %"}}, cpuMetrics...)},
	{ID: "j", Title: "TLS 1.3 keep-alive, 1 KiB, 64 conns", Short: "TLS keep-alive 1 KiB", Metrics: append([]report.Metric{
		{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
		{Key: "p50_ms", Label: "p50 ms"},
		{Key: "p99_ms", Label: "p99 ms", Chart: 2}}, cpuMetrics...)},
	{ID: "g", Title: "memory (fresh process each)", Short: "memory", Metrics: []report.Metric{
		{Key: "idle_rss_mib", Label: "idle RSS MiB"},
		{Key: "rss_conns_mib", Label: "RSS, idle HTTP conns, MiB"},
		{Key: "kib_per_conn", Label: "KiB per HTTP conn"},
		{Key: "rss_sessions_mib", Label: "RSS, idle TCP sessions, MiB"},
		{Key: "kib_per_session", Label: "KiB per TCP session"}}},
}

// l4Scenario reports whether a scenario needs an L4 (TCP) frontend.
func l4Scenario(id string) bool { return id == "d" || id == "e" }

// tlsScenario reports whether a scenario needs the TLS frontend.
func tlsScenario(id string) bool { return id == "h" || id == "i" || id == "j" }
