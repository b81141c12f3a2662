package l7

import "bytes"

// bodyMode is how a message body is framed.
type bodyMode uint8

const (
	bodyNone    bodyMode = iota
	bodyLength           // Content-Length
	bodyChunked          // Transfer-Encoding: chunked
	bodyEOF              // until the server closes (responses only)
)

// chunked-body states of a framer.
const (
	fSize    uint8 = iota // at a chunk-size line
	fData                 // in a chunk's data
	fCRLF                 // the CRLF after a chunk's data
	fTrailer              // in the trailer section
)

const (
	maxChunkLine    = 4 << 10
	maxTrailerBytes = 64 << 10
)

// framer follows the framing of one message body as its bytes go by, in
// whatever pieces they arrive, and tells payload from framing. It never
// holds bytes: a chunk-size or trailer line is consumed only once it is
// complete (the caller keeps the unconsumed rest and offers it again with
// more). It is the one body parser of both directions, on the event loop
// and in pipe mode: request bodies are checked strictly (the rules of
// docs/http-parsing.md, trailers as header fields, MaxBodyBytes), response
// bodies by their framing only.
type framer struct {
	mode    bodyMode
	st      uint8
	done    bool
	strict  bool  // a request body: trailers are checked as header fields
	remain  int64 // length: bytes left; chunked: bytes left of the chunk
	total   int64 // chunked: bytes announced by the chunk-size lines so far
	max     int64 // chunked request body limit (0: none)
	trailer int   // trailer bytes so far
	maxTr   int   // trailer section limit
	nchunks int
	hs      headState // trailer field checks
}

// reset prepares f for a body of mode (remain: its Content-Length).
func (f *framer) reset(mode bodyMode, remain int64) {
	*f = framer{mode: mode, remain: remain, maxTr: maxTrailerBytes}
	f.done = mode == bodyNone || (mode == bodyLength && remain == 0)
}

// next consumes a prefix of in. n is how many bytes it consumed, payload (a
// sub-slice of in) the body data among them; n == 0 means in holds no
// complete framing element and more bytes are needed. v is the violation
// that makes the body invalid (vNone otherwise); f is unusable after one.
func (f *framer) next(in []byte) (n int, payload []byte, v violation) {
	if f.done || len(in) == 0 {
		return 0, nil, vNone
	}
	switch f.mode {
	case bodyLength:
		k := int64(len(in))
		if k > f.remain {
			k = f.remain
		}
		f.remain -= k
		f.done = f.remain == 0
		return int(k), in[:k], vNone
	case bodyEOF:
		return len(in), in, vNone
	}
	switch f.st {
	case fData:
		k := int64(len(in))
		if k > f.remain {
			k = f.remain
		}
		f.remain -= k
		if f.remain == 0 {
			f.st = fCRLF
		}
		return int(k), in[:k], vNone
	case fCRLF:
		if len(in) < 2 {
			if in[0] != '\r' {
				return 0, nil, vBadChunk
			}
			return 0, nil, vNone
		}
		if in[0] != '\r' || in[1] != '\n' {
			return 0, nil, vBadChunk
		}
		f.st = fSize
		return 2, nil, vNone
	case fSize:
		lf := bytes.IndexByte(in, '\n')
		if lf < 0 {
			if len(in) > maxChunkLine {
				return 0, nil, vBadChunk
			}
			return 0, nil, vNone
		}
		sz, ok := parseChunkSize(in[:lf])
		if !ok {
			return 0, nil, vBadChunk
		}
		f.total += sz
		if f.max > 0 && f.total > f.max {
			return 0, nil, vBodyTooLarge
		}
		f.nchunks++
		if sz == 0 {
			f.st = fTrailer
		} else {
			f.st, f.remain = fData, sz
		}
		return lf + 1, nil, vNone
	}
	// fTrailer: one line at a time, up to the empty line.
	lf := bytes.IndexByte(in, '\n')
	if lf < 0 {
		if f.trailer+len(in) > f.maxTr {
			return 0, nil, vBadTrailer
		}
		return 0, nil, vNone
	}
	l := in[:lf]
	if f.trailer += lf + 1; f.trailer > f.maxTr {
		return 0, nil, vBadTrailer
	}
	if len(l) == 0 || l[len(l)-1] != '\r' {
		if f.strict {
			return 0, nil, vBareLF
		}
		return 0, nil, vBadChunk
	}
	if len(l) == 1 {
		f.done = true
		return lf + 1, nil, vNone
	}
	if f.strict {
		if v := f.hs.field(l[:len(l)-1], true); v != vNone {
			return 0, nil, v
		}
	}
	return lf + 1, nil, vNone
}
