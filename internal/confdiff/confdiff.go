// Package confdiff compares two configurations and says what a reload
// from the first to the second would change, in the terms an operator
// thinks in: "backend app: server 10.0.0.3:80 added", "backend app: weight
// of 10.0.0.1:80 3 → 5", "frontend web: route api (path /api/) → api
// added", "frontend admin2 added: listener 0.0.0.0:8443 would be bound".
// It serves `sluice validate --diff-against` and the admin API's dry runs
// (PUT /api/v1/config?dry_run=true); it reads configurations and binds,
// resolves and changes nothing.
//
// Every field of config.Config is compared: frontends, listeners, routes,
// backends, servers and their weights and operator state get phrases of
// their own; every other key (timeouts, limits, access lists, rate limits,
// health checks, admin, logging, and keys added to config later) is
// compared field by field through its YAML name, so nothing a reload would
// change goes unsaid. Values that look like secrets (a key named like
// password, secret, token or hash) are reported as changed without being
// printed.
package confdiff

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/internal/config"
)

// Diff returns one line per change from old to new, in a stable order:
// process-wide keys, then frontends (in new's order, removed ones last),
// then backends likewise. No change gives an empty list. Both configs must
// be as Load or Parse returned them (defaults filled); neither is modified.
func Diff(old, new *config.Config) []string {
	d := &differ{}
	d.fields("", "", reflect.ValueOf(*old), reflect.ValueOf(*new), map[string]bool{"frontends": true, "backends": true})
	d.frontends(old, new)
	d.backends(old, new)
	return d.out
}

type differ struct{ out []string }

func (d *differ) add(scope, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if scope != "" {
		line = scope + ": " + line
	}
	d.out = append(d.out, line)
}

// frontends compares the listeners and what they route.
func (d *differ) frontends(old, new *config.Config) {
	olds := map[string]*config.Frontend{}
	for i := range old.Frontends {
		olds[old.Frontends[i].Name] = &old.Frontends[i]
	}
	seen := map[string]bool{}
	for i := range new.Frontends {
		f := &new.Frontends[i]
		seen[f.Name] = true
		o := olds[f.Name]
		scope := "frontend " + f.Name
		if o == nil {
			d.add("", "frontend %s added (%s, %s): listener %s would be bound", f.Name, f.Mode, target(f), f.Listen)
			continue
		}
		switch {
		case o.Listen != f.Listen:
			d.add(scope, "listen %s → %s: listener %s would be bound, %s closed", o.Listen, f.Listen, f.Listen, o.Listen)
		case o.Mode != f.Mode:
			d.add(scope, "mode %s → %s: a new listener on %s would be bound, the old one closed", o.Mode, f.Mode, f.Listen)
		case f.IsHTTP() && (o.MaxConnections != f.MaxConnections || f.Limits.MaxHeaderBytes > o.Limits.MaxHeaderBytes):
			// Fixed when an http listener starts (internal/app keeps).
			d.add(scope, "a new listener on %s would be bound, the old one closed (max_connections and a larger limits.max_header_bytes need one)", f.Listen)
		}
		if o.Backend != f.Backend {
			d.add(scope, "%s %s → %s", defaultWord(f), orNone(o.Backend), orNone(f.Backend))
		}
		d.routes(scope, o.Routes, f.Routes)
		d.fields(scope, "", reflect.ValueOf(*o), reflect.ValueOf(*f),
			map[string]bool{"name": true, "listen": true, "mode": true, "backend": true, "routes": true})
	}
	for i := range old.Frontends {
		if o := &old.Frontends[i]; !seen[o.Name] {
			d.add("", "frontend %s removed: listener %s would be closed (connections finish within shutdown_timeout)", o.Name, o.Listen)
		}
	}
}

func defaultWord(f *config.Frontend) string {
	if f.IsHTTP() {
		return "default backend"
	}
	return "backend"
}

