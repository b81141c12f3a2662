package report

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *Results {
	r := &Results{
		Peers: []string{"sluice", "haproxy", "caddy"},
		Scenarios: []Scenario{
			{ID: "a", Title: "L7 keep-alive <1 KiB> & co", Metrics: []Metric{
				{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1},
				{Key: "p99_ms", Label: "p99 ms", Chart: 2}}},
			{ID: "d", Title: "L4 request/response", Metrics: []Metric{{Key: "rps", Label: "req/s", HigherBetter: true, Chart: 1}}},
		},
	}
	add := func(peer, sc string, rep int, rps, p99 float64) {
		r.Samples = append(r.Samples, Sample{Peer: peer, Scenario: sc, Rep: rep, Values: map[string]float64{"rps": rps, "p99_ms": p99}})
	}
	add("sluice", "a", 1, 40000, 2)
	add("sluice", "a", 2, 50000, 3)
	add("sluice", "a", 3, 45000, 9)
	add("haproxy", "a", 1, 60000, 1)
	add("haproxy", "a", 2, 30000, 1.5)
	add("caddy", "a", 1, 22500, 4)
	add("sluice", "d", 1, 10000, 1)
	r.Samples = append(r.Samples, Sample{Peer: "haproxy", Scenario: "d", Rep: 1, Err: "boom"})
	r.Summarize()
	return r
}

func TestMediansAndRatios(t *testing.T) {
	r := sample()
	for _, c := range []struct {
		peer, sc, m string
		v, ratio    float64
	}{
		{"sluice", "a", "rps", 45000, 1}, {"sluice", "a", "p99_ms", 3, 1},
		{"haproxy", "a", "rps", 45000, 1}, {"haproxy", "a", "p99_ms", 1.25, 1.25 / 3},
		{"caddy", "a", "rps", 22500, 0.5},
	} {
		md, ok := r.Lookup(c.peer, c.sc, c.m)
		if !ok || md.Value != c.v || md.Ratio != c.ratio {
			t.Errorf("%s/%s/%s = %+v, want %v ratio %v", c.peer, c.sc, c.m, md, c.v, c.ratio)
		}
	}
	if _, ok := r.Lookup("haproxy", "d", "rps"); ok {
		t.Fatal("failed sample must not produce a median")
	}
}

func TestMarkdown(t *testing.T) {
	got := sample().Markdown()
	want := `| scenario | metric | sluice | haproxy | caddy |
|---|---|---:|---:|---:|
| a) L7 keep-alive <1 KiB> & co | req/s | 45,000 | 45,000 (1.00×) | 22,500 (0.50×) |
|  | p99 ms | 3.00 | 1.25 (0.42×) | 4.00 (1.33×) |
| d) L4 request/response | req/s | 10,000 | fail | n/a |
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSVGWellFormed(t *testing.T) {
	svg := sample().SVG("Sluice vs <peers> & co")
	d := xml.NewDecoder(strings.NewReader(svg))
	rects, texts := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
			case "text":
				texts++
			}
		}
	}
	// background + 3 legend swatches + 3 panels + bars: a/rps 3, a/p99 3, d/rps 1
	if rects != 1+3+3+7 {
		t.Fatalf("rects=%d", rects)
	}
	if !strings.Contains(svg, "45,000") || !strings.Contains(svg, "&lt;peers&gt; &amp; co") {
		t.Fatal("values or escaped title missing")
	}
}

func TestWriteJSON(t *testing.T) {
	r := sample()
	p := filepath.Join(t.TempDir(), "results.json")
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Medians) != len(r.Medians) || len(back.Samples) != 8 {
		t.Fatalf("round trip lost data: %d medians, %d samples", len(back.Medians), len(back.Samples))
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{1234567: "1,234,567", -4321: "-4,321", 512: "512", 12.345: "12.3", 1.5: "1.50", 0.0456: "0.046"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v)=%q, want %q", v, got, want)
		}
	}
}

func TestSVGCPURow(t *testing.T) {
	r := sample()
	if strings.Contains(r.SVG("t"), "Proxy CPU cost") {
		t.Fatal("CPU row drawn without a CPU metric")
	}
	r.Scenarios[0].Metrics = append(r.Scenarios[0].Metrics, Metric{Key: "cpu", Label: "µs/req", Chart: 3})
	r.Samples = append(r.Samples, Sample{Peer: "sluice", Scenario: "a", Rep: 1, Values: map[string]float64{"cpu": 21.5}})
	r.Summarize()
	svg := r.SVG("t")
	if !strings.Contains(svg, "Proxy CPU cost (lower is better)") || !strings.Contains(svg, ">21.5</text>") {
		t.Fatalf("no CPU row:\n%s", svg)
	}
}
