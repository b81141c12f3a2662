package clienthello

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// capture returns the first bytes a crypto/tls client with cfg sends.
func capture(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		c := tls.Client(b, cfg)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Handshake()
		b.Close()
	}()
	var out []byte
	buf := make([]byte, 4096)
	a.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		n, err := a.Read(buf)
		out = append(out, buf[:n]...)
		if _, perr := Parse(out); !errors.Is(perr, ErrNeedMore) || err != nil {
			return out
		}
	}
}

// rerecord splits the handshake message of hello into records of at most
// size bytes each.
func rerecord(hello []byte, size int) []byte {
	msg := hello[5 : 5+(int(hello[3])<<8|int(hello[4]))]
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func TestParseRealHellos(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		sni  string
		alpn []string
	}{
		{"sni", &tls.Config{ServerName: "DB1.Example.com"}, "db1.example.com", nil},
		{"no sni", &tls.Config{InsecureSkipVerify: true}, "", nil},
		{"ip (no sni)", &tls.Config{ServerName: "127.0.0.1"}, "", nil},
		{"alpn", &tls.Config{ServerName: "a.example.com", NextProtos: []string{"h2", "http/1.1"}}, "a.example.com", []string{"h2", "http/1.1"}},
		{"tls12 only", &tls.Config{ServerName: "x.test", MaxVersion: tls.VersionTLS12}, "x.test", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hello := capture(t, tc.cfg)
			for _, in := range [][]byte{hello, rerecord(hello, 100), rerecord(hello, 25), append(append([]byte(nil), hello...), "trailing bytes"...)} {
				info, err := Parse(in)
				if err != nil {
					t.Fatalf("Parse of %d bytes (hello %d): %v", len(in), len(hello), err)
				}
				if info.ServerName != tc.sni || len(info.ALPN) != len(tc.alpn) || info.Len > len(in) {
					t.Fatalf("info = %+v, want sni %q alpn %v", info, tc.sni, tc.alpn)
				}
				for i := range tc.alpn {
					if info.ALPN[i] != tc.alpn[i] {
						t.Fatalf("alpn = %v", info.ALPN)
					}
				}
			}
			// Every proper prefix asks for more.
			frag := rerecord(hello, 300)
			for n := 0; n < len(frag); n++ {
				if _, err := Parse(frag[:n]); !errors.Is(err, ErrNeedMore) {
					t.Fatalf("prefix %d of %d: %v", n, len(frag), err)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	hello := capture(t, &tls.Config{ServerName: "a.example.com"})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), ErrNotTLS},
		{"one byte of http", []byte("G"), ErrNotTLS},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.6\r\n"), ErrNotTLS},
		{"alert record", []byte{21, 3, 1, 0, 2, 2, 40}, ErrNotTLS},
		{"server hello type", func() []byte { b := bytes.Clone(hello); b[5] = 2; return b }(), ErrMalformed},
		{"too long", []byte{22, 3, 1, 0x40, 0, 1, 0x01, 0, 0}, ErrTooLong},
		{"empty record", []byte{22, 3, 1, 0, 0}, ErrMalformed},
		{"short hello", []byte{22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0}, ErrMalformed},
		{"bad inner length", func() []byte { b := bytes.Clone(hello); b[len(b)-1]++; return rerecord(b, 1<<14)[:0] }(), ErrNeedMore},
		{"next record not handshake", append(rerecord(hello, 100)[:105], 23, 3, 3, 0, 1, 0), ErrMalformed},
	} {
		if _, err := Parse(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A hello over MaxLen spread over many records.
	big := []byte{22, 3, 1, 0, 4, 1, 0, 0x50, 0}
	if _, err := Parse(big); !errors.Is(err, ErrTooLong) {
		t.Fatalf("big: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, cfg := range []*tls.Config{{ServerName: "a.example.com", NextProtos: []string{"h2"}}, {InsecureSkipVerify: true}, {ServerName: "x.test", MaxVersion: tls.VersionTLS12}} {
		h := capture(f, cfg)
		f.Add(h)
		f.Add(rerecord(h, 7))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Parse(b)
		if err == nil && (info.Len > len(b) || info.Len < 5) {
			t.Fatalf("Len %d for %d bytes", info.Len, len(b))
		}
		if err == nil && len(info.ServerName) > 255 {
			t.Fatal("long server name")
		}
		// A complete answer never changes when more bytes follow.
		if err == nil || !errors.Is(err, ErrNeedMore) {
			info2, err2 := Parse(append(bytes.Clone(b), 0x16, 3, 1))
			if (err == nil) != (err2 == nil) || info2.ServerName != info.ServerName {
				t.Fatalf("verdict changed with trailing bytes: %v/%v %q/%q", err, err2, info.ServerName, info2.ServerName)
			}
		}
	})
}