// target says where a new frontend sends traffic.
func target(f *config.Frontend) string {
	switch {
	case len(f.Routes) > 0 && f.Backend != "":
		return fmt.Sprintf("%d routes, default backend %s", len(f.Routes), f.Backend)
	case len(f.Routes) > 0:
		return fmt.Sprintf("%d routes", len(f.Routes))
	case f.Backend != "":
		return "backend " + f.Backend
	}
	return "no backend"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// routes compares routes by name, and their order.
func (d *differ) routes(scope string, old, new []config.Route) {
	olds := map[string]*config.Route{}
	for i := range old {
		olds[old[i].Name] = &old[i]
	}
	seen := map[string]bool{}
	for i := range new {
		r := &new[i]
		seen[r.Name] = true
		o := olds[r.Name]
		if o == nil {
			d.add(scope, "route %s (%s) → %s added at position %d", r.Name, describeMatch(&r.Match), r.Backend, i+1)
			continue
		}
		rs := scope + ": route " + r.Name
		if o.Backend != r.Backend {
			d.add(rs, "backend %s → %s", o.Backend, r.Backend)
		}
		d.fields(rs, "", reflect.ValueOf(*o), reflect.ValueOf(*r), map[string]bool{"name": true, "backend": true})
	}
	for i := range old {
		if !seen[old[i].Name] {
			d.add(scope, "route %s (%s) → %s removed", old[i].Name, describeMatch(&old[i].Match), old[i].Backend)
		}
	}
	var ob, nb []string // common routes in old and new order
	for _, r := range old {
		if seen[r.Name] {
			ob = append(ob, r.Name)
		}
	}
	for _, r := range new {
		if olds[r.Name] != nil {
			nb = append(nb, r.Name)
		}
	}
	if strings.Join(ob, ",") != strings.Join(nb, ",") {
		d.add(scope, "routes reordered (first match wins): %s → %s", strings.Join(ob, ", "), strings.Join(nb, ", "))
	}
}

func describeMatch(m *config.RouteMatch) string {
	var parts []string
	if m.Host != "" {
		parts = append(parts, "host "+m.Host)
	}
	if m.PathPrefix != "" {
		parts = append(parts, "path "+m.PathPrefix)
	}
	if len(m.Methods) > 0 {
		parts = append(parts, "methods "+strings.Join(m.Methods, ","))
	}
	if len(m.SNI) > 0 {
		parts = append(parts, "sni "+strings.Join(m.SNI, ","))
	}
	if len(parts) == 0 {
		return "every request"
	}
	return strings.Join(parts, ", ")
}

// backends compares pools and their servers.
func (d *differ) backends(old, new *config.Config) {
	olds := map[string]*config.Backend{}
	for i := range old.Backends {
		olds[old.Backends[i].Name] = &old.Backends[i]
	}
	seen := map[string]bool{}
	for i := range new.Backends {
		b := &new.Backends[i]
		seen[b.Name] = true
		o := olds[b.Name]
		scope := "backend " + b.Name
		if o == nil {
			d.add("", "backend %s added (%s, %s)", b.Name, b.Algorithm, count(len(b.Servers), "server"))
			continue
		}
		if o.Algorithm != b.Algorithm {
			d.add(scope, "algorithm %s → %s", o.Algorithm, b.Algorithm)
		}
		d.servers(scope, o, b)
		d.fields(scope, "", reflect.ValueOf(*o), reflect.ValueOf(*b), map[string]bool{"name": true, "algorithm": true, "servers": true})
	}
	for i := range old.Backends {
		if o := &old.Backends[i]; !seen[o.Name] {
			d.add("", "backend %s removed: its %s drain (up to %s)", o.Name, count(len(o.Servers), "server"), dur(o.DrainTimeout))
		}
	}
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// sameServer matches addresses as config's duplicate check does.
func sameServer(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	x, err1 := netip.ParseAddrPort(a)
	y, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && x.Port() == y.Port() && x.Addr().Unmap() == y.Addr().Unmap()
}

func (d *differ) servers(scope string, o, b *config.Backend) {
	used := make([]bool, len(o.Servers))
	find := func(addr string) *config.Server {
		for i := range o.Servers {
			if !used[i] && o.Servers[i].Address == addr {
				used[i] = true
				return &o.Servers[i]
			}
		}
		for i := range o.Servers {
			if !used[i] && sameServer(o.Servers[i].Address, addr) {
				used[i] = true
				return &o.Servers[i]
			}
		}
		return nil
	}
	for i := range b.Servers {
		s := &b.Servers[i]
		os := find(s.Address)
		if os == nil {
			d.add(scope, "server %s added (%s)", s.Address, serverState(s))
			continue
		}
		if os.Weight != s.Weight {
			d.add(scope, "weight of %s %d → %d", s.Address, os.Weight, s.Weight)
		}
		if os.Enabled != s.Enabled {
			if s.Enabled {
				d.add(scope, "server %s enabled", s.Address)
			} else {
				d.add(scope, "server %s disabled (out of rotation, its connections finish)", s.Address)
			}
		}
		if os.Drain != s.Drain {
			if s.Drain {
				d.add(scope, "server %s draining (no new connections, its connections finish)", s.Address)
			} else {
				d.add(scope, "server %s undrained (takes new connections)", s.Address)
			}
		}
		if os.Address != s.Address {
			d.add(scope, "server %s written as %s", os.Address, s.Address)
		}
		d.fields(scope+": server "+s.Address, "", reflect.ValueOf(*os), reflect.ValueOf(*s),
			map[string]bool{"address": true, "weight": true, "enabled": true, "drain": true})
	}
	for i := range o.Servers {
		if !used[i] {
			d.add(scope, "server %s removed (drains up to %s)", o.Servers[i].Address, dur(b.DrainTimeout))
		}
	}
}

func serverState(s *config.Server) string {
	parts := []string{"weight " + strconv.Itoa(s.Weight)}
	if !s.Enabled {
		parts = append(parts, "disabled")
	}
	if s.Drain {
		parts = append(parts, "draining")
	}
	return strings.Join(parts, ", ")
}

// Generic comparison, by YAML key.

var (
	typDuration = reflect.TypeFor[time.Duration]()
	typSize     = reflect.TypeFor[config.Size]()
	typRate     = reflect.TypeFor[config.Rate]()
	typCIDRs    = reflect.TypeFor[config.CIDRs]()
	typHeaders  = reflect.TypeFor[config.HeaderSet]()
)

// fields compares the YAML fields of two structs of one type, except skip.
// prefix is the dotted key path so far.
func (d *differ) fields(scope, prefix string, a, b reflect.Value, skip map[string]bool) {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if !sf.IsExported() || tag == "" || tag == "-" || prefix == "" && skip[tag] {
			continue
		}
		d.value(scope, join(prefix, tag), a.Field(i), b.Field(i))
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// value compares one field.
func (d *differ) value(scope, key string, a, b reflect.Value) {
	t := a.Type()
	switch {
	case t == typHeaders:
		d.headers(scope, key, a.Interface().(config.HeaderSet), b.Interface().(config.HeaderSet))
		return
	case isScalar(t):
		if fa, fb := format(a), format(b); fa != fb {
			if secret(key) {
				d.add(scope, "%s changed", key)
			} else {
				d.add(scope, "%s %s → %s", key, fa, fb)
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.fields(scope, key, a, b, nil)
	case reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil():
			d.add(scope, "%s added (%s)", key, summary(b.Elem()))
		case b.IsNil():
			d.add(scope, "%s removed", key)
		default:
			d.value(scope, key, a.Elem(), b.Elem())
		}
	case reflect.Slice:
		d.list(scope, key, a, b)
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			d.add(scope, "%s changed", key)
		}
	}
}

// list compares a list of structs by name (or address), else by position.
func (d *differ) list(scope, key string, a, b reflect.Value) {
	idField := ""
	if et := a.Type().Elem(); et.Kind() == reflect.Struct {
		for _, f := range []string{"Name", "Address"} {
			if sf, ok := et.FieldByName(f); ok && sf.Type.Kind() == reflect.String {
				idField = f
				break
			}
		}
	}
	if idField == "" {
		if a.Len() != b.Len() || !reflect.DeepEqual(a.Interface(), b.Interface()) {
			if et := a.Type().Elem(); et.Kind() == reflect.Struct && a.Len() == b.Len() {
				for i := 0; i < a.Len(); i++ {
					d.fields(scope, fmt.Sprintf("%s[%d]", key, i), a.Index(i), b.Index(i), nil)
				}
				return
			}
			d.add(scope, "%s %s → %s", key, format(a), format(b))
		}
		return
	}
	item := strings.TrimSuffix(strings.ReplaceAll(lastKey(key), "_", " "), "s")
	id := func(v reflect.Value) string { return v.FieldByName(idField).String() }
	olds := map[string]int{}
	for i := 0; i < a.Len(); i++ {
		olds[id(a.Index(i))] = i
	}
	seen := map[string]bool{}
	var ob, nb []string
	for i := 0; i < b.Len(); i++ {
		n := id(b.Index(i))
		seen[n] = true
		j, ok := olds[n]
		if !ok {
			d.add(scope, "%s %s added (%s)", item, n, summary(b.Index(i), strings.ToLower(idField)))
			continue
		}
		nb = append(nb, n)
		sub := item + " " + n
		if scope != "" {
			sub = scope + ": " + sub
		}
		d.fields(sub, "", a.Index(j), b.Index(i), map[string]bool{strings.ToLower(idField): true})
	}
	for i := 0; i < a.Len(); i++ {
		n := id(a.Index(i))
		if !seen[n] {
			d.add(scope, "%s %s removed", item, n)
		} else {
			ob = append(ob, n)
		}
	}
	if strings.Join(ob, "\x00") != strings.Join(nb, "\x00") {
		d.add(scope, "%s reordered: %s → %s", key, strings.Join(ob, ", "), strings.Join(nb, ", "))
	}
}

func lastKey(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

func (d *differ) headers(scope, key string, a, b config.HeaderSet) {
	olds := map[string]string{}
	for _, h := range a {
		olds[strings.ToLower(h.Name)] = h.Value
	}
	seen := map[string]bool{}
	for _, h := range b {
		l := strings.ToLower(h.Name)
		seen[l] = true
		ov, ok := olds[l]
		switch {
		case !ok:
			d.add(scope, "%s %s: %s added", key, h.Name, h.Value)
		case ov != h.Value:
			d.add(scope, "%s %s: %s → %s", key, h.Name, ov, h.Value)
		}
	}
	for _, h := range a {
		if !seen[strings.ToLower(h.Name)] {
			d.add(scope, "%s %s removed", key, h.Name)
		}
	}
}

func secret(key string) bool {
	k := strings.ToLower(lastKey(key))
	for _, s := range []string{"password", "secret", "token", "hash"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func isScalar(t reflect.Type) bool {
	switch t {
	case typDuration, typSize, typRate, typCIDRs:
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return isScalar(t.Elem()) || t.Elem().Kind() == reflect.String
	}
	return false
}

// format writes a value as the file would.
func format(v reflect.Value) string {
	switch v.Type() {
	case typDuration:
		return dur(time.Duration(v.Int()))
	case typSize:
		return config.Size(v.Int()).String()
	case typRate:
		r := v.Interface().(config.Rate)
		if r.Text == "" {
			return "(none)"
		}
		return r.Text
	case typCIDRs:
		c := v.Interface().(config.CIDRs)
		parts := make([]string, len(c))
		for i, p := range c {
			parts[i] = p.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Struct:
		return summary(v)
	}
	return fmt.Sprint(v.Interface())
}

// summary writes the non-zero scalar fields of a struct but skip:
// "rate 100/s, burst 20".
func summary(v reflect.Value, skip ...string) string {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return format(v)
	}
	var parts []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if !sf.IsExported() || tag == "" || tag == "-" || !isScalar(sf.Type) || v.Field(i).IsZero() || slices.Contains(skip, tag) {
			continue
		}
		if secret(tag) {
			parts = append(parts, tag+" set")
			continue
		}
		parts = append(parts, tag+" "+format(v.Field(i)))
	}
	return strings.Join(parts, ", ")
}

// dur writes a duration the way a configuration does: 1m rather than 1m0s.
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
