package config

import (
	"strings"
	"testing"
)

// enabled and drain are operator state kept in the file (the admin API
// writes them); absent they mean a serving server.
func TestServerOperatorKeys(t *testing.T) {
	c := mustParse(t, `frontends: [{name: web, listen: ":8080", backend: web}]
backends:
  - name: web
    servers:
      - address: 10.0.0.1:80
      - {address: 10.0.0.2:80, enabled: false}
      - address: 10.0.0.3:80
        drain: true
        enabled: true
`)
	s := c.Backends[0].Servers
	if !s[0].Enabled || s[0].Drain {
		t.Errorf("defaults: %+v", s[0])
	}
	if s[1].Enabled || s[1].Drain {
		t.Errorf("disabled: %+v", s[1])
	}
	if !s[2].Enabled || !s[2].Drain {
		t.Errorf("draining: %+v", s[2])
	}
	checkErrs(t, `frontends: [{name: web, listen: ":8080", backend: web}]
backends:
  - name: web
    servers:
      - {address: 10.0.0.1:80, enabled: "no", drain: 1}
`,
		`5:41: backends[0].servers[0].enabled: expected true or false, got a string`,
		`5:54: backends[0].servers[0].drain: expected true or false, got an integer`)
}

// A backend with no servers is valid (contract §2): the empty list, no
// key, and a null value all mean none.
func TestBackendWithoutServers(t *testing.T) {
	c := mustParse(t, `frontends:
  - {name: web, listen: ":8080", backend: a}
  - {name: db, mode: tcp, listen: ":5432", backend: b}
backends:
  - name: a
    servers: []
  - name: b
  - name: c
    algorithm: weighted_round_robin
    servers:
`)
	for i, b := range c.Backends {
		if len(b.Servers) != 0 {
			t.Errorf("backends[%d]: %d servers", i, len(b.Servers))
		}
	}
}

// Expand reports each substitution with byte offsets in both texts.
func TestExpandOffsets(t *testing.T) {
	src := "# é ${NOT} in a comment\nw: ${PORT} $$ ${UNSET:-dé}x\n"
	e, err := Expand([]byte(src), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Text) != "# é ${NOT} in a comment\nw: 8080 $ déx\n" {
		t.Fatalf("text %q", e.Text)
	}
	want := []string{"${PORT}=8080 var", "$$=$ esc", "${UNSET:-dé}=dé var"}
	if len(e.Subs) != len(want) {
		t.Fatalf("subs %+v", e.Subs)
	}
	for i, s := range e.Subs {
		kind := "esc"
		if s.IsVar() {
			kind = "var"
		}
		got := src[s.Orig:s.OrigEnd] + "=" + string(e.Text[s.Exp:s.ExpEnd]) + " " + kind
		if got != want[i] || s.Ref != src[s.Orig:s.OrigEnd] {
			t.Errorf("sub %d: %q, want %q", i, got, want[i])
		}
	}
	if _, err := Expand([]byte("a: ${MISSING}\n"), lookup); err == nil || !strings.Contains(err.Error(), "MISSING is not set") {
		t.Errorf("unset: %v", err)
	}
}

// A UTF-8 byte-order mark is ignored (contract §2); Expand drops it too and
// says so.
func TestByteOrderMark(t *testing.T) {
	c := mustParse(t, "\ufeff"+minimal)
	if c.Frontends[0].Name != "web" || string(c.Raw[:3]) != "\ufeff" {
		t.Fatalf("%+v", c.Frontends)
	}
	e, err := Expand([]byte("\ufeffa: ${PORT}\n"), lookup)
	if err != nil || string(e.Text) != "a: 8080\n" || len(e.Subs) != 2 ||
		e.Subs[0].Ref != "\ufeff" || e.Subs[0].IsVar() || e.Subs[1].Orig != 6 || e.Subs[1].OrigEnd != 13 || e.Subs[1].Exp != 3 {
		t.Fatalf("%q %+v %v", e.Text, e.Subs, err)
	}
}
