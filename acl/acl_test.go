package acl

import (
	"net/netip"
	"strings"
	"testing"
)

// pfx builds prefixes as code does (host bits and zones kept, for New and
// NewTrusted to normalize); a bare address is a /32 or /128.
func pfx(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

func mustList(t testing.TB, allow, deny []string) *List {
	t.Helper()
	l, err := New(pfx(t, allow...), pfx(t, deny...))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestListMatrix(t *testing.T) {
	type row struct {
		ip   string
		want bool
	}
	cases := []struct {
		name        string
		allow, deny []string
		rows        []row
	}{
		{
			name: "empty lists allow all",
			rows: []row{{"10.0.0.1", true}, {"::1", true}, {"::ffff:1.2.3.4", true}, {"0.0.0.0", true}},
		},
		{
			name:  "contract example",
			allow: []string{"127.0.0.0/8", "10.0.0.0/8"},
			deny:  []string{"10.1.2.0/24"},
			rows: []row{
				{"127.0.0.1", true}, {"127.255.255.255", true}, {"128.0.0.0", false}, {"126.255.255.255", false},
				{"10.0.0.0", true}, {"10.1.1.255", true}, {"10.1.2.0", false}, {"10.1.2.255", false},
				{"10.1.3.0", true}, {"10.255.255.255", true}, {"11.0.0.0", false}, {"9.255.255.255", false},
				{"::ffff:10.1.2.7", false}, {"::ffff:10.1.3.7", true}, {"::ffff:127.0.0.1", true},
				{"::ffff:192.168.0.1", false}, {"::1", false}, {"2001:db8::1", false},
			},
		},
		{
			name: "deny only",
			deny: []string{"192.168.0.0/16", "2001:db8::/32"},
			rows: []row{
				{"192.168.3.4", false}, {"::ffff:192.168.3.4", false}, {"192.169.0.0", true},
				{"2001:db8::1", false}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false},
				{"2001:db9::", true}, {"2001:db7:ffff::", true}, {"fe80::1%eth0", true},
			},
		},
		{
			name:  "v6 allow, v4 clients excluded",
			allow: []string{"2001:db8::/32", "::1/128"},
			rows: []row{
				{"2001:db8:1::5", true}, {"::1", true}, {"::2", false}, {"10.0.0.1", false},
				{"::ffff:10.0.0.1", false},
			},
		},
		{
			name:  "::/0 does not match v4 or mapped",
			allow: []string{"::/0"},
			rows:  []row{{"2001::1", true}, {"::", true}, {"1.2.3.4", false}, {"::ffff:1.2.3.4", false}},
		},
		{
			name:  "0.0.0.0/0 matches v4 and mapped only",
			allow: []string{"0.0.0.0/0"},
			deny:  []string{"255.255.255.255/32", "0.0.0.0/32"},
			rows: []row{
				{"1.2.3.4", true}, {"::ffff:1.2.3.4", true}, {"255.255.255.255", false},
				{"0.0.0.0", false}, {"0.0.0.1", true}, {"255.255.255.254", true}, {"::1", false},
			},
		},
		{
			name:  "mapped prefix written as v6 becomes v4",
			allow: []string{"::ffff:10.0.0.0/104"},
			deny:  []string{"::ffff:10.9.9.9/128"},
			rows: []row{
				{"10.2.3.4", true}, {"::ffff:10.2.3.4", true}, {"10.9.9.9", false},
				{"::ffff:10.9.9.9", false}, {"11.0.0.1", false},
			},
		},
		{
			name:  "overlapping and nested allow prefixes, deny inside",
			allow: []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "11.0.0.0/8", "12.0.0.0/7"},
			deny:  []string{"10.1.2.3", "13.0.0.0/9"},
			rows: []row{
				{"10.1.2.3", false}, {"10.1.2.2", true}, {"10.1.2.4", true}, {"11.5.5.5", true},
				{"12.0.0.0", true}, {"13.255.255.255", true}, {"13.0.0.1", false}, {"13.127.255.255", false},
				{"13.128.0.0", true}, {"14.0.0.0", false}, {"9.9.9.9", false},
			},
		},
		{
			name:  "host bits ignored",
			allow: []string{"10.1.2.3/8", "2001:db8::7/32"},
			rows:  []row{{"10.200.0.1", true}, {"2001:db8:ab::", true}, {"11.0.0.0", false}},
		},
		{
			name:  "zones ignored",
			allow: []string{"fe80::/10"},
			rows:  []row{{"fe80::1%eth0", true}, {"fe80::1", true}, {"fec0::1", false}},
		},
		{
			name: "v6 top of space",
			deny: []string{"ffff:ffff:ffff:ffff::/64", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
			rows: []row{
				{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"ffff:ffff:ffff:ffff::", false},
				{"ffff:ffff:ffff:fffe:ffff:ffff:ffff:ffff", true},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustList(t, c.allow, c.deny)
			ref := naiveList{allow: pfx(t, c.allow...), deny: pfx(t, c.deny...)}
			for _, r := range c.rows {
				ip := netip.MustParseAddr(r.ip)
				if got := l.Allowed(ip); got != r.want {
					t.Errorf("Allowed(%s) = %v, want %v", r.ip, got, r.want)
				}
				if got := ref.Allowed(ip); got != r.want {
					t.Errorf("reference Allowed(%s) = %v, want %v (test table wrong?)", r.ip, got, r.want)
				}
			}
		})
	}
}

func TestZeroAndNil(t *testing.T) {
	var nl *List
	if !nl.Allowed(netip.MustParseAddr("1.2.3.4")) {
		t.Fatal("nil List must allow")
	}
	var zl List
	if !zl.Allowed(netip.MustParseAddr("1.2.3.4")) {
		t.Fatal("zero List must allow")
	}
	var nt *Trusted
	if nt.Contains(netip.MustParseAddr("1.2.3.4")) {
		t.Fatal("nil Trusted must contain nothing")
	}
	l := mustList(t, []string{"0.0.0.0/0", "::/0"}, nil)
	if l.Allowed(netip.Addr{}) {
		t.Fatal("zero Addr must not match a prefix")
	}
	l = mustList(t, nil, []string{"0.0.0.0/0", "::/0"})
	if !l.Allowed(netip.Addr{}) {
		t.Fatal("zero Addr is not denied by any prefix; allowed when allow is empty")
	}
}

func TestTrusted(t *testing.T) {
	tr, err := NewTrusted(pfx(t, "10.0.0.0/8", "fd00::/8", "192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"10.0.0.1": true, "::ffff:10.3.3.3": true, "11.0.0.1": false, "fd12::1": true,
		"fe00::1": false, "192.0.2.1": true, "192.0.2.2": false,
	} {
		if got := tr.Contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", ip, got, want)
		}
	}
	empty, _ := NewTrusted(nil)
	if empty.Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("empty Trusted contains nothing")
	}
}

