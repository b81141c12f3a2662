package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseRate parses a contract rate "N/s", "N/m" or "N/h" (N a positive
// decimal number such as 100 or 2.5) into events per second.
func ParseRate(s string) (float64, error) {
	num, unit, found := strings.Cut(s, "/")
	if !found {
		return 0, rateErr(s, errors.New("missing /s, /m or /h"))
	}
	var per float64
	switch unit {
	case "s":
		per = 1
	case "m":
		per = 60
	case "h":
		per = 3600
	default:
		return 0, rateErr(s, fmt.Errorf("unknown unit %q", unit))
	}
	if !isDecimal(num) {
		return 0, rateErr(s, fmt.Errorf("%q is not a number", num))
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, rateErr(s, errors.New("N must be a positive number"))
	}
	r := n / per
	if _, err := newParams(r, 1); err != nil {
		return 0, rateErr(s, err)
	}
	return r, nil
}

// isDecimal accepts digits with at most one '.', digits on both sides.
func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return true
}

func rateErr(s string, err error) error {
	return fmt.Errorf("invalid rate %q (want N/s, N/m or N/h, e.g. 100/s): %w", s, err)
}

func wrapName(name string, err error) error {
	return fmt.Errorf("rate limit %q: %w", name, err)
}
