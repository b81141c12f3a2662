package l7

import (
	"github.com/valyala/fasthttp"
)

// hopHeader is one entry of the hop-by-hop table.
type hopHeader struct {
	name string // canonical form, as fasthttp normalizes names
	why  string // the citation; shown in tests and docs
}

// hopHeaders lists the header fields that describe ONE connection and are
// therefore removed in both directions (client→backend and backend→client)
// before forwarding. In addition every field named by a Connection header is
// removed. Matching is case-insensitive: fasthttp normalizes names on parse
// and Del normalizes its argument (DisableHeaderNamesNormalizing stays off).
//
// RFC 9110 §7.6.1: "Intermediaries MUST parse a received Connection header
// field before a message is forwarded and, for each connection-option in this
// field, remove any header or trailer field(s) from the message with the same
// name as the connection-option, and then remove the Connection header field
// itself (or replace it with the intermediary's own control options for the
// forwarded message)." and "a proxy or gateway MUST NOT forward [...]
// Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade" (those named
// fields are listed there as connection-specific).
var hopHeaders = [...]hopHeader{
	{"Connection", "RFC 9110 §7.6.1: Connection itself is removed after the options it names"},
	{"Proxy-Connection", "RFC 9110 §7.6.1: listed as connection-specific (non-standard, sent by old clients)"},
	{"Keep-Alive", "RFC 9110 §7.6.1: listed as connection-specific (RFC 2068 §19.7.1)"},
	{"Te", "RFC 9110 §7.6.1 and §10.1.4: TE is a hop-by-hop request field, always listed in Connection"},
	{"Trailer", "RFC 9110 §7.6.1 (RFC 7230 §4.4 hop list): trailers are re-framed by the proxy, so the announcement is dropped"},
	{"Transfer-Encoding", "RFC 9110 §7.6.1 and RFC 9112 §6.1: framing belongs to the connection; fasthttp re-frames the body"},
	{"Upgrade", "RFC 9110 §7.6.1 and §7.8: Upgrade applies to the immediate connection (tunnels re-add it)"},
	{"Proxy-Authenticate", "RFC 9110 §11.7.1: a challenge from the proxy to the immediate client"},
	{"Proxy-Authorization", "RFC 9110 §11.7.2: credentials for the immediate proxy, never forwarded"},
}

// connectionTokens appends to dst the comma-separated tokens of every
// Connection header in v (OWS trimmed, empty ones skipped), each followed by
// a 0 byte as separator. It copies, so the header may be changed afterwards.
func connectionTokens(dst, v []byte) []byte {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		tok := trimOWS(v[:i])
		if len(tok) > 0 {
			dst = append(dst, tok...)
			dst = append(dst, 0)
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return dst
}

// stripHopRequest removes the hop-by-hop fields of a request, the fields the
// Connection headers name included. scratch is reused working memory (returned
// grown). The connection-close flag is cleared as a side effect (deleting
// Connection does that): the caller records it first.
//
// One pass over the fields finds what must go, and only those are deleted:
// most requests carry none, and each fasthttp Del normalizes its name and
// scans every field (it was a third of the proxy's instructions per request).
func stripHopRequest(h *fasthttp.RequestHeader, scratch []byte) []byte {
	scratch = scratch[:0]
	for k, v := range h.All() {
		scratch = hopFields(scratch, k, v)
	}
	delListed(scratch, h.DelBytes)
	return scratch
}

// stripHopResponse is stripHopRequest for responses. (A generic version over
// both header types costs 8 allocations per request: the calls through the
// shape dictionary make h.All escape.)
func stripHopResponse(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	scratch = scratch[:0]
	for k, v := range h.All() {
		scratch = hopFields(scratch, k, v)
	}
	delListed(scratch, h.DelBytes)
	return scratch
}

// hopFields appends to list (names separated by 0 bytes) the field k when
// it is hop-by-hop, and the names a Connection field lists.
func hopFields(list, k, v []byte) []byte {
	if !isHopName(k) {
		return list
	}
	list = append(list, k...)
	list = append(list, 0)
	if len(k) == len("Connection") && asciiEqualFold(k, "Connection") {
		list = connectionTokens(list, v)
	}
	return list
}

// delListed calls del for each name of a 0-separated list.
func delListed(list []byte, del func([]byte)) {
	for len(list) > 0 {
		i := 0
		for list[i] != 0 {
			i++
		}
		del(list[:i])
		list = list[i+1:]
	}
}

// isHopName reports whether name is in hopHeaders, ignoring case.
func isHopName(name []byte) bool {
	for i := range hopHeaders {
		if n := hopHeaders[i].name; len(n) == len(name) && asciiEqualFold(name, n) {
			return true
		}
	}
	return false
}

// isHopHeader reports whether name is in hopHeaders (case-insensitive).
func isHopHeader(name string) bool {
	for i := range hopHeaders {
		if asciiEqualFold([]byte(name), hopHeaders[i].name) {
			return true
		}
	}
	return false
}
