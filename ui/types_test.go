package ui

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/state"
)

// stateTypes are the internal/state types the UI reads or sends; each has
// an interface of the same name in ui/src/api/types.ts.
var stateTypes = []any{
	state.Snapshot{}, state.Reload{}, state.Frontend{}, state.Route{}, state.Backend{}, state.Server{},
	state.Stats{}, state.FrontendStats{}, state.BackendStats{}, state.ServerStats{}, state.ProcessStats{},
	state.Event{}, state.LogEntry{}, state.ServerSpec{}, state.Result{}, state.ConfigError{},
	state.ExplainQuery{}, state.Explanation{}, state.RouteCheck{}, state.ServerCheck{},
}

var tsInterface = regexp.MustCompile(`(?ms)^export interface (\w+)(?: extends [^{]+)? \{\n(.*?)^\}`)
var tsField = regexp.MustCompile(`(?m)^  (\w+)\??:`)

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// TestClientTypesMatchState: the UI's types carry exactly the JSON names of
// internal/state, so a renamed or added field there fails here, not in a
// browser.
func TestClientTypesMatchState(t *testing.T) {
	src, err := os.ReadFile("src/api/types.ts")
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string][]string{}
	for _, m := range tsInterface.FindAllStringSubmatch(string(src), -1) {
		var fields []string
		for _, f := range tsField.FindAllStringSubmatch(m[2], -1) {
			fields = append(fields, f[1])
		}
		sort.Strings(fields)
		ts[m[1]] = fields
	}
	for _, v := range stateTypes {
		typ := reflect.TypeOf(v)
		got, ok := ts[typ.Name()]
		if !ok {
			t.Errorf("ui/src/api/types.ts has no interface %s (internal/state.%s)", typ.Name(), typ.Name())
			continue
		}
		if want := jsonFields(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("ui/src/api/types.ts %s fields %v, internal/state.%s JSON names %v", typ.Name(), got, typ.Name(), want)
		}
	}
}
