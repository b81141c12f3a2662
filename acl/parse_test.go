package acl

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	good := map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", " 10.1.2.3 ": "10.1.2.3/32", "::1": "::1/128",
		"2001:db8::/32": "2001:db8::/32", "0.0.0.0/0": "0.0.0.0/0", "::/0": "::/0",
		"::ffff:10.0.0.0/104": "::ffff:10.0.0.0/104", "::ffff:10.1.2.3": "::ffff:10.1.2.3/128",
	}
	for in, want := range good {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	bad := map[string]string{
		"10.1.2.3/24":  `CIDR "10.1.2.3/24" has host bits set (did you mean 10.1.2.0/24?)`,
		"10.0.0.0/33":  `invalid CIDR "10.0.0.0/33"`,
		"::1/129":      `invalid CIDR "::1/129"`,
		"1.2.3.4/-1":   `invalid CIDR "1.2.3.4/-1"`,
		"10.0.0":       `invalid address or CIDR "10.0.0"`,
		"":             `invalid address or CIDR ""`,
		"example.com":  `invalid address or CIDR "example.com"`,
		"fe80::1%eth0": `invalid address or CIDR "fe80::1%eth0"`,
	}
	for in, want := range bad {
		if _, err := ParsePrefix(in); err == nil || err.Error() != want {
			t.Errorf("ParsePrefix(%q) error = %v; want %s", in, err, want)
		}
	}
}

// TestBothUsesAgree is the one table for address matching: each entry is
// parsed by ParsePrefix (the parser of every list in the configuration) and
// compiled into an access list (as allow and as deny) and into a
// trusted_proxies set; every use must give the same answer for every
// address. Rows cover IPv4, IPv6, IPv4-mapped entries and clients, host
// bits, /0 and /32 (and /128).
func TestBothUsesAgree(t *testing.T) {
	type probe struct {
		ip   string
		want bool // inside the entry
	}
	cases := []struct {
		name   string
		entry  string // as written in the file
		code   string // when the file form is refused: the prefix as code builds it
		errHas string // ParsePrefix error for entry, "" when accepted
		probes []probe
	}{
		{name: "v4", entry: "10.0.0.0/8", probes: []probe{
			{"10.0.0.0", true}, {"10.255.255.255", true}, {"::ffff:10.1.2.3", true},
			{"11.0.0.0", false}, {"9.255.255.255", false}, {"::a01:203", false}, {"2001:db8::1", false}}},
		{name: "v6", entry: "2001:db8::/32", probes: []probe{
			{"2001:db8::1", true}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"fe80::1%eth0", false},
			{"2001:db9::", false}, {"32.1.13.184", false}, {"::ffff:32.1.13.184", false}}},
		{name: "v6 zone ignored in the client", entry: "fe80::/10", probes: []probe{
			{"fe80::1%eth0", true}, {"fe80::1", true}, {"fec0::1", false}}},
		{name: "v4-mapped prefix names IPv4", entry: "::ffff:10.0.0.0/104", probes: []probe{
			{"10.9.9.9", true}, {"::ffff:10.9.9.9", true}, {"11.0.0.1", false}, {"::ffff:11.0.0.1", false},
			{"::a09:909", false}}},
		{name: "v4-mapped address", entry: "::ffff:127.0.0.1", probes: []probe{
			{"127.0.0.1", true}, {"::ffff:127.0.0.1", true}, {"127.0.0.2", false}, {"::1", false}}},
		{name: "short v4-mapped prefix stays IPv6", entry: "::fffe:0:0/95", probes: []probe{
			{"::fffe:1:1", true}, {"::ffff:1.2.3.4", false}, {"1.2.3.4", false}}},
		{name: "host bits refused in the file", entry: "10.1.2.3/8", errHas: "did you mean 10.0.0.0/8?",
			code: "10.1.2.3/8", probes: []probe{{"10.200.0.1", true}, {"10.1.2.3", true}, {"11.1.2.3", false}}},
		{name: "v6 host bits refused in the file", entry: "2001:db8::7/32", errHas: "did you mean 2001:db8::/32?",
			code: "2001:db8::7/32", probes: []probe{{"2001:db8:ab::", true}, {"2001:db9::7", false}}},
		{name: "v4 /0", entry: "0.0.0.0/0", probes: []probe{
			{"0.0.0.0", true}, {"255.255.255.255", true}, {"::ffff:1.2.3.4", true}, {"::1", false}, {"2001::1", false}}},
		{name: "v6 /0", entry: "::/0", probes: []probe{
			{"::", true}, {"2001::1", true}, {"1.2.3.4", false}, {"::ffff:1.2.3.4", false}}},
		{name: "/32", entry: "10.1.2.3/32", probes: []probe{
			{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"10.1.2.2", false}, {"10.1.2.4", false}}},
		{name: "bare v4 is /32", entry: "10.1.2.3", probes: []probe{
			{"10.1.2.3", true}, {"10.1.2.4", false}}},
		{name: "/128", entry: "2001:db8::1/128", probes: []probe{
			{"2001:db8::1", true}, {"2001:db8::2", false}}},
		{name: "bare v6 is /128", entry: "::1", probes: []probe{
			{"::1", true}, {"::", false}, {"127.0.0.1", false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePrefix(c.entry)
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("ParsePrefix(%q) error = %v, want one containing %q", c.entry, err, c.errHas)
				}
				p = netip.MustParsePrefix(c.code)
			} else if err != nil {
				t.Fatalf("ParsePrefix(%q): %v", c.entry, err)
			}
			allow, err := New([]netip.Prefix{p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			deny, err := New(nil, []netip.Prefix{p})
			if err != nil {
				t.Fatal(err)
			}
			trusted, err := NewTrusted([]netip.Prefix{p})
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range c.probes {
				ip := netip.MustParseAddr(pr.ip)
				if got := allow.Allowed(ip); got != pr.want {
					t.Errorf("access.allow [%s]: Allowed(%s) = %v, want %v", c.entry, pr.ip, got, pr.want)
				}
				if got := deny.Allowed(ip); got != !pr.want {
					t.Errorf("access.deny [%s]: Allowed(%s) = %v, want %v", c.entry, pr.ip, got, !pr.want)
				}
				if got := trusted.Contains(ip); got != pr.want {
					t.Errorf("trusted_proxies [%s]: Contains(%s) = %v, want %v", c.entry, pr.ip, got, pr.want)
				}
			}
		})
	}
}
