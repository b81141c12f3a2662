package report

import (
	"cmp"
	"fmt"
	"html"
	"math"
	"strings"
)

// palette gives each peer a fixed color, by run order.
var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"}

// SVG draws the medians as small multiples: row 1 holds the throughput metrics
// (Metric.Chart == 1), row 2 the latency metrics (Chart == 2), row 3 the proxy's CPU cost
// (Chart == 3); each panel is one scenario
// metric with a bar per peer, its own scale starting at zero, and the value over each bar.
func (r *Results) SVG(title string) string {
	type panel struct {
		sc Scenario
		m  Metric
	}
	var rows [3][]panel
	for _, sc := range r.Scenarios {
		for _, m := range sc.Metrics {
			if m.Chart >= 1 && m.Chart <= len(rows) {
				if r.hasAny(sc.ID, m.Key) {
					rows[m.Chart-1] = append(rows[m.Chart-1], panel{sc, m})
				}
			}
		}
	}
	const (
		pw, ph     = 210, 190 // panel size
		gap        = 16
		top        = 70
		rowTitle   = 26
		plotTop    = 44 // inside panel: title lines
		plotBottom = 22
	)
	cols := max(len(rows[0]), len(rows[1]), len(rows[2]), 1)
	width := gap + cols*(pw+gap)
	height := top
	for _, row := range rows {
		if len(row) > 0 {
			height += rowTitle + ph + gap
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">
<rect width="100%%" height="100%%" fill="#ffffff"/>
<text x="%d" y="26" font-size="18" font-weight="bold" fill="#111">%s</text>
`, width, height, width, height, gap, esc(title))
	// legend
	x := gap
	for i, p := range r.Peers {
		fmt.Fprintf(&b, `<rect x="%d" y="40" width="12" height="12" fill="%s"/><text x="%d" y="51" font-size="13" fill="#111">%s</text>
`, x, palette[i%len(palette)], x+16, esc(p))
		x += 30 + 8*len(p)
	}
	fmt.Fprintf(&b, `<text x="%d" y="51" font-size="12" fill="#555">medians; each panel has its own scale</text>
`, x+10)
	y := top
	rowNames := [3]string{"Throughput (higher is better)", "Latency p99 (lower is better)", "Proxy CPU cost (lower is better)"}
	for ri, row := range rows {
		if len(row) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15" font-weight="bold" fill="#111">%s</text>
`, gap, y+18, rowNames[ri])
		y += rowTitle
		for ci, pn := range row {
			px := gap + ci*(pw+gap)
			fmt.Fprintf(&b, `<g transform="translate(%d,%d)">
<rect width="%d" height="%d" fill="#f8fafc" stroke="#cbd5e1"/>
<text x="%d" y="17" font-size="12" font-weight="bold" text-anchor="middle" fill="#111">%s</text>
<text x="%d" y="33" font-size="11" text-anchor="middle" fill="#444">%s</text>
`, px, y, pw, ph, pw/2, esc(truncate(pn.sc.ID+") "+cmp.Or(pn.sc.Short, pn.sc.Title), 28)), pw/2, esc(pn.m.Label))
			maxV := 0.0
			for _, p := range r.Peers {
				if md, ok := r.Lookup(p, pn.sc.ID, pn.m.Key); ok {
					maxV = math.Max(maxV, md.Value)
				}
			}
			plotH := float64(ph - plotTop - plotBottom - 14) // room for the value label
			n := len(r.Peers)
			slot := float64(pw-20) / float64(max(n, 1))
			bw := math.Min(36, slot*0.7)
			base := float64(ph - plotBottom)
			fmt.Fprintf(&b, `<line x1="10" y1="%.1f" x2="%d" y2="%.1f" stroke="#94a3b8"/>
`, base, pw-10, base)
			for i, p := range r.Peers {
				cx := 10 + slot*(float64(i)+0.5)
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#333">%s</text>
`, cx, base+14, esc(truncate(p, 9)))
				md, ok := r.Lookup(p, pn.sc.ID, pn.m.Key)
				if !ok {
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#888">%s</text>
`, cx, base-4, r.state(p, pn.sc.ID))
					continue
				}
				h := 0.0
				if maxV > 0 {
					h = md.Value / maxV * plotH
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>
<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#111">%s</text>
`, cx-bw/2, base-h, bw, h, palette[i%len(palette)], esc(p), esc(pn.m.Label), esc(FormatValue(md.Value)),
					cx, base-h-4, esc(FormatValue(md.Value)))
			}
			b.WriteString("</g>\n")
		}
		y += ph + gap
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func (r *Results) hasAny(sc, metric string) bool {
	for _, p := range r.Peers {
		if _, ok := r.Lookup(p, sc, metric); ok {
			return true
		}
	}
	return false
}

func esc(s string) string { return html.EscapeString(s) }

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
