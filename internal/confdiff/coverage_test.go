package confdiff

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/config"
)

// Every key of the configuration, now and as fields are added to config
// later, shows up in the diff when it changes: the test changes each leaf
// field of a parsed configuration in turn (through reflection, so a new
// field is covered without touching this test) and expects a line.
func TestDiffCoversEveryField(t *testing.T) {
	text := base + `    rate_limit: {rate: 10/s}
`
	var leaves []string
	var walk func(v reflect.Value, path string, visit func(reflect.Value, string))
	walk = func(v reflect.Value, path string, visit func(reflect.Value, string)) {
		t := v.Type()
		if isScalar(t) || t == typHeaders {
			visit(v, path)
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				sf := t.Field(i)
				tag := sf.Tag.Get("yaml")
				if !sf.IsExported() || tag == "" || tag == "-" {
					continue
				}
				walk(v.Field(i), path+"."+tag, visit)
			}
		case reflect.Slice:
			if v.Len() > 0 {
				walk(v.Index(0), path+"[0]", visit)
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path, visit)
			}
		}
	}
	c := parse(t, text)
	walk(reflect.ValueOf(c).Elem(), "", func(_ reflect.Value, p string) { leaves = append(leaves, p) })
	if len(leaves) < 50 {
		t.Fatalf("only %d leaf fields found", len(leaves))
	}
	for _, leaf := range leaves {
		old, cur := parse(t, text), parse(t, text)
		changed := false
		walk(reflect.ValueOf(cur).Elem(), "", func(v reflect.Value, p string) {
			if p == leaf {
				changed = bump(v)
			}
		})
		if !changed {
			t.Errorf("%s: the test cannot change a %s", leaf, reflect.TypeOf(leaf))
			continue
		}
		if got := Diff(old, cur); len(got) == 0 {
			t.Errorf("%s changed, and the diff says nothing", leaf)
		}
	}
}

// bump changes a leaf value.
func bump(v reflect.Value) bool {
	switch v.Type() {
	case typDuration:
		v.SetInt(v.Int() + int64(time.Second))
		return true
	case typRate:
		v.Set(reflect.ValueOf(config.Rate{PerSecond: 7, Text: "7/s"}))
		return true
	case typCIDRs:
		v.Set(reflect.Append(v, reflect.ValueOf(netip.MustParsePrefix("192.0.2.0/24"))))
		return true
	case typHeaders:
		v.Set(reflect.Append(v, reflect.ValueOf(config.Header{Name: "X-Bump", Value: "1"})))
		return true
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Float64:
		v.SetFloat(v.Float() + 0.5)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
	default:
		return false
	}
	return true
}
