package balance

import (
	"strings"
	"testing"
	"time"
)

func TestParseAlgorithm(t *testing.T) {
	for _, a := range allAlgorithms {
		got, err := ParseAlgorithm(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAlgorithm(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
	for _, bad := range []string{"", "Round_Robin", "random", "ip_hash "} {
		_, err := ParseAlgorithm(bad)
		if err == nil || !strings.Contains(err.Error(), "unknown algorithm") || !strings.Contains(err.Error(), "least_connections") {
			t.Errorf("ParseAlgorithm(%q) error = %v, want unknown algorithm listing the names", bad, err)
		}
	}
	if s := Algorithm(9).String(); s != "algorithm(9)" {
		t.Errorf("Algorithm(9).String() = %q", s)
	}
}

func FuzzParseAlgorithm(f *testing.F) {
	for _, s := range []string{"round_robin", "weighted_round_robin", "least_connections", "ip_hash", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAlgorithm(s)
		if err == nil && a.String() != s {
			t.Fatalf("ParseAlgorithm(%q) = %v, which prints as %q", s, a, a.String())
		}
		if err != nil && a != 0 {
			t.Fatalf("ParseAlgorithm(%q) failed but returned %v", s, a)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{Algorithm: IPHash, MaxConnsPerServer: 5, SlowStart: time.Second, HashBalanceFactor: 1.25}).Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	err := (Options{Algorithm: 7, MaxConnsPerServer: -1, SlowStart: -time.Second, HashBalanceFactor: 0.5}).Validate()
	for _, want := range []string{"invalid algorithm 7", "max connections per server -1", "slow start -1s", "hash balance factor 0.5"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %v: missing %q", err, want)
		}
	}
	n := (Options{Algorithm: 7, MaxConnsPerServer: -1, SlowStart: -1, HashBalanceFactor: 1}).normalized()
	if n != (Options{}) {
		t.Errorf("normalized = %+v, want zero options", n)
	}
}
