package metrics

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Contract metric names (contract §4) plus Sluice's own additions. Never rename.
const (
	NameRequests          = "sluice_requests_total"
	NameRequestDuration   = "sluice_request_duration_seconds"
	NameActiveConnections = "sluice_active_connections"
	NameBackendHealth     = "sluice_backend_health"
	NameBackendRequests   = "sluice_backend_requests_total"
	NameBackendFailures   = "sluice_backend_failures_total"
	NameBackendActive     = "sluice_backend_active_connections"
	NameTCPSessions       = "sluice_tcp_sessions_total"
	NameBytes             = "sluice_bytes_total"
	NameConfigReloads     = "sluice_config_reloads_total"
	NameConfigLastReload  = "sluice_config_last_reload_success"
	NameRateLimited       = "sluice_ratelimited_total"
	NameDenied            = "sluice_denied_total"
	NameAccessLogDropped  = "sluice_access_log_dropped_total"
)

// familyInfo is the TYPE and HELP text written for each family Sluice owns.
var familyInfo = map[string][2]string{
	NameRequests:          {"counter", "HTTP requests answered, by frontend, backend and status code."},
	NameRequestDuration:   {"histogram", "HTTP request duration in seconds, from request head to response end."},
	NameActiveConnections: {"gauge", "Client connections currently open on a frontend."},
	NameBackendHealth:     {"gauge", "1 when the backend server is healthy, 0 when not."},
	NameBackendRequests:   {"counter", "Requests (http) or sessions (tcp) sent to a backend server."},
	NameBackendFailures:   {"counter", "Failures talking to a backend server, by reason (connect, timeout, reset, status_5xx)."},
	NameBackendActive:     {"gauge", "Connections or requests currently in flight to a backend server."},
	NameTCPSessions:       {"counter", "TCP sessions proxied, by frontend and backend."},
	NameBytes:             {"counter", "Bytes received from (in) and sent to (out) clients, by frontend."},
	NameConfigReloads:     {"counter", "Configuration reloads, by result (success, failure)."},
	NameConfigLastReload:  {"gauge", "1 when the last configuration load or reload succeeded, 0 when it failed."},
	NameRateLimited:       {"counter", "Requests (http) or connections (tcp) refused by a rate-limit rule."},
	NameDenied:            {"counter", "Clients refused by a frontend's access list."},
	NameAccessLogDropped:  {"counter", "Access-log lines dropped because the writer could not keep up."},
}

// EscapeLabelValue returns v escaped for use inside a double-quoted
// Prometheus label value: backslash, double quote and newline are escaped
// and invalid UTF-8 is replaced by U+FFFD. It allocates only when v needs
// changing; call it when building handles, never per request.
func EscapeLabelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") && utf8.ValidString(v) {
		return v
	}
	v = strings.ToValidUTF8(v, "\uFFFD")
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// seriesName builds `family{k1="v1",k2="v2"}` from label pairs (name, raw
// value, name, raw value, ...), escaping every value.
func seriesName(family string, kv ...string) string {
	if len(kv) == 0 {
		return family
	}
	var b strings.Builder
	b.WriteString(family)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(EscapeLabelValue(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// codeLabel is the `code` label value for status code c (see Pair.Code).
func codeLabel(c int) string {
	if c <= 0 || c >= maxCode {
		return "other"
	}
	return strconv.Itoa(c)
}
