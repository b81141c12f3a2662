package proxyproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var (
	src4 = netip.MustParseAddrPort("192.0.2.10:51234")
	dst4 = netip.MustParseAddrPort("198.51.100.1:443")
	src6 = netip.MustParseAddrPort("[2001:db8::1]:40000")
	dst6 = netip.MustParseAddrPort("[2001:db8::2]:80")
)

func TestParseV1(t *testing.T) {
	for _, tc := range []struct {
		in       string
		want     Header
		n        int
		err      error
		leftover string
	}{
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\nGET /", want: Header{1, Proxy, src4, dst4}, leftover: "GET /"},
		{in: "PROXY TCP6 2001:db8::1 2001:db8::2 40000 80\r\n", want: Header{1, Proxy, src6, dst6}},
		{in: "PROXY UNKNOWN\r\n", want: Header{Version: 1, Command: Local}},
		{in: "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx", want: Header{Version: 1, Command: Local}, leftover: "x"},
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\n", err: ErrInvalid},
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 51234\r\n", err: ErrInvalid},
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443 9\r\n", err: ErrInvalid},
		{in: "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n", err: ErrInvalid},
		{in: "PROXY TCP6 192.0.2.10 2001:db8::2 1 2\r\n", err: ErrInvalid},
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 65536 1\r\n", err: ErrInvalid},
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 01 1\r\n", err: ErrInvalid},
		{in: "PROXY TCP4 192.0.2.10 198.51.100.1 +1 1\r\n", err: ErrInvalid},
		{in: "PROXY UDP4 192.0.2.10 198.51.100.1 1 1\r\n", err: ErrInvalid},
		{in: "PROXY TCP4  192.0.2.10 198.51.100.1 1 1\r\n", err: ErrInvalid},
		{in: "PROXY \r\n", err: ErrInvalid},
		{in: "PROXY " + strings.Repeat("A", 120), err: ErrTooLong},
		{in: "GET / HTTP/1.1\r\n", err: ErrNoHeader},
		{in: "PROXY TCP4 192.0.2.10", err: ErrNeedMore},
		{in: "PROX", err: ErrNeedMore},
		{in: "", err: ErrNeedMore},
	} {
		h, n, err := Parse([]byte(tc.in))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Parse(%q) error %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || h != tc.want || tc.in[n:] != tc.leftover {
			t.Errorf("Parse(%q) = %+v, %d, %v; want %+v leaving %q", tc.in, h, n, err, tc.want, tc.leftover)
		}
	}
}

func TestParseV2(t *testing.T) {
	// Built by hand from the specification, not by AppendV2.
	v4 := "0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c000020a" + "c6336401" + "c822" + "01bb"
	v6 := "0d0a0d0a000d0a515549540a" + "21" + "21" + "0024" +
		"20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "9c40" + "0050"
	local := "0d0a0d0a000d0a515549540a" + "20" + "00" + "0000"
	withTLV := "0d0a0d0a000d0a515549540a" + "21" + "11" + "0011" + "c000020a" + "c6336401" + "c822" + "01bb" + "0400020000" // 5 bytes of TLV (NOOP)
	udp := "0d0a0d0a000d0a515549540a" + "21" + "12" + "000c" + "c000020a" + "c6336401" + "c822" + "01bb"
	unspec := "0d0a0d0a000d0a515549540a" + "21" + "00" + "0000"
	for _, tc := range []struct {
		hex  string
		want Header
		err  error
	}{
		{hex: v4, want: Header{2, Proxy, src4, dst4}},
		{hex: v6, want: Header{2, Proxy, src6, dst6}},
		{hex: local, want: Header{Version: 2, Command: Local}},
		{hex: withTLV, want: Header{2, Proxy, src4, dst4}},
		{hex: udp, want: Header{Version: 2, Command: Proxy}},
		{hex: unspec, want: Header{Version: 2, Command: Proxy}},
		{hex: "0d0a0d0a000d0a515549540a" + "11" + "11" + "000c" + strings.Repeat("00", 12), err: ErrInvalid}, // version 1 in a v2 frame
		{hex: "0d0a0d0a000d0a515549540a" + "22" + "11" + "000c" + strings.Repeat("00", 12), err: ErrInvalid}, // command 2
		{hex: "0d0a0d0a000d0a515549540a" + "21" + "11" + "0004" + strings.Repeat("00", 4), err: ErrInvalid},  // short IPv4 block
		{hex: "0d0a0d0a000d0a515549540a" + "21" + "51" + "000c" + strings.Repeat("00", 12), err: ErrInvalid}, // family 5
		{hex: "0d0a0d0a000d0a515549540a" + "21" + "13" + "000c" + strings.Repeat("00", 12), err: ErrInvalid}, // protocol 3
		{hex: "0d0a0d0a000d0a515549540a" + "21" + "11" + "ffff", err: ErrTooLong},                            // 65,551 bytes
		{hex: "0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c000", err: ErrNeedMore},                  // truncated
		{hex: "0d0a0d0a000d0a51", err: ErrNeedMore},
		{hex: "0d0a0d0a000d0a51554954ff", err: ErrNoHeader},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		h, n, err := Parse(append(b, "rest"...))
		if tc.err != nil {
			if tc.err == ErrNeedMore { // the appended bytes would complete it: parse exactly the prefix
				h, n, err = Parse(b)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("Parse(%s) error %v, want %v", tc.hex, err, tc.err)
			}
			continue
		}
		if err != nil || h != tc.want || n != len(b) {
			t.Errorf("Parse(%s) = %+v, %d, %v; want %+v, %d", tc.hex, h, n, err, tc.want, len(b))
		}
	}
}

