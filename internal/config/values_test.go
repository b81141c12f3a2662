package config

import (
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]Size{"0": 0, "512": 512, "64KiB": 64 << 10, "1MiB": 1 << 20, "1GiB": 1 << 30, "2 MiB": 2 << 20, " 7 ": 7}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"64KB":                 `invalid size "64KB": use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)`,
		"-1":                   `invalid size "-1": use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)`,
		"KiB":                  `invalid size "KiB": use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)`,
		"1.5MiB":               `invalid size "1.5MiB": use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)`,
		"9999999999999999GiB":  `size "9999999999999999GiB" is too large`,
		"99999999999999999999": `size "99999999999999999999" is too large`,
	}
	for in, want := range bad {
		if _, err := ParseSize(in); err == nil || err.Error() != want {
			t.Errorf("ParseSize(%q) error = %v; want %s", in, err, want)
		}
	}
	if s := (64 * KiB).String(); s != "64KiB" {
		t.Errorf("String = %s", s)
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]float64{"100/s": 100, "60/m": 1, "3600/h": 1, "0.5/s": 0.5, "30/m": 0.5}
	for in, want := range good {
		r, err := ParseRate(in)
		if err != nil || r.PerSecond != want || r.Text != in {
			t.Errorf("ParseRate(%q) = %+v, %v; want %v", in, r, err, want)
		}
	}
	bad := map[string]string{
		"100":     `invalid rate "100": use N/s, N/m or N/h (like 100/s)`,
		"100/d":   `invalid rate "100/d": use N/s, N/m or N/h (like 100/s)`,
		"-1/s":    `invalid rate "-1/s": use N/s, N/m or N/h (like 100/s)`,
		"0/s":     `rate "0/s" must be greater than 0`,
		"1e9/s":   `invalid rate "1e9/s": use N/s, N/m or N/h (like 100/s)`,
		"/s":      `invalid rate "/s": use N/s, N/m or N/h (like 100/s)`,
		"1.2.3/s": `invalid rate "1.2.3/s": use N/s, N/m or N/h (like 100/s)`,
	}
	for in, want := range bad {
		if _, err := ParseRate(in); err == nil || err.Error() != want {
			t.Errorf("ParseRate(%q) error = %v; want %s", in, err, want)
		}
	}
	for rate, burst := range map[string]int{"0.5/s": 1, "100/s": 100, "2.5/s": 3, "10/m": 1} {
		r, _ := ParseRate(rate)
		if b := r.DefaultBurst(); b != burst {
			t.Errorf("DefaultBurst(%s) = %d, want %d", rate, b, burst)
		}
	}
}
