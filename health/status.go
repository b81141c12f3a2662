package health

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// maxInterim bounds the 1xx interim responses skipped before the final one.
const maxInterim = 8

var (
	errHeadTooLarge  = errors.New("response head larger than the read buffer before the final status line")
	errTooManyInterm = errors.New("more than 8 interim 1xx responses")
)

// ParseStatusLine parses an HTTP/1.x status line such as "HTTP/1.1 200 OK"
// and returns its status code (100..999). line excludes the "\n" terminator;
// one trailing "\r" is ignored. The reason phrase is optional and not
// checked. Errors quote at most 64 bytes of the line. ParseStatusLine never
// panics and does not allocate on success.
func ParseStatusLine(line []byte) (int, error) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	// "HTTP/1.x SSS" is 12 bytes; anything after must start with a space.
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || line[9] == '0' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, malformed(line)
	}
	return int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0'), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func malformed(line []byte) error {
	if len(line) > 64 {
		line = line[:64]
	}
	return errors.New("malformed status line " + strconv.Quote(string(line)))
}

// scanStatus looks for the final status line in the buffered response head
// b, skipping up to maxInterim complete 1xx interim responses (except 101,
// which is final). needMore reports that b holds no complete final status
// line yet.
func scanStatus(b []byte) (code int, needMore bool, err error) {
	for interim := 0; ; interim++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return 0, true, nil
		}
		code, err := ParseStatusLine(b[:i])
		if err != nil {
			return 0, false, err
		}
		if code >= 200 || code == 101 {
			return code, false, nil
		}
		if interim == maxInterim {
			return 0, false, errTooManyInterm
		}
		// Skip the interim response's header lines up to its empty line.
		b = b[i+1:]
		for {
			j := bytes.IndexByte(b, '\n')
			if j < 0 {
				return 0, true, nil
			}
			empty := j == 0 || (j == 1 && b[0] == '\r')
			b = b[j+1:]
			if empty {
				break
			}
		}
	}
}

// readStatus reads from r into buf until it holds the final status line and
// returns its code. It never reads past len(buf) bytes.
func readStatus(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		code, more, err := scanStatus(buf[:n])
		if err != nil {
			return 0, err
		}
		if !more {
			return code, nil
		}
		if n == len(buf) {
			return 0, errHeadTooLarge
		}
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			if code, more, perr := scanStatus(buf[:n]); perr == nil && !more {
				return code, nil
			}
			return 0, err
		}
	}
}