// Every proper prefix of a valid header asks for more; the whole one parses.
func TestParseIncremental(t *testing.T) {
	for _, full := range [][]byte{
		AppendV1(nil, src4, dst4), AppendV1(nil, src6, dst6), AppendLocal(nil, V1),
		AppendV2(nil, Proxy, src4, dst4), AppendV2(nil, Proxy, src6, dst6), AppendLocal(nil, V2),
	} {
		for i := 0; i < len(full); i++ {
			if _, _, err := Parse(full[:i]); err != ErrNeedMore {
				t.Fatalf("Parse(%q[:%d]) = %v, want ErrNeedMore", full, i, err)
			}
		}
		if _, n, err := Parse(full); err != nil || n != len(full) {
			t.Fatalf("Parse(%q) = %d, %v", full, n, err)
		}
	}
}

func TestAppendRoundTrip(t *testing.T) {
	mapped := netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.10"), 51234)
	for _, tc := range []struct {
		v        Version
		src, dst netip.AddrPort
		want     Header
		text     string
	}{
		{V1, src4, dst4, Header{1, Proxy, src4, dst4}, "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n"},
		{V1, src6, dst6, Header{1, Proxy, src6, dst6}, "PROXY TCP6 2001:db8::1 2001:db8::2 40000 80\r\n"},
		{V1, mapped, dst4, Header{1, Proxy, src4, dst4}, "PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n"},
		{V1, src4, dst6, Header{Version: 1, Command: Local}, "PROXY UNKNOWN\r\n"},
		{V1, netip.AddrPort{}, dst4, Header{Version: 1, Command: Local}, "PROXY UNKNOWN\r\n"},
		{V2, src4, dst4, Header{2, Proxy, src4, dst4}, ""},
		{V2, src6, dst6, Header{2, Proxy, src6, dst6}, ""},
		{V2, mapped, dst4, Header{2, Proxy, src4, dst4}, ""},
		{V2, src6, dst4, Header{Version: 2, Command: Proxy}, ""},
	} {
		b := Append([]byte("x"), tc.v, tc.src, tc.dst)
		if b[0] != 'x' {
			t.Fatal("Append overwrote the buffer")
		}
		if tc.text != "" && string(b[1:]) != tc.text {
			t.Errorf("Append(%v, %v, %v) = %q, want %q", tc.v, tc.src, tc.dst, b[1:], tc.text)
		}
		h, n, err := Parse(b[1:])
		if err != nil || n != len(b)-1 || h != tc.want {
			t.Errorf("round trip %v %v→%v: %+v, %d, %v; want %+v", tc.v, tc.src, tc.dst, h, n, err, tc.want)
		}
	}
	if b := Append(nil, None, src4, dst4); len(b) != 0 {
		t.Errorf("Append(None) = %q", b)
	}
	if h, _, err := Parse(AppendLocal(nil, V2)); err != nil || h.Command != Local || h.HasAddrs() {
		t.Errorf("AppendLocal(V2) parses as %+v, %v", h, err)
	}
}

func TestHasSignature(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok, more bool
	}{
		{"", false, true}, {"P", false, true}, {"PROXY", false, true}, {"PROXY ", true, false},
		{"\r\n\r\n", false, true}, {"\r\n\r\n\x00\r\nQUIT\n", true, false}, {"\r\n\r\nX", false, false},
		{"GET", false, false}, {"PROXYX", false, false},
	} {
		ok, more := HasSignature([]byte(tc.in))
		if ok != tc.ok || more != tc.more {
			t.Errorf("HasSignature(%q) = %v, %v; want %v, %v", tc.in, ok, more, tc.ok, tc.more)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]Version{"": None, "v1": V1, "v2": V2} {
		if v, err := ParseVersion(s); err != nil || v != want || v.String() != s {
			t.Errorf("ParseVersion(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseVersion("2"); err == nil {
		t.Error("ParseVersion(\"2\") succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(AppendV2(nil, Proxy, src6, dst6))
	f.Add(AppendV2(nil, Proxy, src4, dst4))
	f.Add(AppendLocal(nil, V2))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\xd8"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			if err == ErrNeedMore && len(b) >= MaxHeaderLen {
				t.Fatalf("ErrNeedMore for %d bytes (more than MaxHeaderLen)", len(b))
			}
			return
		}
		if n <= 0 || n > len(b) || n > MaxHeaderLen {
			t.Fatalf("n=%d for %d bytes", n, len(b))
		}
		if h.Version != 1 && h.Version != 2 {
			t.Fatalf("version %d", h.Version)
		}
		// More bytes after the header never change the result.
		h2, n2, err2 := Parse(append(bytes.Clone(b[:n]), "trailing"...))
		if err2 != nil || n2 != n || h2 != h {
			t.Fatalf("with trailing bytes: %+v %d %v, alone: %+v %d", h2, n2, err2, h, n)
		}
		// A header naming a client encodes back to one that parses the same.
		if h.HasAddrs() {
			v := Version(h.Version)
			h3, _, err3 := Parse(Append(nil, v, h.Source, h.Dest))
			if err3 != nil || h3 != h {
				t.Fatalf("re-encoded %+v parses as %+v, %v", h, h3, err3)
			}
		}
	})
}
