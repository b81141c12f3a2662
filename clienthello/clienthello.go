// Package clienthello reads the server name (SNI) and the ALPN protocols
// from the first bytes a TLS client sends, without terminating TLS: what
// layer-4 routing by name needs. It is a leaf (standard library only),
// bounded (MaxLen) and never panics, whatever the input (it is fuzzed).
package clienthello

import (
	"errors"
	"strings"
)

// MaxLen bounds the ClientHello handshake message (16 KiB, the largest TLS
// record). Clients send far less (1–2 KiB, post-quantum key shares
// included).
const MaxLen = 16 << 10

// MaxRead is the most a caller needs to read to parse a ClientHello of
// MaxLen: its bytes plus the header of every record it may be split over.
const MaxRead = MaxLen + 5*64

// Errors of Parse.
var (
	// ErrNeedMore: the bytes are a prefix of a valid ClientHello; read more.
	ErrNeedMore = errors.New("clienthello: incomplete")
	// ErrNotTLS: the first bytes are not a TLS handshake record.
	ErrNotTLS = errors.New("clienthello: not a TLS handshake")
	// ErrMalformed: a TLS handshake record that is not a well-formed ClientHello.
	ErrMalformed = errors.New("clienthello: malformed ClientHello")
	// ErrTooLong: the ClientHello is longer than MaxLen.
	ErrTooLong = errors.New("clienthello: ClientHello longer than 16 KiB")
)

// Info is what Parse found.
type Info struct {
	// ServerName is the SNI host name, lower case without a trailing dot;
	// "" when the client sent none.
	ServerName string
	// ALPN are the protocols the client offers, in its order.
	ALPN []string
	// Len is how many bytes of the input the records holding the
	// ClientHello took (the caller forwards everything it read anyway).
	Len int
}

const (
	recordHandshake    = 22
	typeClientHello    = 1
	extServerName      = 0
	extALPN            = 16
	maxRecordsPerHello = 64
)

// Parse parses the ClientHello at the start of b: TLS records of type
// handshake (a hello may span several) carrying a ClientHello message.
// It returns ErrNeedMore while b is a valid but incomplete prefix.
func Parse(b []byte) (Info, error) {
	var msg []byte // the handshake message bytes gathered so far
	var buf [MaxLen + 4]byte
	need := -1 // handshake message length incl. its 4-byte header, once known
	off := 0
	for rec := 0; ; rec++ {
		if rec >= maxRecordsPerHello {
			return Info{}, ErrMalformed
		}
		if len(b)-off < 5 {
			if off == 0 && len(b) > 0 && b[0] != recordHandshake {
				return Info{}, ErrNotTLS
			}
			if off == 0 && len(b) > 1 && b[1] != 3 {
				return Info{}, ErrNotTLS
			}
			return Info{}, ErrNeedMore
		}
		h := b[off : off+5]
		if h[0] != recordHandshake || h[1] != 3 {
			if off == 0 {
				return Info{}, ErrNotTLS
			}
			return Info{}, ErrMalformed
		}
		rlen := int(h[3])<<8 | int(h[4])
		if rlen == 0 || rlen > 1<<14+256 {
			return Info{}, ErrMalformed
		}
		if len(b)-off-5 < rlen {
			// Check what has arrived so far for an early verdict.
			part := b[off+5:]
			if err := early(msg, part, &need); err != nil {
				return Info{}, err
			}
			return Info{}, ErrNeedMore
		}
		frag := b[off+5 : off+5+rlen]
		off += 5 + rlen
		if len(msg)+len(frag) > len(buf) {
			if need < 0 || len(msg) < need {
				return Info{}, ErrTooLong
			}
		}
		n := copy(buf[len(msg):], frag)
		msg = buf[:len(msg)+n]
		if err := early(msg, nil, &need); err != nil {
			return Info{}, err
		}
		if need >= 0 && len(msg) >= need {
			info, err := parseHello(msg[4:need])
			info.Len = off
			return info, err
		}
	}
}

// early inspects the handshake header once 4 bytes of it are known.
func early(msg, more []byte, need *int) error {
	var h [4]byte
	n := copy(h[:], msg)
	copy(h[n:], more)
	if len(msg)+len(more) < 1 {
		return nil
	}
	if h[0] != typeClientHello {
		return ErrMalformed
	}
	if len(msg)+len(more) < 4 {
		return nil
	}
	l := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if l > MaxLen {
		return ErrTooLong
	}
	if l < 38 { // version, random, session id length at least
		return ErrMalformed
	}
	*need = l + 4
	return nil
}

// reader walks a byte slice; any overrun sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u8() int {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := int(r.b[0])
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() int {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := int(r.b[0])<<8 | int(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// parseHello parses a ClientHello body (RFC 8446 §4.1.2).
func parseHello(body []byte) (Info, error) {
	var info Info
	r := reader{b: body}
	r.bytes(2)      // legacy_version
	r.bytes(32)     // random
	r.bytes(r.u8()) // legacy_session_id
	cs := r.u16()   // cipher_suites
	if cs%2 != 0 || cs == 0 {
		return info, ErrMalformed
	}
	r.bytes(cs)
	if r.u8Len(); r.bad { // legacy_compression_methods
		return info, ErrMalformed
	}
	if len(r.b) == 0 {
		return info, nil // no extensions (an old client): no SNI
	}
	exts := reader{b: r.bytes(r.u16())}
	if r.bad || len(r.b) != 0 {
		return info, ErrMalformed
	}
	seen := uint64(0)
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := reader{b: exts.bytes(exts.u16())}
		if exts.bad {
			return info, ErrMalformed
		}
		if typ < 64 {
			if seen&(1<<typ) != 0 {
				return info, ErrMalformed // a duplicate extension (RFC 8446 §4.2)
			}
			seen |= 1 << typ
		}
		switch typ {
		case extServerName:
			names := reader{b: data.bytes(data.u16())}
			if data.bad || len(data.b) != 0 || len(names.b) == 0 {
				return info, ErrMalformed
			}
			for len(names.b) > 0 {
				nt := names.u8()
				name := names.bytes(names.u16())
				if names.bad {
					return info, ErrMalformed
				}
				if nt != 0 || info.ServerName != "" {
					continue // only the first host_name counts (RFC 6066 §3)
				}
				s, ok := hostName(name)
				if !ok {
					return info, ErrMalformed
				}
				info.ServerName = s
			}
		case extALPN:
			protos := reader{b: data.bytes(data.u16())}
			if data.bad || len(data.b) != 0 || len(protos.b) == 0 {
				return info, ErrMalformed
			}
			for len(protos.b) > 0 {
				p := protos.bytes(protos.u8())
				if protos.bad || len(p) == 0 {
					return info, ErrMalformed
				}
				info.ALPN = append(info.ALPN, string(p))
			}
		}
	}
	return info, nil
}

func (r *reader) u8Len() { r.bytes(r.u8()) }

// hostName checks a server name (RFC 6066: a DNS host name in ASCII, no
// trailing dot) and returns it lower case, a trailing dot removed.
func hostName(b []byte) (string, bool) {
	if len(b) == 0 || len(b) > 255 {
		return "", false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	s := strings.TrimSuffix(strings.ToLower(string(b)), ".")
	return s, s != ""
}
