package metrics

import (
	"bytes"
	"io"
	"sort"
	"strings"

	vm "github.com/VictoriaMetrics/metrics"
)

// ContentType is the Content-Type of WritePrometheus output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WritePrometheus writes every series of r, then the VictoriaMetrics
// global sets, Go runtime, process and file-descriptor metrics, in the
// Prometheus text format with `# HELP` and `# TYPE` lines.
//
// Each Set renders its own families, so the raw concatenation would repeat
// a family's TYPE line once per frontend/server and scatter its samples;
// WritePrometheus regroups the lines so each family appears once, in name
// order, with one HELP and TYPE. It is meant for the scrape path: it
// allocates and takes short locks, but never blocks the hot path.
func (r *Registry) WritePrometheus(w io.Writer) {
	var m merger
	var buf bytes.Buffer
	for _, s := range r.sets() {
		buf.Reset()
		s.WritePrometheus(&buf)
		m.add(buf.Bytes())
	}
	buf.Reset()
	vm.WritePrometheus(&buf, true)
	m.add(buf.Bytes())
	buf.Reset()
	vm.WriteFDMetrics(&buf)
	m.add(buf.Bytes())
	m.writeTo(w)
}

// merger groups exposition lines by metric family.
type merger struct {
	fams  map[string]*family
	order []string
}

type family struct {
	typ   string
	help  string
	lines []byte
}

// add takes one chunk of exposition text. Sample lines belong to the family
// of the last `# TYPE` line of the same chunk; lines before any TYPE line
// form a family named after the metric (typeless).
func (m *merger) add(chunk []byte) {
	if m.fams == nil {
		m.fams = make(map[string]*family)
	}
	cur := ""
	for len(chunk) > 0 {
		var line []byte
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			line, chunk = chunk[:i], chunk[i+1:]
		} else {
			line, chunk = chunk, nil
		}
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			f := strings.Fields(string(line))
			if len(f) >= 4 && f[1] == "TYPE" {
				cur = f[2]
				m.get(lintName(cur)).typ = lintType(cur, f[3])
			} else if len(f) >= 4 && f[1] == "HELP" && m.get(lintName(f[2])).help == "" {
				m.get(lintName(f[2])).help = strings.TrimSpace(strings.SplitN(string(line), f[2], 2)[1])
			}
			continue
		}
		name := cur
		if name == "" {
			name = metricName(line)
		}
		if to, ok := lintRenames[name]; ok && bytes.HasPrefix(line, []byte(name)) {
			line = append([]byte(to), line[len(name):]...)
			name = to
		}
		fam := m.get(name)
		fam.lines = append(fam.lines, line...)
		fam.lines = append(fam.lines, '\n')
	}
}

func (m *merger) get(name string) *family {
	f := m.fams[name]
	if f == nil {
		f = &family{}
		if info, ok := familyInfo[name]; ok {
			f.typ, f.help = info[0], info[1]
		}
		m.fams[name] = f
		m.order = append(m.order, name)
	}
	return f
}

func (m *merger) writeTo(w io.Writer) {
	sort.Strings(m.order)
	var out bytes.Buffer
	for _, name := range m.order {
		f := m.fams[name]
		if len(f.lines) == 0 {
			continue
		}
		if f.help == "" {
			f.help = defaultHelp(name)
		}
		if f.help != "" {
			out.WriteString("# HELP ")
			out.WriteString(name)
			out.WriteByte(' ')
			out.WriteString(f.help)
			out.WriteByte('\n')
		}
		if f.typ != "" {
			out.WriteString("# TYPE ")
			out.WriteString(name)
			out.WriteByte(' ')
			out.WriteString(f.typ)
			out.WriteByte('\n')
		}
		out.Write(f.lines)
	}
	w.Write(out.Bytes())
}

// metricName returns the metric name at the start of an exposition line.
func metricName(line []byte) string {
	for i, c := range line {
		if c == '{' || c == ' ' {
			return string(line[:i])
		}
	}
	return string(line)
}

// lintRenames renames the VictoriaMetrics runtime series whose names fail
// `promtool check metrics` (a counter must end in _total; nothing else may
// end in _count). Sluice's own names are never renamed.
var lintRenames = map[string]string{
	"go_cgo_calls_count": "go_cgo_calls_total",
	"go_gc_forced_count": "go_gc_forced_total",
	"go_cpu_count":       "go_cpus",
}

func lintName(name string) string {
	if to, ok := lintRenames[name]; ok {
		return to
	}
	return name
}

// lintType types the process_io_*_total series, which only grow, as
// counters (VictoriaMetrics exposes them as gauges).
func lintType(name, typ string) string {
	if typ == "gauge" && strings.HasPrefix(name, "process_") && strings.HasSuffix(name, "_total") {
		return "counter"
	}
	return typ
}

// defaultHelp is the HELP text of a runtime family that has none.
func defaultHelp(name string) string {
	switch {
	case strings.HasPrefix(name, "go_"):
		return "Go runtime metric (runtime/metrics, via VictoriaMetrics/metrics)."
	case strings.HasPrefix(name, "process_"):
		return "Process metric (from /proc, via VictoriaMetrics/metrics)."
	}
	return ""
}
