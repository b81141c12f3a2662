package l7

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// baselineOutcome is what a bare fasthttp v1.77.0 server (configured as the
// proxy configures it, without sluice's pre-parser) does with a strict case.
type baselineOutcome string

const (
	fhRejects  baselineOutcome = "rejects"  // a 4xx before the handler runs
	fhAccepts  baselineOutcome = "accepts"  // the handler runs (the request would be forwarded)
	fhHangs    baselineOutcome = "hangs"    // no answer until the read timeout
	fhCutsBody baselineOutcome = "cutsbody" // the handler runs; the body read fails mid-way
)

// fasthttpBaseline is the table of docs/http-parsing.md, "fasthttp alone"
// column. TestFasthttpBaseline checks it against the real library, so the
// document cannot drift from the pinned version.
var fasthttpBaseline = map[string]baselineOutcome{
	"CLAndTE":                fhAccepts,
	"TEAndCL":                fhAccepts,
	"TwoDifferentCL":         fhRejects,
	"TwoEqualCL":             fhRejects,
	"CLList":                 fhRejects,
	"CLPlus":                 fhRejects,
	"CLNegative":             fhRejects,
	"TEGzipChunked":          fhRejects,
	"TEXChunked":             fhRejects,
	"TEIdentity":             fhAccepts,
	"TwoTE":                  fhRejects,
	"TEOnHTTP10":             fhRejects,
	"SpaceBeforeColon":       fhRejects,
	"TabBeforeColon":         fhRejects,
	"ObsFold":                fhAccepts,
	"ObsFoldTE":              fhAccepts,
	"BareLFEverywhere":       fhHangs,
	"BareLFOneLine":          fhAccepts,
	"BareLFRequestLine":      fhAccepts,
	"NULInValue":             fhRejects,
	"CtlInValue":             fhRejects,
	"DELInValue":             fhRejects,
	"CRInValue":              fhRejects,
	"NameWithSpace":          fhAccepts,
	"NameNotToken":           fhRejects,
	"EmptyName":              fhRejects,
	"NoColon":                fhRejects,
	"NULInName":              fhRejects,
	"ChunkSizeInvalid":       fhCutsBody,
	"ChunkSize0x":            fhCutsBody,
	"ChunkSizeNegative":      fhCutsBody,
	"ChunkSizeSpaceExt":      fhCutsBody,
	"ChunkSizeOverflow":      fhCutsBody,
	"ChunkSizeBareLF":        fhCutsBody,
	"ChunkDataNoCRLF":        fhCutsBody,
	"SecondChunkInvalid":     fhCutsBody,
	"ChunkExtCtl":            fhAccepts,
	"TrailerObsFold":         fhAccepts,
	"NoHost":                 fhRejects,
	"TwoHosts":               fhRejects,
	"RequestLineDoubleSpace": fhRejects,
	"RequestLineNoVersion":   fhRejects,
	"BadVersion":             fhAccepts,
	"CtlInTarget":            fhRejects,
	"HeadTooLarge":           fhRejects,
	"BodyTooLargeCL":         fhAccepts,
	"BodyTooLargeChunked":    fhAccepts,
}

// TestFasthttpBaseline runs every strict case against a bare fasthttp server
// and checks the outcome recorded in fasthttpBaseline.
func TestFasthttpBaseline(t *testing.T) {
	type result struct {
		handler bool
		bodyErr bool
	}
	results := make(chan result, 1)
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			var err error
			if bs := ctx.RequestBodyStream(); bs != nil {
				_, err = io.Copy(io.Discard, bs)
			}
			results <- result{true, err != nil}
		},
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ReadBufferSize:               1024 + 4096,
		MaxRequestBodySize:           1024,
		ReadTimeout:                  300 * time.Millisecond,
		Logger:                       quietLogger{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	for _, tc := range strictCases {
		want, ok := fasthttpBaseline[tc.name]
		if !ok {
			t.Errorf("%s: no baseline entry", tc.name)
			continue
		}
		raw := tc.raw
		if tc.name == "HeadTooLarge" { // over fasthttp's read buffer, as sluice sizes it
			raw = "GET / HTTP/1.1\r\n" + hostLine + "X-Big: " + repeatA(6000) + "\r\n\r\n"
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		start := time.Now()
		_, _ = io.WriteString(c, raw)
		resp, rerr := http.ReadResponse(bufio.NewReader(c), nil)
		slow := time.Since(start) >= 250*time.Millisecond // answered only at the read timeout
		c.Close()
		var got baselineOutcome
		select {
		case r := <-results:
			got = fhAccepts
			if r.bodyErr {
				got = fhCutsBody
			}
		default:
			switch {
			case rerr != nil, slow:
				got = fhHangs
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
				got = fhRejects
			default:
				got = baselineOutcome("status " + resp.Status)
			}
		}
		if got != want {
			t.Errorf("%s: bare fasthttp %s, baseline table says %s", tc.name, got, want)
		}
	}
}

func repeatA(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// quietLogger drops fasthttp's messages.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
