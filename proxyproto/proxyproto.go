// Package proxyproto parses and encodes PROXY protocol headers, versions 1
// (text) and 2 (binary), as specified by HAProxy's "The PROXY protocol"
// (haproxy.org/download/3.0/doc/proxy-protocol.txt).
//
// It is a leaf: no I/O, no clock. Parse works incrementally on whatever
// bytes a caller has read so far and says how many it needs; the caller
// owns the buffer, bounds it (MaxHeaderLen) and enforces the timeout within
// which the header must arrive (Sluice uses the frontend's client_header).
// The encoders append to a caller's buffer and allocate nothing when it has
// room.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"unsafe"
)

// Command says what the connection carrying a header is.
type Command uint8

const (
	// Proxy: the connection was relayed for the client named by Source.
	Proxy Command = iota
	// Local: the sender opened the connection itself (a health check);
	// the real connection's addresses apply. Version 1's "UNKNOWN" parses
	// as Local too.
	Local
)

// Header is one parsed PROXY protocol header.
type Header struct {
	// Version is 1 or 2.
	Version uint8
	// Command is Proxy or Local.
	Command Command
	// Source and Dest are the client and the address it connected to, for a
	// Proxy header over TCP/IPv4 or TCP/IPv6; invalid (the zero AddrPort)
	// otherwise: Local, UNKNOWN, AF_UNSPEC, AF_UNIX and UDP, where the
	// receiver uses the real connection's addresses. IPv4 addresses are
	// plain 4-byte addresses.
	Source, Dest netip.AddrPort
}

// HasAddrs reports whether h names a client (Source and Dest are valid).
func (h *Header) HasAddrs() bool { return h.Command == Proxy && h.Source.IsValid() }

// Limits.
const (
	// MaxV1Len is the longest version 1 header, CRLF included.
	MaxV1Len = 107
	// MaxHeaderLen is the longest header Parse accepts: the version 2
	// signature and fixed part (16 bytes) plus at most 2,032 bytes of
	// addresses and TLVs. Longer version 2 headers (the format allows up
	// to 65,551 bytes) are refused with ErrTooLong.
	MaxHeaderLen = 2048
	// v2Fixed is the version 2 signature, version/command, family and length.
	v2Fixed = 16
)

// sigV2 is the 12-byte version 2 signature; sigV1 starts version 1.
var (
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
	sigV1 = []byte("PROXY ")
)

// Errors returned by Parse. Any error but ErrNeedMore is final: the bytes
// cannot become a valid header, and the connection should be closed.
var (
	// ErrNeedMore: b is a proper prefix of a header; read more and call again.
	ErrNeedMore = errors.New("proxyproto: incomplete header")
	// ErrNoHeader: b does not start with either signature.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrTooLong: a version 1 line without CRLF within 107 bytes, or a
	// version 2 header longer than MaxHeaderLen.
	ErrTooLong = errors.New("proxyproto: header too long")
	// ErrInvalid: a malformed header.
	ErrInvalid = errors.New("proxyproto: malformed header")
)

// HasSignature reports whether b starts a PROXY protocol header: ok is true
// when b holds a whole signature of either version; more is true when b is
// too short to tell (a proper prefix of a signature, or empty).
func HasSignature(b []byte) (ok, more bool) {
	for _, sig := range [][]byte{sigV1, sigV2} {
		n := min(len(b), len(sig))
		if bytes.Equal(b[:n], sig[:n]) {
			if n == len(sig) {
				return true, false
			}
			more = true
		}
	}
	return false, more
}

// Parse parses the header at the start of b. It returns the header and its
// length n (the caller's data starts at b[n:]), or ErrNeedMore when b is a
// proper prefix of a valid header, ErrNoHeader when b cannot start one, or
// another error (wrapping ErrInvalid or ErrTooLong) when it is malformed.
// Parse keeps no reference to b and allocates only for an error.
func Parse(b []byte) (h Header, n int, err error) {
	ok, more := HasSignature(b)
	switch {
	case more:
		return h, 0, ErrNeedMore
	case !ok:
		return h, 0, ErrNoHeader
	case b[0] == 'P':
		return parseV1(b)
	}
	return parseV2(b)
}