func TestInvalidPrefix(t *testing.T) {
	_, err := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}, nil)
	if err == nil || !strings.Contains(err.Error(), "allow[1]") {
		t.Fatalf("err = %v, want mention of allow[1]", err)
	}
	_, err = NewTrusted([]netip.Prefix{{}})
	if err == nil || !strings.Contains(err.Error(), "trusted_proxies[0]") {
		t.Fatalf("err = %v", err)
	}
}

// TestMergeAdjacent checks that adjacent and contained ranges collapse.
func TestMergeAdjacent(t *testing.T) {
	s, err := compile("t", pfx(t, "10.0.0.0/9", "10.128.0.0/9", "10.5.0.0/16", "11.0.0.0/8", "13.0.0.0/8",
		"2001:db8::/33", "2001:db8:8000::/33", "::/128", "::1/128"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.v4) != 2 || s.v4[0] != (span4{0x0a000000, 0x0bffffff}) {
		t.Fatalf("v4 = %#v", s.v4)
	}
	if len(s.v6) != 2 {
		t.Fatalf("v6 = %#v", s.v6)
	}
}

// TestLargeList exercises the binary-search path against the reference.
func TestLargeList(t *testing.T) {
	var allow, deny []netip.Prefix
	for i := range 3000 {
		allow = append(allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 7), byte(i * 2), 0}), 24)) // every other /24
		a16 := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 7), byte(i * 2)}
		allow = append(allow, netip.PrefixFrom(netip.AddrFrom16(a16), 48))
		if i%7 == 0 {
			deny = append(deny, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 7), byte(i * 2), 128}), 25))
		}
	}
	l, err := New(allow, deny)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.allow.v4) <= linearMax || len(l.allow.v6) <= linearMax {
		t.Fatalf("expected binary-search sized sets, got %d/%d ranges", len(l.allow.v4), len(l.allow.v6))
	}
	ref := naiveList{allow: allow, deny: deny}
	for i := 0; i < 1200; i += 4 {
		for _, ip := range []netip.Addr{
			netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(i * 37)}),
			netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 200}),
			netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 1, 2, 3}),
		} {
			if got, want := l.Allowed(ip), ref.Allowed(ip); got != want {
				t.Fatalf("Allowed(%s) = %v, reference %v", ip, got, want)
			}
		}
	}
}
