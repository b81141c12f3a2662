package admin

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fuzzBody checks one body decoder: no panic; an error is a 400 bodyError
// with a message; a success survives a JSON round trip unchanged and its
// check never panics.
func fuzzBody[T any](f *testing.F, seeds []string, check func(*T) error) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v T
		err := decodeJSONBytes(b, &v)
		if err != nil {
			var be *bodyError
			if !errors.As(err, &be) || be.status != 400 || be.msg == "" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if check != nil {
			if err := check(&v); err != nil {
				var be *bodyError
				if !errors.As(err, &be) || be.status != 400 || !strings.Contains(be.msg, "field") && !strings.Contains(be.msg, "nothing to change") {
					t.Fatalf("check error %T %v", err, err)
				}
			}
		}
		again, err := json.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		var w T
		if err := decodeJSONBytes(again, &w); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip %+v != %+v", v, w)
		}
	})
}

func FuzzLoginBody(f *testing.F) {
	fuzzBody(f, []string{`{"username":"alice","password":"x"}`, `{"username":1}`, `{}`, `{"username":"a","password":"b"} x`, "\x00"},
		func(l *loginRequest) error { return l.check() })
}

func FuzzServerPatchBody(f *testing.F) {
	fuzzBody(f, []string{`{"weight":5}`, `{"drain":true,"enabled":false}`, `{"weight":-1}`, `{"weight":1e400}`, `{"weight":null}`},
		func(p *serverPatch) error { return p.check() })
}

func FuzzServerAddBody(f *testing.F) {
	fuzzBody(f, []string{`{"address":"10.0.0.1:80","weight":2}`, `{"address":""}`, `{"address":"[::1]:80","drain":true}`},
		func(a *serverAdd) error { return a.check() })
}

func FuzzKeyBody(f *testing.F) {
	fuzzBody(f, []string{`{"name":"ci","role":"viewer","expires":"720h"}`, `{"name":"x","role":"root"}`, `{"name":"\u0000"}`},
		func(k *keyRequest) error { _, _, err := k.check(); return err })
}

func FuzzSubscribeMessage(f *testing.F) {
	fuzzBody(f, []string{`{"subscribe":["stats","logs"],"logs":{"status":"5xx","client_ip":"10.0.0.0/8"}}`, `{"subscribe":[]}`, `{"logs":null}`},
		func(m *subscribeMsg) error { _, err := m.compile(); return err })
}

// FuzzRedactSecrets: redaction never panics, is idempotent, and leaves no
// value of a password_hash key on a line where it was found.
func FuzzRedactSecrets(f *testing.F) {
	f.Add([]byte("users:\n  - {name: a, password_hash: \"$2a$12$x\", role: admin}\n"))
	f.Add([]byte("password_hash: '$2a$12$y' # c\npassword_hash:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := redactSecrets(b)
		if string(redactSecrets(out)) != string(out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, redactSecrets(out))
		}
		for _, m := range passwordHashValue.FindAllSubmatch(out, -1) {
			if string(m[2]) != `"<redacted>"` {
				t.Fatalf("unredacted value %q in %q", m[2], out)
			}
		}
	})
}
