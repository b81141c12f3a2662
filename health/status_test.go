package health

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseStatusLine(t *testing.T) {
	good := map[string]int{
		"HTTP/1.1 200 OK":              200,
		"HTTP/1.1 200 OK\r":            200,
		"HTTP/1.0 503 Service Unavail": 503,
		"HTTP/1.1 204":                 204,
		"HTTP/1.1 204 ":                204,
		"HTTP/1.1 404 Not Found\r":     404,
		"HTTP/1.1 100 Continue":        100,
		"HTTP/1.1 999 odd":             999,
	}
	for in, want := range good {
		got, err := ParseStatusLine([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseStatusLine(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := []string{
		"", "HTTP/1.1", "HTTP/1.1 20", "HTTP/1.1 2000", "HTTP/1.1 20x OK", "HTTP/2.0 200 OK",
		"http/1.1 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1 099 x", "SSH-2.0-OpenSSH_9.6", "HTTP/1.x 200 OK",
		"HTTP/1.1\t200 OK", "HTTP/1.1 200\tOK",
	}
	for _, in := range bad {
		if code, err := ParseStatusLine([]byte(in)); err == nil {
			t.Errorf("ParseStatusLine(%q) = %d, nil; want an error", in, code)
		} else if !strings.HasPrefix(err.Error(), "malformed status line ") {
			t.Errorf("ParseStatusLine(%q) error %q", in, err)
		}
	}
	long := "SSH-" + strings.Repeat("x", 500)
	_, err := ParseStatusLine([]byte(long))
	if err == nil || len(err.Error()) > 100 {
		t.Errorf("long line error not truncated: %v", err)
	}
}

func TestScanStatus(t *testing.T) {
	tests := []struct {
		in       string
		code     int
		needMore bool
		err      bool
	}{
		{"", 0, true, false},
		{"HTTP/1.1 200 OK", 0, true, false},
		{"HTTP/1.1 200 OK\r\n", 200, false, false},
		{"HTTP/1.1 500 Internal\r\nContent-Length: 0\r\n\r\n", 500, false, false},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n", 204, false, false},
		{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\n", 200, false, false},
		{"HTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 302 Found\n", 302, false, false},
		{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n", 0, true, false},
		{"HTTP/1.1 100 Continue\r\n\r\n", 0, true, false},
		{"HTTP/1.1 101 Switching\r\n", 101, false, false},
		{"garbage\r\n", 0, false, true},
		{strings.Repeat("HTTP/1.1 100 C\r\n\r\n", 9) + "HTTP/1.1 200 OK\r\n", 0, false, true},
		{strings.Repeat("HTTP/1.1 100 C\r\n\r\n", 8) + "HTTP/1.1 200 OK\r\n", 200, false, false},
	}
	for _, tc := range tests {
		code, more, err := scanStatus([]byte(tc.in))
		if code != tc.code || more != tc.needMore || (err != nil) != tc.err {
			t.Errorf("scanStatus(%q) = %d, %v, %v; want %d, %v, err=%v", tc.in, code, more, err, tc.code, tc.needMore, tc.err)
		}
	}
}

func TestReadStatus(t *testing.T) {
	buf := make([]byte, 64)
	// One byte at a time, with EOF arriving together with the last byte.
	r := iotest.DataErrReader(iotest.OneByteReader(strings.NewReader("HTTP/1.1 200 OK\r\n")))
	if code, err := readStatus(r, buf); code != 200 || err != nil {
		t.Fatalf("one byte at a time: %d, %v", code, err)
	}
	if _, err := readStatus(strings.NewReader("HTTP/1.1 200"), buf); !errors.Is(err, io.EOF) {
		t.Fatalf("truncated: err=%v, want EOF", err)
	}
	if _, err := readStatus(strings.NewReader(strings.Repeat("H", 100)), buf); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("oversized: err=%v", err)
	}
	// Never reads more than the buffer.
	var src bytes.Buffer
	src.WriteString("HTTP/1.1 100 Continue\r\n" + strings.Repeat("X-Pad: y\r\n", 20))
	if _, err := readStatus(&src, buf); !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("oversized interim: err=%v", err)
	}
}

// FuzzParseStatusLine checks that the status parsers never panic, that a
// parsed code is three digits, and that scanStatus agrees with
// ParseStatusLine on a single line.
func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK", "HTTP/1.0 503 x\r", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204\r\n",
		"HTTP/1.1 103 E\nA: b\n\nHTTP/1.1 500\n", "", "\n", "HTTP/1.1 20", "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, err := ParseStatusLine(b)
		if err == nil && (code < 100 || code > 999) {
			t.Fatalf("ParseStatusLine(%q) = %d", b, code)
		}
		sc, more, serr := scanStatus(b)
		if serr == nil && !more && (sc < 100 || sc > 999) {
			t.Fatalf("scanStatus(%q) = %d", b, sc)
		}
		if serr != nil && (more || sc != 0) {
			t.Fatalf("scanStatus(%q) = %d, %v with error %v", b, sc, more, serr)
		}
		if !bytes.ContainsRune(b, '\n') {
			line := append(append([]byte(nil), b...), '\n')
			c2, more2, err2 := scanStatus(line)
			if err == nil && !more2 && err2 == nil && c2 != code && code >= 200 {
				t.Fatalf("scanStatus(%q) = %d, ParseStatusLine = %d", line, c2, code)
			}
			if (err == nil) != (err2 == nil) {
				t.Fatalf("scanStatus(%q) err=%v, ParseStatusLine err=%v", line, err2, err)
			}
		}
		buf := make([]byte, 32)
		_, _ = readStatus(bytes.NewReader(b), buf)
	})
}
