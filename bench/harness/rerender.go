package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicelb/sluice/bench/report"
)

// Rerender reads dir/results.json, recomputes the medians with the current scenario
// definitions (keeping the stored titles, which name the run's connection counts) and
// rewrites dir/results.json, results.md and chart.svg. It returns the results.
func Rerender(dir string) (*report.Results, error) {
	path := filepath.Join(dir, "results.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res report.Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	titles := map[string]string{}
	for _, sc := range res.Scenarios {
		titles[sc.ID] = sc.Title
	}
	res.Scenarios = res.Scenarios[:0]
	for _, sc := range scenarios {
		if t, ok := titles[sc.ID]; ok {
			sc.Title = t
			res.Scenarios = append(res.Scenarios, sc)
		}
	}
	res.Summarize()
	if err := res.WriteJSON(path); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(res.Markdown()+"\n"+res.Note+"\n"), 0o644); err != nil {
		return nil, err
	}
	reps, dur := res.Meta["reps"], res.Meta["duration"]
	title := fmt.Sprintf("sluice-bench: medians of %v run(s), %v each", reps, dur)
	if err := os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(res.SVG(title)), 0o644); err != nil {
		return nil, err
	}
	return &res, nil
}
