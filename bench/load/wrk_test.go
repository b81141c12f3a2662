package load

import (
	"testing"
	"time"
)

const wrkOut = `Running 2s test @ http://127.0.0.1:8080/size/1024
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  450.12us  12.34ms   80.00%
    Req/Sec    21.05k     1.20k   23.00k    70.00%
  Latency Distribution
     50%    1.43ms
     75%    1.70ms
     90%    2.01ms
     99%    3.10ms
  83790 requests in 2.00s, 95.13MB read
  Socket errors: connect 0, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:  41895.00
Transfer/sec:     47.56MB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 83790 || r.Elapsed != 2*time.Second || r.P50 != 1430*time.Microsecond ||
		r.P90 != 2010*time.Microsecond || r.P99 != 3100*time.Microsecond || r.Max != 12340*time.Microsecond ||
		r.Errors != 7 || r.Non2xx != 7 || r.Driver != "wrk" {
		t.Fatalf("%+v", r)
	}
	if rps := r.RPS(); rps != 41895 {
		t.Fatalf("RPS=%v", rps)
	}
	if f := 95.13; r.Bytes != int64(f*(1<<20)) {
		t.Fatalf("Bytes=%d", r.Bytes)
	}
}

func TestParseWrkErrors(t *testing.T) {
	if _, err := ParseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Fatal("want error for output without results")
	}
	if _, err := ParseWrk("  10 requests in 1.00s, 1.00KB read\n"); err == nil {
		t.Fatal("want error without latency distribution")
	}
	if _, err := ParseWrk("  Latency Distribution\n     50%    1.43xx\n"); err == nil {
		t.Fatal("want error for a bad unit")
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOut)
	f.Add("50% 1s\n1 requests in 1h, 1B read")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseWrk(s) })
}