func parseV1(b []byte) (h Header, n int, err error) {
	end := bytes.IndexByte(b[:min(len(b), MaxV1Len)], '\n')
	if end < 0 {
		if len(b) >= MaxV1Len {
			return h, 0, ErrTooLong
		}
		return h, 0, ErrNeedMore
	}
	if end == 0 || b[end-1] != '\r' {
		return h, 0, invalid("version 1 line does not end with CRLF")
	}
	h.Version = 1
	line := b[len(sigV1) : end-1]
	var f [5][]byte
	nf := 0
	for len(line) > 0 && nf < len(f) {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			f[nf], line, nf = line, nil, nf+1
			break
		}
		f[nf], line, nf = line[:sp], line[sp+1:], nf+1
	}
	if nf == 0 {
		return h, 0, invalid("version 1 header without a protocol")
	}
	switch string(f[0]) {
	case "UNKNOWN":
		// The rest of the line is ignored (the specification says so).
		h.Command = Local
		return h, end + 1, nil
	case "TCP4", "TCP6":
	default:
		return h, 0, invalid("version 1 protocol must be TCP4, TCP6 or UNKNOWN")
	}
	if nf != 5 || len(line) > 0 {
		return h, 0, invalid("version 1 header needs exactly: protocol, source, destination, source port, destination port")
	}
	v6 := f[0][3] == '6'
	src, err1 := parseV1Addr(f[1], v6)
	dst, err2 := parseV1Addr(f[2], v6)
	sp, err3 := parseV1Port(f[3])
	dp, err4 := parseV1Port(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return h, 0, err
	}
	h.Command = Proxy
	h.Source, h.Dest = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, end + 1, nil
}

func parseV1Addr(b []byte, v6 bool) (netip.Addr, error) {
	// The string is a view of b for the call only: ParseAddr copies what
	// it keeps (a zone, which is refused anyway).
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil || a.Zone() != "" || a.Is4() == v6 {
		return netip.Addr{}, invalid("bad version 1 address")
	}
	return a, nil
}

// parseV1Port accepts 0..65535 in decimal without a sign or leading zeros.
func parseV1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, invalid("bad version 1 port")
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, invalid("bad version 1 port")
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, invalid("bad version 1 port")
	}
	return uint16(n), nil
}

// Version 2 families and protocols (the high and low nibbles of byte 13).
const (
	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3
	protoTCP  = 0x1
)

func parseV2(b []byte) (h Header, n int, err error) {
	if len(b) < v2Fixed {
		return h, 0, ErrNeedMore
	}
	if b[12]>>4 != 2 {
		return h, 0, invalid("version 2 signature with a version other than 2")
	}
	length := int(binary.BigEndian.Uint16(b[14:16]))
	n = v2Fixed + length
	if n > MaxHeaderLen {
		return h, 0, ErrTooLong
	}
	if len(b) < n {
		return h, 0, ErrNeedMore
	}
	h.Version = 2
	switch b[12] & 0xf {
	case 0x0:
		h.Command = Local
		return h, n, nil // addresses, if any, are ignored
	case 0x1:
		h.Command = Proxy
	default:
		return h, 0, invalid("version 2 command must be LOCAL or PROXY")
	}
	fam, proto := b[13]>>4, b[13]&0xf
	body := b[v2Fixed:n]
	switch fam {
	case famInet:
		if len(body) < 12 {
			return h, 0, invalid("version 2 IPv4 address block is too short")
		}
		if proto == protoTCP {
			h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
			h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		}
	case famInet6:
		if len(body) < 36 {
			return h, 0, invalid("version 2 IPv6 address block is too short")
		}
		if proto == protoTCP {
			h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), binary.BigEndian.Uint16(body[32:34]))
			h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), binary.BigEndian.Uint16(body[34:36]))
		}
	case famUnix:
		if len(body) < 216 {
			return h, 0, invalid("version 2 unix address block is too short")
		}
	case famUnspec:
	default:
		return h, 0, invalid("version 2 address family is unknown")
	}
	if proto > 2 {
		return h, 0, invalid("version 2 transport protocol is unknown")
	}
	return h, n, nil
}

