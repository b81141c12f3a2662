package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidation(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Scenarios: []string{"z"}}, `--scenario "z"`},
		{Options{Peers: []string{"envoy"}}, `--peers "envoy"`},
		{Options{Driver: "ab"}, `--driver "ab"`},
	} {
		if err := c.o.defaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err=%v, want %q", c.o, err, c.want)
		}
	}
	o := Options{Quick: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.Duration != time.Second || o.Reps != 1 || len(o.Scenarios) != 7 || len(o.Peers) != 4 || o.IdleConns != 10000 {
		t.Fatalf("quick defaults: %+v", o)
	}
}

// TestRunNoPeers checks that a run with no usable peer says why, and names the install hint.
func TestRunNoPeers(t *testing.T) {
	out := t.TempDir()
	var log strings.Builder
	_, err := Run(context.Background(), Options{Peers: []string{"sluice"}, Sluice: filepath.Join(out, "missing"),
		Out: out, Log: &log, IdleConns: 100})
	if err == nil || !strings.Contains(err.Error(), "sluice not found at") {
		t.Fatalf("err=%v", err)
	}
	if !strings.Contains(log.String(), "skipping sluice") {
		t.Fatalf("log: %q", log.String())
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		t.Fatal("results.json written for an empty run")
	}
}
