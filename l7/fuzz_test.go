package l7

import (
	"bytes"
	"testing"
)

// subsequence reports whether a's bytes appear in b in order.
func subsequence(a, b []byte) bool {
	for _, x := range a {
		i := bytes.IndexByte(b, x)
		if i < 0 {
			return false
		}
		b = b[i+1:]
	}
	return true
}

// FuzzRequestFraming feeds arbitrary bytes, arriving in pieces of arbitrary
// sizes, through the strict pre-parser the way a client connection does:
// headFramer finds and checks each head, fasthttp parses it, the framer
// follows its body, the next head follows. It must never panic or loop,
// never consume more bytes than arrived, never pass on a body byte the
// client did not send (payload is a subsequence of the input, in order),
// and never hand fasthttp a head it refuses (what the strict parser
// accepts, fasthttp accepts).
func FuzzRequestFraming(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\r\nGET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), []byte{})
		f.Add([]byte(s), []byte{0, 3, 7})
	}
	const maxHead, maxBody = 1024, 4096
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		if len(data) > 8<<10 {
			return
		}
		var (
			hf       headFramer
			body     framer
			inBody   bool
			buf      []byte // arrived, not consumed
			arrived  int
			payload  []byte
			ex       exchange
			consumed int
		)
		for i := 0; arrived < len(data) || len(buf) > 0; i++ {
			if i > 4*len(data)+64 {
				t.Fatalf("no progress: %d of %d bytes consumed", consumed, len(data))
			}
			if arrived < len(data) { // the next piece arrives
				n := len(data) - arrived
				if len(chunks) > 0 {
					n = min(n, int(chunks[i%len(chunks)])+1)
				}
				buf = append(buf, data[arrived:arrived+n]...)
				arrived += n
			}
			for len(buf) > 0 {
				n := 0
				if inBody {
					k, p, v := body.next(buf)
					if v != vNone {
						return // answered 400/413, the connection closes
					}
					payload = append(payload, p...)
					n = k
					if body.done {
						inBody = false
					}
				} else {
					end, skip, v := hf.scan(buf, maxHead, maxBody)
					if v != vNone {
						return
					}
					switch {
					case skip > 0:
						n = skip
					case end > 0:
						hs := hf.hs
						hf.reset()
						ex.req.Reset()
						if err := ex.parseHeadTest(buf[:end]); err != nil {
							t.Fatalf("the strict parser accepted a head fasthttp refuses (%v):\n%q", err, buf[:end])
						}
						switch {
						case hs.chunked():
							body.reset(bodyChunked, 0)
							body.strict, body.max, body.maxTr = true, maxBody, maxHead
							inBody = true
						case hs.cl > 0:
							body.reset(bodyLength, hs.cl)
							inBody = true
						}
						n = end
					}
				}
				if n == 0 {
					break // wait for more
				}
				if n > len(buf) {
					t.Fatalf("consumed %d of %d bytes", n, len(buf))
				}
				buf = buf[n:]
				consumed += n
			}
			if arrived == len(data) && len(buf) > 0 {
				return // an incomplete message at the end: the client would time out
			}
		}
		if !subsequence(payload, data) {
			t.Fatalf("passed on body bytes the client did not send:\nin  %q\nout %q", data, payload)
		}
	})
}
