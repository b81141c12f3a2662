package accesslog

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// HTTPEntry is one access-log line for an HTTP request (contract §5). The
// Logger encodes it before LogHTTP returns, so the entry and the strings it
// points to may be reused (or be zero-copy views of request buffers) once
// LogHTTP has returned.
type HTTPEntry struct {
	Time     time.Time     // ts; written in UTC with microseconds; zero means "now"
	Frontend string        // frontend
	ClientIP netip.Addr    // client_ip; an invalid Addr is written as ""
	Method   string        // method
	Host     string        // host
	Path     string        // path
	Backend  string        // backend; "" when no backend was chosen
	Server   string        // server (address); "" when no server was chosen
	Status   int           // status
	Duration time.Duration // duration_ms, a float with microsecond precision
	BytesIn  int64         // bytes_in: bytes read from the client
	BytesOut int64         // bytes_out: bytes written to the client
}

// TCPEntry is one access-log line for a TCP session (contract §5); mode is
// always "tcp". The same reuse rule as HTTPEntry applies.
type TCPEntry struct {
	Time     time.Time     // ts; zero means "now"
	Frontend string        // frontend
	ClientIP netip.Addr    // client_ip
	Backend  string        // backend
	Server   string        // server
	Duration time.Duration // duration_ms
	BytesIn  int64         // bytes_in: bytes read from the client
	BytesOut int64         // bytes_out: bytes written to the client
	Close    string        // close: who closed ("client", "server") or the error
}

// AppendHTTP appends e as one JSON object and a newline to b.
func AppendHTTP(b []byte, e *HTTPEntry) []byte {
	b = append(b, `{"ts":"`...)
	b = appendTime(b, e.Time)
	b = append(b, `","frontend":`...)
	b = appendString(b, e.Frontend)
	b = append(b, `,"client_ip":`...)
	b = appendIP(b, e.ClientIP)
	b = append(b, `,"method":`...)
	b = appendString(b, e.Method)
	b = append(b, `,"host":`...)
	b = appendString(b, e.Host)
	b = append(b, `,"path":`...)
	b = appendString(b, e.Path)
	b = append(b, `,"backend":`...)
	b = appendString(b, e.Backend)
	b = append(b, `,"server":`...)
	b = appendString(b, e.Server)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.Duration)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	return append(b, "}\n"...)
}

// AppendTCP appends e as one JSON object and a newline to b.
func AppendTCP(b []byte, e *TCPEntry) []byte {
	b = append(b, `{"ts":"`...)
	b = appendTime(b, e.Time)
	b = append(b, `","frontend":`...)
	b = appendString(b, e.Frontend)
	b = append(b, `,"mode":"tcp","client_ip":`...)
	b = appendIP(b, e.ClientIP)
	b = append(b, `,"backend":`...)
	b = appendString(b, e.Backend)
	b = append(b, `,"server":`...)
	b = appendString(b, e.Server)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.Duration)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, `,"close":`...)
	b = appendString(b, e.Close)
	return append(b, "}\n"...)
}

// appendTime writes t as RFC 3339 in UTC with exactly six fractional
// digits: 2006-01-02T15:04:05.000000Z. A zero t means time.Now().
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = appendPad(b, year, 4)
	b = append(b, '-')
	b = appendPad(b, int(month), 2)
	b = append(b, '-')
	b = appendPad(b, day, 2)
	b = append(b, 'T')
	b = appendPad(b, hour, 2)
	b = append(b, ':')
	b = appendPad(b, min, 2)
	b = append(b, ':')
	b = appendPad(b, sec, 2)
	b = append(b, '.')
	b = appendPad(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendPad appends v (>= 0) in decimal, zero-padded to width digits.
func appendPad(b []byte, v, width int) []byte {
	if v < 0 {
		v = 0
	}
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

// appendMillis writes d in milliseconds with three decimals (microsecond
// precision); negative durations are written as 0.000.
func appendMillis(b []byte, d time.Duration) []byte {
	us := int64(d / time.Microsecond)
	if us < 0 {
		us = 0
	}
	b = strconv.AppendInt(b, us/1000, 10)
	b = append(b, '.')
	return appendPad(b, int(us%1000), 3)
}

// appendIP writes ip (IPv4-mapped addresses unmapped) as a JSON string, or
// "" when ip is invalid.
func appendIP(b []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return append(b, `""`...)
	}
	var tmp [64]byte
	s := ip.Unmap().AppendTo(tmp[:0])
	if ip.Zone() == "" {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return appendString(b, string(s)) // a zone is free text: escape it
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string: ", \ and control characters are
// escaped, invalid UTF-8 bytes become \ufffd (as encoding/json does), and
// U+2028/U+2029 are escaped so a line is also safe JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
