package live

import (
	"net/netip"
	"testing"

	"github.com/sluicelb/sluice/internal/state"
)

// FuzzLogFilter: any filter from a query string either compiles or is
// refused with an error; a compiled one matches entries without panicking,
// and a refused one would have matched nothing.
func FuzzLogFilter(f *testing.F) {
	for _, s := range [][2]string{{"503", "10.0.0.0/8"}, {"5xx", "::1"}, {"4XX", "::ffff:10.0.0.1/104"}, {"", ""}, {"1000", "10.0.0"}, {"0xx", "/8"}} {
		f.Add(s[0], s[1], "/api", 10)
	}
	r := NewLogRing(8)
	r.AddHTTP(&HTTP{Frontend: "web", Backend: "app", ClientIP: netip.MustParseAddr("10.1.2.3"), Path: []byte("/api/x"), Host: []byte("h"), Status: 503})
	r.AddTCP(&TCP{Frontend: "pg", ClientIP: netip.MustParseAddr("2001:db8::1")})
	f.Fuzz(func(t *testing.T, status, ip, q string, limit int) {
		m, err := CompileLogFilter(state.LogFilter{Status: status, ClientIP: ip, Q: q, Limit: limit}, r.Len())
		if err != nil {
			if m != nil {
				t.Fatal("a refused filter was compiled")
			}
			return
		}
		if got := r.Query(m); len(got) > m.limit {
			t.Fatalf("%d entries over the limit %d", len(got), m.limit)
		}
	})
}
