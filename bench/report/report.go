// Package report owns sluice-bench's outputs: the results model, medians and ratios to
// sluice, the Markdown table, results.json and the hand-written SVG chart.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Metric describes one reported number of a scenario.
type Metric struct {
	Key          string `json:"key"`   // "rps", "p50_ms", "p99_ms", "mbps", ...
	Label        string `json:"label"` // "req/s"
	HigherBetter bool   `json:"higher_better"`
	Chart        int    `json:"chart"` // chart row: 0 none, 1 throughput, 2 latency, 3 CPU cost
}

// Scenario describes one scenario and the metrics it reports, in table order.
type Scenario struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Short   string   `json:"short,omitempty"` // chart panel title (<= 26 chars); Title when empty
	Metrics []Metric `json:"metrics"`
}

// Sample is one peer's measurement of one scenario in one repetition.
type Sample struct {
	Peer     string             `json:"peer"`
	Scenario string             `json:"scenario"`
	Rep      int                `json:"rep"`
	Driver   string             `json:"driver,omitempty"`
	Values   map[string]float64 `json:"values,omitempty"`
	Errors   int64              `json:"errors"`
	Non2xx   int64              `json:"non_2xx"`
	Err      string             `json:"error,omitempty"`
}

// Median is the median over repetitions of one metric, with its ratio to sluice's median
// (peer / sluice; 0 when either is missing).
type Median struct {
	Peer     string  `json:"peer"`
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Ratio    float64 `json:"ratio_to_sluice,omitempty"`
	N        int     `json:"n"`
}

// Results is everything a run produced; it is written as results.json.
type Results struct {
	Meta      map[string]any `json:"meta"`
	Peers     []string       `json:"peers"`   // in run order, sluice first when present
	Skipped   []string       `json:"skipped"` // "nginx: not installed (...)"
	Scenarios []Scenario     `json:"scenarios"`
	Samples   []Sample       `json:"samples"`
	Medians   []Median       `json:"medians"`
	Note      string         `json:"note,omitempty"` // printed under the table: what the cells hold
}

// Summarize fills r.Medians from r.Samples.
func (r *Results) Summarize() {
	type key struct{ peer, sc, m string }
	vals := map[key][]float64{}
	for _, s := range r.Samples {
		if s.Err != "" {
			continue
		}
		for m, v := range s.Values {
			k := key{s.Peer, s.Scenario, m}
			vals[k] = append(vals[k], v)
		}
	}
	r.Medians = r.Medians[:0]
	for _, sc := range r.Scenarios {
		for _, m := range sc.Metrics {
			base, hasBase := median(vals[key{"sluice", sc.ID, m.Key}])
			for _, p := range r.Peers {
				v, ok := median(vals[key{p, sc.ID, m.Key}])
				if !ok {
					continue
				}
				md := Median{Peer: p, Scenario: sc.ID, Metric: m.Key, Value: v, N: len(vals[key{p, sc.ID, m.Key}])}
				if hasBase && base != 0 {
					md.Ratio = v / base
				}
				r.Medians = append(r.Medians, md)
			}
		}
	}
}

// Lookup returns the median of metric for peer in scenario.
func (r *Results) Lookup(peer, scenario, metric string) (Median, bool) {
	for _, m := range r.Medians {
		if m.Peer == peer && m.Scenario == scenario && m.Metric == metric {
			return m, true
		}
	}
	return Median{}, false
}

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// WriteJSON writes r to path, indented.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Markdown renders the medians as one table: a row per scenario metric, a column per
// peer, each cell "value (ratio×)" with the ratio to sluice; "n/a" where a peer cannot
// run a scenario, "fail" where every repetition failed.
func (r *Results) Markdown() string {
	var b strings.Builder
	b.WriteString("| scenario | metric |")
	for _, p := range r.Peers {
		b.WriteString(" " + p + " |")
	}
	b.WriteString("\n|---|---|")
	for range r.Peers {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, sc := range r.Scenarios {
		for i, m := range sc.Metrics {
			title := ""
			if i == 0 {
				title = sc.ID + ") " + sc.Title
			}
			fmt.Fprintf(&b, "| %s | %s |", title, m.Label)
			for _, p := range r.Peers {
				md, ok := r.Lookup(p, sc.ID, m.Key)
				switch {
				case ok:
					cell := FormatValue(md.Value)
					if p != "sluice" && md.Ratio > 0 {
						cell += " (" + strconv.FormatFloat(md.Ratio, 'f', 2, 64) + "×)"
					}
					b.WriteString(" " + cell + " |")
				case r.state(p, sc.ID) == "fail":
					b.WriteString(" fail |")
				default:
					b.WriteString(" n/a |")
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// state is "fail" when the peer ran the scenario and every repetition failed.
func (r *Results) state(peer, sc string) string {
	ran := false
	for _, s := range r.Samples {
		if s.Peer == peer && s.Scenario == sc {
			if s.Err == "" {
				return "ok"
			}
			ran = true
		}
	}
	if ran {
		return "fail"
	}
	return "n/a"
}

// FormatValue prints v with thousands separators for large numbers and 3 significant
// digits for small ones.
func FormatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if neg {
			return "-" + string(out)
		}
		return string(out)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
