package admin

import (
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// The answers of the read endpoints: the configuration (Snapshot) merged
// with the live numbers (Stats) by name and address. Field names are the
// API (docs/api.md).

type statusView struct {
	Version        string             `json:"version"`
	Commit         string             `json:"commit"`
	GoVersion      string             `json:"go_version"`
	Started        time.Time          `json:"started"`
	UptimeSeconds  float64            `json:"uptime_seconds"`
	ConfigFile     string             `json:"config_file"`
	ConfigChecksum string             `json:"config_checksum"`
	Generation     uint64             `json:"generation"`
	LastReload     state.Reload       `json:"last_reload"`
	Counts         countsView         `json:"counts"`
	Process        state.ProcessStats `json:"process"`
	StatsTime      time.Time          `json:"stats_time"`
	ShuttingDown   bool               `json:"shutting_down"`
	Streams        int64              `json:"streams"` // live stream clients attached
}

type countsView struct {
	Frontends         int     `json:"frontends"`
	Backends          int     `json:"backends"`
	Servers           int     `json:"servers"`
	ServersUp         int     `json:"servers_up"`
	ServersDown       int     `json:"servers_down"` // not up: down, half open, damped
	ActiveConnections int64   `json:"active_connections"`
	RequestsPerSec    float64 `json:"requests_per_sec"`
}

type frontendView struct {
	Name              string        `json:"name"`
	Mode              string        `json:"mode"`
	Listen            string        `json:"listen"`
	Backend           string        `json:"backend,omitempty"`
	TLS               bool          `json:"tls"`
	Routes            []state.Route `json:"routes"`
	ActiveConnections int64         `json:"active_connections"`
	RequestsPerSec    float64       `json:"requests_per_sec"`
	ErrorRate         float64       `json:"error_rate"`
	P50Ms             float64       `json:"p50_ms"`
	P99Ms             float64       `json:"p99_ms"`
	BytesInPerSec     float64       `json:"bytes_in_per_sec"`
	BytesOutPerSec    float64       `json:"bytes_out_per_sec"`
	Requests          uint64        `json:"requests_total"`
}

type backendView struct {
	Name              string       `json:"name"`
	Algorithm         string       `json:"algorithm"`
	HealthCheck       string       `json:"health_check"`
	ActiveConnections int64        `json:"active_connections"`
	RequestsPerSec    float64      `json:"requests_per_sec"`
	ErrorRate         float64      `json:"error_rate"`
	P50Ms             float64      `json:"p50_ms"`
	P99Ms             float64      `json:"p99_ms"`
	Servers           []serverView `json:"servers"`
}

// serverView: weight, enabled and drain are the configured (operator)
// values; the rest is live. A server removed by a reload and still
// draining has removed: true and no configured values.
type serverView struct {
	Address           string  `json:"address"`
	Weight            int     `json:"weight"`
	Enabled           bool    `json:"enabled"`
	Drain             bool    `json:"drain"`
	Health            string  `json:"health"` // up | down | half_open | damped | unknown (no sample yet)
	ActiveUp          bool    `json:"active_up"`
	PassiveUp         bool    `json:"passive_up"`
	Draining          bool    `json:"draining"`
	Removed           bool    `json:"removed"`
	EffectiveWeight   int     `json:"effective_weight"`
	ActiveConnections int64   `json:"active_connections"`
	RequestsPerSec    float64 `json:"requests_per_sec"`
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	Failures          uint64  `json:"failures_total"`
	Reason            string  `json:"reason,omitempty"`
	// DampedUntil: when flap damping trusts the server again (health
	// "damped" only). UpRatio: the share of the last hour it spent up.
	DampedUntil time.Time `json:"damped_until,omitzero"`
	UpRatio     float64   `json:"up_ratio_1h"`
	// History is the server's last health transitions (at most 100,
	// oldest first, with source and reason): GET /api/v1/backends/{name}
	// only.
	History []state.HealthTransition `json:"history,omitempty"`
}

func viewStatus(snap *state.Snapshot, st *state.Stats, now time.Time) statusView {
	v := statusView{Version: snap.Version, Commit: snap.Commit, GoVersion: snap.GoVersion, Started: snap.Started,
		UptimeSeconds: now.Sub(snap.Started).Seconds(), ConfigFile: snap.ConfigFile, ConfigChecksum: snap.Checksum,
		Generation: snap.Generation, LastReload: snap.LastReload}
	v.Counts.Frontends, v.Counts.Backends = len(snap.Frontends), len(snap.Backends)
	for _, b := range snap.Backends {
		v.Counts.Servers += len(b.Servers)
	}
	if st != nil {
		v.Process, v.StatsTime = st.Process, st.Time
		v.Counts.ActiveConnections = st.Process.ActiveConnections
		for _, f := range st.Frontends {
			v.Counts.RequestsPerSec += f.RequestsPerSec
		}
		for _, b := range st.Backends {
			for _, s := range b.Servers {
				if s.Removed {
					continue
				}
				if s.Health == state.HealthUp {
					v.Counts.ServersUp++
				} else {
					v.Counts.ServersDown++
				}
			}
		}
	}
	return v
}

func viewFrontend(f *state.Frontend, st *state.Stats) frontendView {
	v := frontendView{Name: f.Name, Mode: f.Mode, Listen: f.Listen, Backend: f.Backend, TLS: f.TLS, Routes: f.Routes}
	if v.Routes == nil {
		v.Routes = []state.Route{}
	}
	if st != nil {
		for i := range st.Frontends {
			if fs := &st.Frontends[i]; fs.Name == f.Name {
				v.ActiveConnections, v.RequestsPerSec, v.ErrorRate = fs.ActiveConnections, fs.RequestsPerSec, fs.ErrorRate
				v.P50Ms, v.P99Ms, v.BytesInPerSec, v.BytesOutPerSec, v.Requests = fs.P50Ms, fs.P99Ms, fs.BytesInPerSec, fs.BytesOutPerSec, fs.Requests
				break
			}
		}
	}
	return v
}

func viewBackend(b *state.Backend, st *state.Stats) backendView {
	v := backendView{Name: b.Name, Algorithm: b.Algorithm, HealthCheck: b.HealthCheck, Servers: make([]serverView, 0, len(b.Servers))}
	var bs *state.BackendStats
	if st != nil {
		for i := range st.Backends {
			if st.Backends[i].Name == b.Name {
				bs = &st.Backends[i]
				break
			}
		}
	}
	if bs != nil {
		v.ActiveConnections, v.RequestsPerSec, v.ErrorRate, v.P50Ms, v.P99Ms = bs.ActiveConnections, bs.RequestsPerSec, bs.ErrorRate, bs.P50Ms, bs.P99Ms
	}
	live := map[string]*state.ServerStats{}
	if bs != nil {
		for i := range bs.Servers {
			live[bs.Servers[i].Address] = &bs.Servers[i]
		}
	}
	for _, s := range b.Servers {
		sv := serverView{Address: s.Address, Weight: s.Weight, Enabled: s.Enabled, Drain: s.Drain, Health: "unknown"}
		if ss := live[s.Address]; ss != nil && !ss.Removed {
			fillLive(&sv, ss)
			delete(live, s.Address)
		}
		v.Servers = append(v.Servers, sv)
	}
	if bs != nil { // removed by a reload, still draining
		for i := range bs.Servers {
			if ss := &bs.Servers[i]; live[ss.Address] == ss {
				sv := serverView{Address: ss.Address}
				fillLive(&sv, ss)
				sv.Removed = true
				v.Servers = append(v.Servers, sv)
			}
		}
	}
	return v
}

func fillLive(v *serverView, s *state.ServerStats) {
	v.Health, v.ActiveUp, v.PassiveUp, v.Draining, v.Removed = s.Health, s.ActiveUp, s.PassiveUp, s.Draining, s.Removed
	v.EffectiveWeight, v.ActiveConnections, v.RequestsPerSec = s.Weight, s.ActiveConnections, s.RequestsPerSec
	v.P50Ms, v.P99Ms, v.Failures, v.Reason = s.P50Ms, s.P99Ms, s.Failures, s.Reason
	v.DampedUntil, v.UpRatio = s.DampedUntil, s.UpRatio
}
