package l7

import (
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// headerOps is a compiled HeaderOps.
type headerOps struct {
	remove [][]byte
	set    []headerKV
}

type headerKV struct{ name, value []byte }

func compileHeaderOps(o *HeaderOps, field string) (headerOps, error) {
	var h headerOps
	for _, n := range o.Remove {
		if !isToken([]byte(n)) {
			return h, fmt.Errorf("%s.remove: %q is not a valid header name", field, n)
		}
		h.remove = append(h.remove, []byte(n))
	}
	for _, f := range o.Set {
		if !isToken([]byte(f.Name)) {
			return h, fmt.Errorf("%s.set: %q is not a valid header name", field, f.Name)
		}
		if isHopHeader(f.Name) || asciiEqualFold([]byte(f.Name), "Content-Length") || asciiEqualFold([]byte(f.Name), "Host") {
			return h, fmt.Errorf("%s.set: %q is managed by the proxy and cannot be set", field, f.Name)
		}
		for i := 0; i < len(f.Value); i++ {
			if c := f.Value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				return h, fmt.Errorf("%s.set: value of %q contains control byte 0x%02x", field, f.Name, c)
			}
		}
		h.set = append(h.set, headerKV{[]byte(f.Name), []byte(f.Value)})
	}
	return h, nil
}

func (o *headerOps) applyRequest(h *fasthttp.RequestHeader) {
	for _, n := range o.remove {
		h.DelBytes(n)
	}
	for i := range o.set {
		h.SetBytesKV(o.set[i].name, o.set[i].value)
	}
}

func (o *headerOps) applyResponse(h *fasthttp.ResponseHeader) {
	for _, n := range o.remove {
		h.DelBytes(n)
	}
	for i := range o.set {
		h.SetBytesKV(o.set[i].name, o.set[i].value)
	}
}

var (
	hdrXFF   = []byte("X-Forwarded-For")
	hdrXFP   = []byte("X-Forwarded-Proto")
	hdrXFH   = []byte("X-Forwarded-Host")
	hdrXRIP  = []byte("X-Real-Ip")
	strHTTP  = []byte("http")
	strHTTPS = []byte("https")
)

// setForwarded writes X-Forwarded-For/-Proto/-Host and X-Real-IP and returns
// the client IP. peer is the direct peer; trusted says whether its forwarding
// headers are believed. buf is scratch memory, returned grown.
//
// From an untrusted peer every one of these fields is overwritten. From a
// trusted peer X-Forwarded-For is appended to (", peer"), -Proto and -Host are
// kept when present, and the client is the right-most X-Forwarded-For entry
// that is not itself a trusted proxy.
func setForwarded(t *table, h *fasthttp.RequestHeader, peer netip.Addr, trusted, tls bool, host, buf []byte) (netip.Addr, []byte) {
	// The names are canonical already (fasthttp's form): the *Canonical
	// calls skip normalizing them on every request.
	client := peer
	buf = buf[:0]
	if trusted {
		if old := h.PeekCanonical(hdrXFF); len(old) > 0 {
			client = rightmostUntrusted(t, old, peer)
			buf = append(buf, old...)
			buf = append(buf, ", "...)
		}
	}
	if peer.IsValid() {
		buf = peer.AppendTo(buf)
	}
	if len(buf) > 0 {
		h.SetCanonical(hdrXFF, buf)
	} else if len(h.PeekCanonical(hdrXFF)) > 0 {
		h.DelBytes(hdrXFF)
	}
	if !trusted || len(h.PeekCanonical(hdrXFP)) == 0 {
		if tls {
			h.SetCanonical(hdrXFP, strHTTPS)
		} else {
			h.SetCanonical(hdrXFP, strHTTP)
		}
	}
	if !trusted || len(h.PeekCanonical(hdrXFH)) == 0 {
		h.SetCanonical(hdrXFH, host)
	}
	buf = buf[:0]
	if client.IsValid() {
		buf = client.AppendTo(buf)
		h.SetCanonical(hdrXRIP, buf)
	} else if len(h.PeekCanonical(hdrXRIP)) > 0 {
		h.DelBytes(hdrXRIP)
	}
	return client, buf
}

// rightmostUntrusted walks a X-Forwarded-For list from the right and returns
// the first address that is not a trusted proxy; if all are trusted, the
// left-most; if one does not parse, the peer (never trust garbage).
func rightmostUntrusted(t *table, xff []byte, peer netip.Addr) netip.Addr {
	last := peer
	for end := len(xff); end > 0; {
		start := end - 1
		for start >= 0 && xff[start] != ',' {
			start--
		}
		f := trimOWS(xff[start+1 : end])
		end = start
		if len(f) == 0 {
			continue
		}
		a, err := netip.ParseAddr(b2s(f))
		if err != nil {
			return peer
		}
		a = a.Unmap()
		if !t.trusted.Contains(a) {
			return a
		}
		last = a
	}
	return last
}

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiEqualFold compares b and s ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// asciiEqualFoldBytes compares b with the lower-case pattern p ignoring ASCII case.
func asciiEqualFoldBytes(b, p []byte) bool {
	if len(b) != len(p) {
		return false
	}
	for i := range b {
		if lower(b[i]) != p[i] {
			return false
		}
	}
	return true
}

// tokenTable marks tchar (RFC 9110 §5.6.2).
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}
