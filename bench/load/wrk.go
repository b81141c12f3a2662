package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// WrkPath is wrk's path, or "" when wrk is not installed.
func WrkPath() string {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return ""
	}
	return p
}

// RunWrk runs wrk (at path) with opts and parses its --latency report. Threads is wrk's
// -t (at least 1, at most Conns). A warm-up, when asked for, is a separate unreported
// wrk run. The run is killed if it overruns its duration by 30 s or ctx ends.
func RunWrk(ctx context.Context, path string, threads int, opts HTTPOptions) (Result, error) {
	defaults(&opts.Conns, &opts.Timeout)
	if opts.Path == "" {
		opts.Path = "/"
	}
	threads = min(max(threads, 1), opts.Conns)
	if opts.Warmup > 0 {
		w := opts
		w.Warmup, w.Duration, w.Mark = 0, opts.Warmup, nil
		if _, err := RunWrk(ctx, path, threads, w); err != nil {
			return Result{}, err
		}
	}
	secs := max(1, int((opts.Duration+time.Second/2)/time.Second))
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(opts.Conns),
		"-d", strconv.Itoa(secs) + "s", "--latency", "--timeout", strconv.Itoa(max(1, int(opts.Timeout/time.Second))) + "s"}
	if opts.Host != "" {
		args = append(args, "-H", "Host: "+opts.Host)
	}
	if opts.NewConnPerRequest {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+opts.Addr+opts.Path)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if opts.Mark != nil {
		opts.Mark(true)
	}
	err := cmd.Run()
	if opts.Mark != nil {
		opts.Mark(false)
	}
	if err != nil {
		return Result{}, fmt.Errorf("load: wrk %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	res, err := ParseWrk(out.String())
	if err != nil {
		return Result{}, fmt.Errorf("load: wrk %s: %w", strings.Join(args, " "), err)
	}
	return res, nil
}

// ParseWrk reads wrk's text output (run with --latency): request count and duration,
// latency distribution (50/90/99 %), socket errors and non-2xx/3xx responses.
func ParseWrk(out string) (Result, error) {
	res := Result{Driver: "wrk"}
	var haveReqs, haveP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return res, fmt.Errorf("latency line %q: %w", sc.Text(), err)
			}
			switch f[0] {
			case "50%", "50.000%":
				res.P50 = d
			case "90%", "90.000%":
				res.P90 = d
			case "99%", "99.000%":
				res.P99, haveP99 = d, true
			}
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return res, fmt.Errorf("requests line %q: %w", sc.Text(), err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return res, fmt.Errorf("requests line %q: %w", sc.Text(), err)
			}
			res.Requests, res.Elapsed, haveReqs = n, d, true
			if b, err := parseWrkBytes(f[4]); err == nil {
				res.Bytes = b
			}
		case f[0] == "Socket" && len(f) > 2 && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err == nil {
					res.Errors += n
				}
			}
		case f[0] == "Non-2xx" && len(f) >= 5:
			if n, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil {
				res.Non2xx = n
			}
		case f[0] == "Latency" && len(f) >= 4 && f[1] != "Distribution":
			if d, err := parseWrkDuration(f[3]); err == nil {
				res.Max = d
			}
		}
	}
	if !haveReqs {
		return res, errors.New("no \"N requests in T\" line in wrk output")
	}
	if !haveP99 {
		return res, errors.New("no latency distribution in wrk output (was --latency given?)")
	}
	return res, nil
}

// parseWrkDuration parses wrk's "1.23ms", "850.00us", "2.01s", "1.00m", "1.00h".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suf string
		d   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"ns", time.Nanosecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suf), 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(math.Round(v * float64(u.d))), nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// parseWrkBytes parses wrk's "1.23MB", "512.00KB", "100B", "2.00GB" (binary units).
func parseWrkBytes(s string) (int64, error) {
	mult := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
	for _, suf := range []string{"KB", "MB", "GB", "TB", "B"} {
		if strings.HasSuffix(s, suf) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, suf), 64)
			if err != nil {
				return 0, err
			}
			return int64(v * mult[suf]), nil
		}
	}
	return 0, fmt.Errorf("bad size %q", s)
}
