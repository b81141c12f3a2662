package metrics

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testtool"
)

// sample is one parsed exposition line.
type sample struct {
	name   string
	labels map[string]string
	value  string
}

// exposition is a parsed Prometheus text page.
type exposition struct {
	types   map[string]string // family -> type
	samples []sample
}

// parseExposition is a small validator of the Prometheus text format: it
// fails the test on a malformed line, a second TYPE line for a family, a
// family whose samples are not contiguous, or a sample whose family has no
// TYPE line before it.
func parseExposition(t *testing.T, text string) exposition {
	t.Helper()
	e := exposition{types: map[string]string{}}
	seen := map[string]bool{} // families already closed
	cur := ""
	for ln, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		where := fmt.Sprintf("line %d %q", ln+1, line)
		if strings.HasPrefix(line, "# ") {
			f := strings.Fields(line)
			if len(f) < 3 || (f[1] != "TYPE" && f[1] != "HELP") {
				t.Fatalf("%s: bad comment", where)
			}
			if f[1] == "TYPE" {
				if len(f) != 4 {
					t.Fatalf("%s: bad TYPE", where)
				}
				if _, dup := e.types[f[2]]; dup {
					t.Fatalf("%s: second TYPE line for %s", where, f[2])
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					t.Fatalf("%s: unknown type", where)
				}
				e.types[f[2]] = f[3]
				if cur != "" {
					seen[cur] = true
				}
				cur = f[2]
			}
			continue
		}
		s := parseSample(t, where, line)
		fam := s.name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(s.name, suf); ok {
				if typ := e.types[base]; typ == "histogram" || typ == "summary" {
					fam = base
				}
			}
		}
		if fam != cur {
			t.Fatalf("%s: sample of family %s outside its TYPE block (current %s)", where, fam, cur)
		}
		if seen[fam] {
			t.Fatalf("%s: family %s is not contiguous", where, fam)
		}
		e.samples = append(e.samples, s)
	}
	return e
}

func parseSample(t *testing.T, where, line string) sample {
	t.Helper()
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		t.Fatalf("%s: no metric name", where)
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				t.Fatalf("%s: bad label", where)
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			for {
				if rest == "" {
					t.Fatalf("%s: unterminated label value", where)
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\n' {
					t.Fatalf("%s: raw newline in label value", where)
				}
				if c == '\\' {
					if rest == "" {
						t.Fatalf("%s: dangling backslash", where)
					}
					switch rest[0] {
					case '\\':
						val.WriteByte('\\')
					case '"':
						val.WriteByte('"')
					case 'n':
						val.WriteByte('\n')
					default:
						t.Fatalf("%s: bad escape \\%c", where, rest[0])
					}
					rest = rest[1:]
					continue
				}
				val.WriteByte(c)
			}
			if _, dup := s.labels[key]; dup {
				t.Fatalf("%s: duplicate label %s", where, key)
			}
			s.labels[key] = val.String()
			rest = strings.TrimPrefix(rest, ",")
		}
	}
	if !strings.HasPrefix(rest, " ") || len(strings.Fields(rest)) != 1 {
		t.Fatalf("%s: want exactly one value after the name", where)
	}
	s.value = strings.TrimSpace(rest)
	return s
}