func invalid(msg string) error { return &parseError{msg} }

type parseError struct{ msg string }

func (e *parseError) Error() string { return "proxyproto: " + e.msg }
func (e *parseError) Unwrap() error { return ErrInvalid }

// Version is what a sender writes (servers[].send_proxy): None, V1 or V2.
type Version uint8

const (
	None Version = iota
	V1
	V2
)

// ParseVersion parses "" (None), "v1" or "v2".
func ParseVersion(s string) (Version, error) {
	switch s {
	case "":
		return None, nil
	case "v1":
		return V1, nil
	case "v2":
		return V2, nil
	}
	return None, errors.New("proxyproto: version must be v1 or v2, got " + strconv.Quote(s))
}

// String returns "", "v1" or "v2".
func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return ""
}

// Append appends the header of version v for a connection relayed from src
// to dst. When src and dst are not both valid and of one family (after
// unmapping IPv4-mapped IPv6 addresses), it appends a header that names no
// client: version 1 "PROXY UNKNOWN", version 2 a PROXY command with family
// AF_UNSPEC. v None appends nothing.
func Append(dst []byte, v Version, src, to netip.AddrPort) []byte {
	switch v {
	case V1:
		return AppendV1(dst, src, to)
	case V2:
		return AppendV2(dst, Proxy, src, to)
	}
	return dst
}

// AppendLocal appends the header a health check sends: version 1 "PROXY
// UNKNOWN", version 2 the LOCAL command (the receiver uses the connection's
// own addresses). v None appends nothing.
func AppendLocal(dst []byte, v Version) []byte {
	switch v {
	case V1:
		return append(dst, "PROXY UNKNOWN\r\n"...)
	case V2:
		return AppendV2(dst, Local, netip.AddrPort{}, netip.AddrPort{})
	}
	return dst
}

// sameFamily unmaps both addresses and reports whether they can be encoded
// together (both valid, both IPv4 or both IPv6).
func sameFamily(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort, bool) {
	if !src.IsValid() || !dst.IsValid() {
		return src, dst, false
	}
	s := netip.AddrPortFrom(src.Addr().Unmap().WithZone(""), src.Port())
	d := netip.AddrPortFrom(dst.Addr().Unmap().WithZone(""), dst.Port())
	return s, d, s.Addr().Is4() == d.Addr().Is4()
}

// AppendV1 appends a version 1 header ("PROXY TCP4 src dst sport dport\r\n").
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	s, d, ok := sameFamily(src, dst)
	if !ok {
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	b = append(b, "PROXY TCP4 "...)
	if s.Addr().Is6() {
		b[len(b)-2] = '6'
	}
	b = s.Addr().AppendTo(b)
	b = append(b, ' ')
	b = d.Addr().AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(d.Port()), 10)
	return append(b, '\r', '\n')
}

// AppendV2 appends a version 2 header with command cmd; for Proxy over
// TCP/IPv4 or TCP/IPv6 when src and dst can be encoded, AF_UNSPEC
// otherwise. No TLVs are sent.
func AppendV2(b []byte, cmd Command, src, dst netip.AddrPort) []byte {
	b = append(b, sigV2...)
	ver := byte(0x21)
	if cmd == Local {
		ver = 0x20
	}
	s, d, ok := sameFamily(src, dst)
	if cmd == Local || !ok {
		return append(b, ver, 0x00, 0, 0)
	}
	if s.Addr().Is4() {
		b = append(b, ver, famInet<<4|protoTCP, 0, 12)
		s4, d4 := s.Addr().As4(), d.Addr().As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	} else {
		b = append(b, ver, famInet6<<4|protoTCP, 0, 36)
		s16, d16 := s.Addr().As16(), d.Addr().As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, s.Port())
	return binary.BigEndian.AppendUint16(b, d.Port())
}
