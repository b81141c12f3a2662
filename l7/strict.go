package l7

import (
	"github.com/valyala/fasthttp"
)

// violation names one way a request breaks the strict HTTP/1.1 rules sluice
// enforces before fasthttp (or a backend) sees a byte. See
// docs/http-parsing.md for the list and the test of each.
type violation uint8

const (
	vNone violation = iota
	vBareLF
	vObsFold
	vSpaceBeforeColon
	vBadName
	vCtlInValue
	vCLAndTE
	vDupCL
	vBadCL
	vBadTE
	vDupTE
	vTEOnHTTP10
	vBadRequestLine
	vBadVersion
	vNoHost
	vDupHost
	vHeadTooLarge
	vBodyTooLarge
	vBadChunk
	vBadTrailer
	numViolations
)

var violationText = [numViolations]string{
	vNone:             "",
	vBareLF:           "bare LF line ending",
	vObsFold:          "obs-fold (header continuation line)",
	vSpaceBeforeColon: "whitespace between header name and colon",
	vBadName:          "header name is not a token",
	vCtlInValue:       "control byte in header value",
	vCLAndTE:          "both Content-Length and Transfer-Encoding",
	vDupCL:            "more than one Content-Length",
	vBadCL:            "Content-Length is not a decimal number",
	vBadTE:            "Transfer-Encoding other than exactly chunked",
	vDupTE:            "more than one Transfer-Encoding",
	vTEOnHTTP10:       "Transfer-Encoding on HTTP/1.0",
	vBadRequestLine:   "malformed request line",
	vBadVersion:       "unsupported HTTP version",
	vNoHost:           "missing Host on HTTP/1.1",
	vDupHost:          "more than one Host",
	vHeadTooLarge:     "request head over the limit",
	vBodyTooLarge:     "request body over the limit",
	vBadChunk:         "invalid chunk size line",
	vBadTrailer:       "invalid trailer field",
}

func (v violation) String() string { return violationText[v] }

// status is the answer for v.
func (v violation) status() int {
	switch v {
	case vHeadTooLarge:
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case vBodyTooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusBadRequest
}

// maxCL bounds Content-Length digits (fits int64, and fasthttp's int).
const maxCLDigits = 18

// headState accumulates what the lines of one request head say. The zero
// value is ready for the request line. It is fed complete lines (without the
// final LF) by line, then finish is called at the empty line.
type headState struct {
	lines   int
	http10  bool
	nCL     int
	cl      int64
	nTE     int
	nHost   int
	upgrade bool
}

// requestLine validates "method SP request-target SP HTTP/1.x" (RFC 9112 §3).
func (h *headState) requestLine(l []byte) violation {
	sp1 := -1
	for i, c := range l {
		if c == ' ' {
			sp1 = i
			break
		}
	}
	if sp1 <= 0 || !isToken(l[:sp1]) {
		return vBadRequestLine
	}
	rest := l[sp1+1:]
	sp2 := -1
	for i, c := range rest {
		if c == ' ' {
			sp2 = i
			break
		}
		if c < 0x21 || c == 0x7f { // CTL or whitespace inside the target
			return vBadRequestLine
		}
	}
	if sp2 <= 0 {
		return vBadRequestLine
	}
	switch string(rest[sp2+1:]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.http10 = true
	default:
		if len(rest[sp2+1:]) >= 5 && string(rest[sp2+1:sp2+6]) == "HTTP/" {
			return vBadVersion
		}
		return vBadRequestLine
	}
	return vNone
}

// line validates one line of the head (l excludes the LF and must end in CR).
func (h *headState) line(l []byte) violation {
	if len(l) == 0 || l[len(l)-1] != '\r' {
		return vBareLF
	}
	l = l[:len(l)-1]
	h.lines++
	if h.lines == 1 {
		return h.requestLine(l)
	}
	return h.field(l, false)
}

// field validates "name: OWS value OWS" (RFC 9110 §5.1, §5.5; RFC 9112 §5).
// In a trailer section (trailer=true) framing fields are not interpreted.
func (h *headState) field(l []byte, trailer bool) violation {
	if l[0] == ' ' || l[0] == '\t' {
		return vObsFold
	}
	colon := -1
	for i, c := range l {
		if c == ':' {
			colon = i
			break
		}
	}
	if colon <= 0 {
		return vBadName
	}
	name := l[:colon]
	if c := name[len(name)-1]; c == ' ' || c == '\t' {
		return vSpaceBeforeColon
	}
	if !isToken(name) {
		return vBadName
	}
	for _, c := range l[colon+1:] {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return vCtlInValue
		}
	}
	if trailer {
		return vNone
	}
	v := trimOWS(l[colon+1:])
	switch {
	case asciiEqualFold(name, "Content-Length"):
		h.nCL++
		if h.nCL > 1 {
			return vDupCL
		}
		if len(v) == 0 || len(v) > maxCLDigits {
			return vBadCL
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return vBadCL
			}
			n = n*10 + int64(c-'0')
		}
		h.cl = n
	case asciiEqualFold(name, "Transfer-Encoding"):
		h.nTE++
		if h.nTE > 1 {
			return vDupTE
		}
		if !asciiEqualFold(v, "chunked") {
			return vBadTE
		}
	case asciiEqualFold(name, "Host"):
		h.nHost++
		if h.nHost > 1 {
			return vDupHost
		}
	case asciiEqualFold(name, "Upgrade"):
		h.upgrade = true
	}
	return vNone
}

// finish checks the rules that need the whole head.
func (h *headState) finish(maxBody int64) violation {
	switch {
	case h.lines == 0:
		return vBadRequestLine
	case h.nTE > 0 && h.nCL > 0:
		return vCLAndTE
	case h.nTE > 0 && h.http10:
		return vTEOnHTTP10
	case h.nHost == 0 && !h.http10:
		return vNoHost
	case maxBody > 0 && h.nTE == 0 && h.cl > maxBody:
		return vBodyTooLarge
	}
	return vNone
}

// chunked reports whether the head announced a chunked body.
func (h *headState) chunked() bool { return h.nTE > 0 }

// parseChunkSize validates a chunk-size line (l excludes the LF):
// 1*16HEXDIG [ ";" chunk-ext ] CR (RFC 9112 §7.1). Whitespace before ";" is
// refused (as fasthttp does since #2193); extensions may not hold CTLs.
func parseChunkSize(l []byte) (int64, bool) {
	if len(l) == 0 || l[len(l)-1] != '\r' {
		return 0, false
	}
	l = l[:len(l)-1]
	var n int64
	i := 0
	for ; i < len(l); i++ {
		c := l[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 { // 15 hex digits: < 2^60, no overflow
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	if i < len(l) {
		if l[i] != ';' {
			return 0, false
		}
		for _, c := range l[i+1:] {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return 0, false
			}
		}
	}
	return n, true
}

// validateHead checks a complete request head the way headFramer does
// incrementally (used by the fuzz target and unit tests): b must hold the
// whole head including the final empty line. It returns vNone or the first
// violation.
func validateHead(b []byte, maxHead int, maxBody int64) violation {
	var h headState
	// RFC 9112 §2.2: ignore at least one empty line before the request line.
	for len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		b = b[2:]
	}
	if len(b) > maxHead {
		return vHeadTooLarge
	}
	for {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i == len(b) {
			return vBadRequestLine // head not terminated
		}
		l := b[:i]
		b = b[i+1:]
		if len(l) == 1 && l[0] == '\r' && h.lines > 0 {
			return h.finish(maxBody)
		}
		if v := h.line(l); v != vNone {
			return v
		}
	}
}