// find returns the samples named name whose labels include want.
func (e exposition) find(name string, want map[string]string) []sample {
	var out []sample
next:
	for _, s := range e.samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func labelKeys(s sample) string {
	var k []string
	for n := range s.labels {
		k = append(k, n)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

func scrape(r *Registry) string {
	var b bytes.Buffer
	r.WritePrometheus(&b)
	return b.String()
}

// exercise touches every handle once with known values.
func exercise(r *Registry) {
	f := r.Frontend("web")
	f.ConnOpened()
	f.ConnOpened()
	f.ConnClosed()
	f.AddBytes(100, 2000)
	f.Denied().Inc()
	f.RateLimited("api-per-ip").Add(3)
	p := r.Pair("web", "api", ModeHTTP)
	p.Request(200, 3*time.Millisecond)
	p.Request(200, 20*time.Millisecond)
	p.Request(503, 2*time.Second)
	r.Frontend("pg")
	r.Pair("pg", "db", ModeTCP).TCPSession()
	s := r.Server("api", "127.0.0.1:9001", func() bool { return true }, func() int64 { return 7 })
	s.Request()
	s.Fail(FailConnect)
	s.Fail(FailStatus5xx)
	s.Fail(FailStatus5xx)
	r.Server("api", "127.0.0.1:9002", func() bool { return false }, func() int64 { return 0 })
	r.ConfigReloaded(true)
	r.ConfigReloaded(false)
	r.AccessLogDropped().Inc()
}

func TestExpositionHasEveryContractMetric(t *testing.T) {
	r := NewRegistry()
	exercise(r)
	e := parseExposition(t, scrape(r))

	cases := []struct {
		family, typ, sample, keys string
		labels                    map[string]string
		value                     string
	}{
		{NameRequests, "counter", NameRequests, "backend,code,frontend", map[string]string{"frontend": "web", "backend": "api", "code": "200"}, "2"},
		{NameRequests, "counter", NameRequests, "backend,code,frontend", map[string]string{"code": "503"}, "1"},
		{NameRequestDuration, "histogram", NameRequestDuration + "_bucket", "backend,frontend,le", map[string]string{"frontend": "web", "backend": "api", "le": "0.005"}, "1"},
		{NameRequestDuration, "histogram", NameRequestDuration + "_bucket", "backend,frontend,le", map[string]string{"le": "0.0001"}, "0"},
		{NameRequestDuration, "histogram", NameRequestDuration + "_bucket", "backend,frontend,le", map[string]string{"le": "10"}, "3"},
		{NameRequestDuration, "histogram", NameRequestDuration + "_bucket", "backend,frontend,le", map[string]string{"le": "+Inf"}, "3"},
		{NameRequestDuration, "histogram", NameRequestDuration + "_count", "backend,frontend", map[string]string{"frontend": "web"}, "3"},
		{NameRequestDuration, "histogram", NameRequestDuration + "_sum", "backend,frontend", map[string]string{"frontend": "web"}, "2.023"},
		{NameActiveConnections, "gauge", NameActiveConnections, "frontend", map[string]string{"frontend": "web"}, "1"},
		{NameBackendHealth, "gauge", NameBackendHealth, "backend,server", map[string]string{"server": "127.0.0.1:9001"}, "1"},
		{NameBackendHealth, "gauge", NameBackendHealth, "backend,server", map[string]string{"server": "127.0.0.1:9002"}, "0"},
		{NameBackendRequests, "counter", NameBackendRequests, "backend,server", map[string]string{"backend": "api", "server": "127.0.0.1:9001"}, "1"},
		{NameBackendFailures, "counter", NameBackendFailures, "backend,reason,server", map[string]string{"server": "127.0.0.1:9001", "reason": "connect"}, "1"},
		{NameBackendFailures, "counter", NameBackendFailures, "backend,reason,server", map[string]string{"server": "127.0.0.1:9001", "reason": "timeout"}, "0"},
		{NameBackendFailures, "counter", NameBackendFailures, "backend,reason,server", map[string]string{"server": "127.0.0.1:9001", "reason": "reset"}, "0"},
		{NameBackendFailures, "counter", NameBackendFailures, "backend,reason,server", map[string]string{"server": "127.0.0.1:9001", "reason": "status_5xx"}, "2"},
		{NameBackendActive, "gauge", NameBackendActive, "backend,server", map[string]string{"server": "127.0.0.1:9001"}, "7"},
		{NameTCPSessions, "counter", NameTCPSessions, "backend,frontend", map[string]string{"frontend": "pg", "backend": "db"}, "1"},
		{NameBytes, "counter", NameBytes, "direction,frontend", map[string]string{"frontend": "web", "direction": "in"}, "100"},
		{NameBytes, "counter", NameBytes, "direction,frontend", map[string]string{"frontend": "web", "direction": "out"}, "2000"},
		{NameConfigReloads, "counter", NameConfigReloads, "result", map[string]string{"result": "success"}, "1"},
		{NameConfigReloads, "counter", NameConfigReloads, "result", map[string]string{"result": "failure"}, "1"},
		{NameConfigLastReload, "gauge", NameConfigLastReload, "", nil, "0"},
		{NameRateLimited, "counter", NameRateLimited, "frontend,rule", map[string]string{"frontend": "web", "rule": "api-per-ip"}, "3"},
		{NameDenied, "counter", NameDenied, "frontend", map[string]string{"frontend": "web"}, "1"},
		{NameAccessLogDropped, "counter", NameAccessLogDropped, "", nil, "1"},
	}
	for _, c := range cases {
		if got := e.types[c.family]; got != c.typ {
			t.Errorf("%s: TYPE %q, want %q", c.family, got, c.typ)
		}
		ss := e.find(c.sample, c.labels)
		if len(ss) == 0 {
			t.Errorf("%s%v: no sample", c.sample, c.labels)
			continue
		}
		for _, s := range ss {
			if k := labelKeys(s); k != c.keys {
				t.Errorf("%s: label names %q, want %q", c.sample, k, c.keys)
			}
		}
		if ss[0].value != c.value {
			t.Errorf("%s%v = %s, want %s", c.sample, c.labels, ss[0].value, c.value)
		}
	}
	// A TCP pair exposes no request histogram, an HTTP pair no session counter.
	if n := len(e.find(NameRequestDuration+"_count", map[string]string{"frontend": "pg"})); n != 0 {
		t.Errorf("tcp pair has %d request-duration series", n)
	}
	if n := len(e.find(NameTCPSessions, map[string]string{"frontend": "web"})); n != 0 {
		t.Errorf("http pair has %d tcp-session series", n)
	}
	// Go runtime, process and fd metrics are there too.
	for _, n := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds", "process_max_fds"} {
		if _, ok := e.types[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
}

func TestEscapedLabelValues(t *testing.T) {
	r := NewRegistry()
	name := "we\"ird\\fe\nname\xff"
	r.Frontend(name).AddBytes(1, 1)
	r.Pair(name, "b\"k", ModeHTTP).Request(200, time.Millisecond)
	r.Server("b\"k", "srv\\1", nil, nil).Request()
	e := parseExposition(t, scrape(r))
	if ss := e.find(NameBytes, map[string]string{"frontend": "we\"ird\\fe\nname\uFFFD", "direction": "in"}); len(ss) != 1 {
		t.Fatalf("escaped frontend label not round-tripped: %v", ss)
	}
	if ss := e.find(NameRequests, map[string]string{"backend": "b\"k", "code": "200"}); len(ss) != 1 {
		t.Fatalf("escaped backend label not round-tripped")
	}
	if ss := e.find(NameBackendRequests, map[string]string{"server": "srv\\1"}); len(ss) != 1 {
		t.Fatalf("escaped server label not round-tripped")
	}
	for in, want := range map[string]string{"plain": "plain", `a"b`: `a\"b`, `a\b`: `a\\b`, "a\nb": `a\nb`, "a\xffb": "a\uFFFDb"} {
		if got := EscapeLabelValue(in); got != want {
			t.Errorf("EscapeLabelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCodesOutOfRangeAreOther(t *testing.T) {
	r := NewRegistry()
	p := r.Pair("f", "b", ModeHTTP)
	p.Code(0).Inc()
	p.Code(-5).Inc()
	p.Code(1000).Inc()
	p.Code(999).Inc()
	e := parseExposition(t, scrape(r))
	if ss := e.find(NameRequests, map[string]string{"code": "other"}); len(ss) != 1 || ss[0].value != "3" {
		t.Fatalf("code=other: %v", ss)
	}
	if ss := e.find(NameRequests, map[string]string{"code": "999"}); len(ss) != 1 || ss[0].value != "1" {
		t.Fatalf("code=999: %v", ss)
	}
}

func TestRemoveServerAfterDrainAndReAdd(t *testing.T) {
	r := NewRegistry()
	s := r.Server("api", "127.0.0.1:9001", func() bool { return true }, nil)
	s.Request()
	s.Request()
	if !r.RemoveServer("api", "127.0.0.1:9001") {
		t.Fatal("RemoveServer reported the server missing")
	}
	if r.RemoveServer("api", "127.0.0.1:9001") {
		t.Fatal("second RemoveServer reported success")
	}
	s.Request() // a held handle keeps working, unexposed
	e := parseExposition(t, scrape(r))
	for _, n := range []string{NameBackendRequests, NameBackendFailures, NameBackendHealth, NameBackendActive} {
		if ss := e.find(n, map[string]string{"server": "127.0.0.1:9001"}); len(ss) != 0 {
			t.Errorf("%s still exposed after RemoveServer: %v", n, ss)
		}
	}
	// Re-adding the same identity creates fresh series without a panic.
	s2 := r.Server("api", "127.0.0.1:9001", func() bool { return true }, nil)
	if s2 == s {
		t.Fatal("re-added server reused the removed handles")
	}
	s2.Request()
	e = parseExposition(t, scrape(r))
	if ss := e.find(NameBackendRequests, map[string]string{"server": "127.0.0.1:9001"}); len(ss) != 1 || ss[0].value != "1" {
		t.Fatalf("re-added server: %v", ss)
	}
}

// TestReloadKeepsCounters simulates two reloads: the first keeps everything
// (same handles, counters kept, no duplicate-registration panic), the second
// drops a frontend, a pair and a rate-limit rule.
func TestReloadKeepsCounters(t *testing.T) {
	r := NewRegistry()
	exercise(r)
	exercise(r) // a reload that keeps every entity: no panic, same handles
	if r.Frontend("web") != r.Frontend("web") || r.Pair("web", "api", ModeHTTP) != r.Pair("web", "api", ModeTCP) {
		t.Fatal("get-or-create returned new handles")
	}
	e := parseExposition(t, scrape(r))
	if ss := e.find(NameRequests, map[string]string{"frontend": "web", "code": "200"}); len(ss) != 1 || ss[0].value != "4" {
		t.Fatalf("requests after reload: %v", ss)
	}
	if ss := e.find(NameBackendRequests, map[string]string{"server": "127.0.0.1:9001"}); len(ss) != 1 || ss[0].value != "2" {
		t.Fatalf("backend requests after reload: %v", ss)
	}

	r.Frontend("web").RetainRules(nil)
	if !r.RemoveFrontend("pg") || r.RemoveFrontend("pg") {
		t.Fatal("RemoveFrontend result")
	}
	if !r.RemovePair("web", "api") {
		t.Fatal("RemovePair result")
	}
	e = parseExposition(t, scrape(r))
	for _, n := range []string{NameRateLimited, NameTCPSessions, NameRequests, NameRequestDuration + "_count"} {
		if ss := e.find(n, nil); len(ss) != 0 {
			t.Errorf("%s still exposed: %v", n, ss)
		}
	}
	if ss := e.find(NameActiveConnections, map[string]string{"frontend": "pg"}); len(ss) != 0 {
		t.Errorf("removed frontend still exposed")
	}
	exercise(r) // re-adding everything after removal does not panic
	parseExposition(t, scrape(r))
}

func TestBindActive(t *testing.T) {
	r := NewRegistry()
	f := r.Frontend("web")
	f.ConnOpened()
	f.BindActive(func() int64 { return 42 })
	e := parseExposition(t, scrape(r))
	if ss := e.find(NameActiveConnections, nil); len(ss) != 1 || ss[0].value != "42" {
		t.Fatalf("bound active: %v", ss)
	}
	f.BindActive(nil)
	e = parseExposition(t, scrape(r))
	if ss := e.find(NameActiveConnections, nil); len(ss) != 1 || ss[0].value != "1" {
		t.Fatalf("unbound active: %v", ss)
	}
}

// TestConcurrentUpdatesAndScrapes runs updates, first uses of codes,
// reload-style get-or-create and scrapes at once (meant for -race).
func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	r := NewRegistry()
	p := r.Pair("web", "api", ModeHTTP)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				p.Request(100+(i*7+g)%500, time.Duration(i)*time.Microsecond)
				r.Server("api", "s", nil, nil).Fail(uint8(i % 5))
				r.Frontend("web").AddBytes(1, 1)
			}
		}(g)
	}
	for i := 0; i < 20; i++ {
		parseExposition(t, scrape(r))
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	e := parseExposition(t, scrape(r))
	total := 0
	for _, s := range e.find(NameRequests, nil) {
		var n int
		fmt.Sscan(s.value, &n)
		total += n
	}
	if total != 8000 {
		t.Fatalf("sum of requests_total = %d, want 8000", total)
	}
}

// TestPromtoolCheckMetrics runs `promtool check metrics` on a scrape when
// promtool is installed. Lint remarks on go_*/process_* families (no help
// text, VictoriaMetrics naming) are tolerated; any remark on a sluice_
// family or any parse error fails.
func TestPromtoolCheckMetrics(t *testing.T) {
	path := testtool.Need(t, "promtool") // the built-in validator runs in the other tests either way
	r := NewRegistry()
	exercise(r)
	r.Frontend("we\"ird\\name\n").AddBytes(1, 2)
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(r))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	// promtool exits 1 on a parse error, 3 when there are only lint remarks.
	if code != 0 && code != 3 {
		t.Fatalf("promtool check metrics exit %d:\n%s", code, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "sluice_") {
			t.Errorf("promtool: %s", line)
		}
	}
}
