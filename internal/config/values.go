package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Size is a number of bytes. In YAML: an integer, or a string of digits
// with an optional unit KiB, MiB or GiB ("512", "64KiB", "1 MiB").
type Size int64

// Size units.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// ParseSize parses "512", "64KiB", "1MiB", "1GiB" (a space before the unit
// is allowed).
func ParseSize(s string) (Size, error) {
	num, mult := strings.TrimSpace(s), Size(1)
	for _, u := range []struct {
		suffix string
		mult   Size
	}{{"KiB", KiB}, {"MiB", MiB}, {"GiB", GiB}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("invalid size %q: use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n) * mult, nil
}

// String formats s with the largest exact unit ("64KiB", "1000").
func (s Size) String() string {
	switch {
	case s != 0 && s%GiB == 0:
		return strconv.FormatInt(int64(s/GiB), 10) + "GiB"
	case s != 0 && s%MiB == 0:
		return strconv.FormatInt(int64(s/MiB), 10) + "MiB"
	case s != 0 && s%KiB == 0:
		return strconv.FormatInt(int64(s/KiB), 10) + "KiB"
	}
	return strconv.FormatInt(int64(s), 10)
}

// Rate is an event rate. In YAML: "N/s", "N/m" or "N/h" where N is a
// positive number (decimals allowed: "0.5/s"). The zero value means unset.
type Rate struct {
	// PerSecond is the rate converted to events per second.
	PerSecond float64
	// Text is the rate as written in the file ("100/m").
	Text string
}

// ParseRate parses "100/s", "20/m", "1000/h".
func ParseRate(s string) (Rate, error) {
	bad := fmt.Errorf("invalid rate %q: use N/s, N/m or N/h (like 100/s)", s)
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, bad
	}
	var per float64
	switch strings.TrimSpace(unit) {
	case "s":
		per = 1
	case "m":
		per = 60
	case "h":
		per = 3600
	default:
		return Rate{}, bad
	}
	num = strings.TrimSpace(num)
	if num == "" || strings.TrimLeft(num, "0123456789.") != "" {
		return Rate{}, bad
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return Rate{}, bad
	}
	if n <= 0 {
		return Rate{}, fmt.Errorf("rate %q must be greater than 0", s)
	}
	return Rate{PerSecond: n / per, Text: s}, nil
}

// String returns the rate as written.
func (r Rate) String() string { return r.Text }

// DefaultBurst is the burst used when none is given: max(1, ceil(rate/s)).
func (r Rate) DefaultBurst() int {
	b := math.Ceil(r.PerSecond)
	if b < 1 || math.IsNaN(b) {
		return 1
	}
	if b > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(b)
}

// CIDRs is a list of address prefixes. In YAML: a list of CIDRs
// ("10.0.0.0/8", "2001:db8::/32") or bare addresses (meaning /32 or /128),
// each parsed by acl.ParsePrefix, the one parser that access lists,
// trusted_proxies and rate limit client_ip matches share.
type CIDRs []netip.Prefix

// StatusRange is an inclusive range of HTTP status codes: one code
// ({204, 204}) or a class ({200, 299} for "2xx").
type StatusRange struct{ Lo, Hi int }

// StatusCodes is health.active.expect_status. In YAML: a code (204), a
// class ("2xx", any case) or a list of codes and classes ([200, 301],
// [2xx, 304]). Codes are 100..599, classes 1xx..5xx.
type StatusCodes []StatusRange

// ParseStatus parses one code ("204") or class ("2xx").
func ParseStatus(s string) (StatusRange, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if len(t) == 3 && t[1:] == "xx" && t[0] >= '1' && t[0] <= '5' {
		lo := int(t[0]-'0') * 100
		return StatusRange{lo, lo + 99}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || strings.TrimLeft(t, "0123456789") != "" {
		return StatusRange{}, fmt.Errorf("invalid status %q: want a code like 204 or a class like 2xx", s)
	}
	if n < 100 || n > 599 {
		return StatusRange{}, fmt.Errorf("status %d is not an HTTP status (100..599)", n)
	}
	return StatusRange{n, n}, nil
}

// Match reports whether code is in one of the ranges.
func (s StatusCodes) Match(code int) bool {
	for _, r := range s {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// String writes s as a user would: "204", "2xx", "2xx, 301".
func (s StatusCodes) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		if r.Lo%100 == 0 && r.Hi == r.Lo+99 {
			b.WriteString(strconv.Itoa(r.Lo / 100))
			b.WriteString("xx")
			continue
		}
		b.WriteString(strconv.Itoa(r.Lo))
		if r.Hi != r.Lo {
			b.WriteString("-")
			b.WriteString(strconv.Itoa(r.Hi))
		}
	}
	return b.String()
}
