package accesslog

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var goldenTime = time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))

func TestGoldenHTTP(t *testing.T) {
	e := HTTPEntry{
		Time: goldenTime, Frontend: "web", ClientIP: netip.MustParseAddr("::ffff:10.1.2.3"),
		Method: "GET", Host: "api.example.com", Path: "/v1/items?q=1", Backend: "api",
		Server: "127.0.0.1:9001", Status: 200, Duration: 12345678 * time.Nanosecond,
		BytesIn: 87, BytesOut: 1024,
	}
	got := string(AppendHTTP(nil, &e))
	want := `{"ts":"2025-03-04T04:06:07.891234Z","frontend":"web","client_ip":"10.1.2.3","method":"GET","host":"api.example.com","path":"/v1/items?q=1","backend":"api","server":"127.0.0.1:9001","status":200,"duration_ms":12.345,"bytes_in":87,"bytes_out":1024}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	checkKeys(t, got, "ts", "frontend", "client_ip", "method", "host", "path", "backend", "server", "status", "duration_ms", "bytes_in", "bytes_out")
	var m map[string]any
	if err := json.Unmarshal([]byte(got), &m); err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m["ts"].(string))
	if err != nil || !ts.Equal(goldenTime.Truncate(time.Microsecond)) {
		t.Fatalf("ts %v does not parse back as RFC 3339 (%v)", m["ts"], err)
	}
}

func TestGoldenTCP(t *testing.T) {
	e := TCPEntry{
		Time: goldenTime, Frontend: "postgres", ClientIP: netip.MustParseAddr("2001:db8::1"),
		Backend: "pg", Server: "[2001:db8::2]:5432", Duration: 3*time.Second + 7*time.Microsecond,
		BytesIn: 1 << 40, BytesOut: 0, Close: "client",
	}
	got := string(AppendTCP(nil, &e))
	want := `{"ts":"2025-03-04T04:06:07.891234Z","frontend":"postgres","mode":"tcp","client_ip":"2001:db8::1","backend":"pg","server":"[2001:db8::2]:5432","duration_ms":3000.007,"bytes_in":1099511627776,"bytes_out":0,"close":"client"}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	checkKeys(t, got, "ts", "frontend", "mode", "client_ip", "backend", "server", "duration_ms", "bytes_in", "bytes_out", "close")
}

func TestZeroValues(t *testing.T) {
	before := time.Now().UTC().Truncate(time.Microsecond)
	line := AppendHTTP(nil, &HTTPEntry{Duration: -time.Second})
	var m struct {
		TS       string  `json:"ts"`
		ClientIP string  `json:"client_ip"`
		Duration float64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.TS)
	if err != nil || ts.Before(before) || ts.After(time.Now()) {
		t.Fatalf("zero Time should mean now, got %q (%v)", m.TS, err)
	}
	if m.ClientIP != "" || m.Duration != 0 {
		t.Fatalf("zero entry: %s", line)
	}
	if !strings.Contains(string(line), `"duration_ms":0.000,`) {
		t.Fatalf("negative duration: %s", line)
	}
}

// checkKeys asserts line is one valid JSON object with exactly keys, in order.
func checkKeys(t *testing.T, line string, keys ...string) {
	t.Helper()
	if !strings.HasSuffix(line, "}\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("not one line: %q", line)
	}
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v", err)
	}
	var got []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, k.(string))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, keys) {
		t.Fatalf("keys %v, want %v", got, keys)
	}
}

// wantDecoded is what encoding/json round-trips s to (invalid bytes become
// U+FFFD one by one).
func wantDecoded(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func TestEscaping(t *testing.T) {
	cases := map[string]string{
		`plain`:             `"plain"`,
		`q"uo\te`:           `"q\"uo\\te"`,
		"nl\n cr\r tab\t":   `"nl\n cr\r tab\t"`,
		"\x00\x01\x1f\x7f":  `"\u0000\u0001\u001f` + "\x7f" + `"`,
		"bad\xff\xfeutf8":   `"bad\ufffd\ufffdutf8"`,
		"trunc\xe2\x82":     `"trunc\ufffd\ufffd"`,
		"ok é € 𝄞":          `"ok é € 𝄞"`,
		"ls\u2028ps\u2029":  `"ls\u2028ps\u2029"`,
		"</script><b>&amp;": `"</script><b>&amp;"`,
	}
	for in, want := range cases {
		got := string(appendString(nil, in))
		if got != want {
			t.Errorf("appendString(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != wantDecoded(in) {
			t.Errorf("%q: decodes to %q (%v), want %q", in, back, err, wantDecoded(in))
		}
	}
}

// FuzzEncode puts arbitrary strings in every string field of both entries
// and checks each line is valid JSON that decodes back to the input.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\n\x1f", "\xff", "\xe2\x80\xa8", "é€𝄞", "\xed\xa0\x80"} {
		f.Add(s, s, int64(3), 200)
	}
	f.Fuzz(func(t *testing.T, s, s2 string, n int64, status int) {
		h := HTTPEntry{Time: time.Unix(0, n), Frontend: s, Method: s2, Host: s, Path: s2, Backend: s,
			Server: s2, Status: status, Duration: time.Duration(n), BytesIn: n, BytesOut: -n}
		line := AppendHTTP(nil, &h)
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		if m["path"] != wantDecoded(s2) || m["frontend"] != wantDecoded(s) {
			t.Fatalf("round trip: %q -> %q", s2, m["path"])
		}
		tl := AppendTCP(nil, &TCPEntry{Frontend: s2, Close: s, Duration: time.Duration(n)})
		if !json.Valid(tl) {
			t.Fatalf("invalid JSON %q", tl)
		}
		if c := strings.Count(string(line), "\n"); c != 1 {
			t.Fatalf("%d newlines in %q", c, line)
		}
	})
}
