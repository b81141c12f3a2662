// The admin API's JSON, mirrored from internal/state (state.go) field for
// field: an interface named like a Go struct has exactly that struct's JSON
// names (ui/types_test.go checks it). Types below the second banner are the
// API's own (admin package, issue 22 alerts).

// ---- internal/state ----

export interface Snapshot {
  version: string;
  commit: string;
  go_version: string;
  started: string;
  config_file: string;
  config_checksum: string;
  generation: number;
  last_reload: Reload;
  frontends: Frontend[];
  backends: Backend[];
}

export interface Reload {
  time: string;
  result: string; // success | failure
  source: string; // start | signal | watch | api | upgrade
  error?: string;
  changes?: string;
}

export interface Frontend {
  name: string;
  mode: string; // http | tcp
  listen: string;
  backend?: string;
  tls: boolean;
  routes?: Route[];
}

export interface Route {
  name?: string;
  host?: string;
  path_prefix?: string;
  methods?: string[];
  sni?: string[];
  backend: string;
}

export interface Backend {
  name: string;
  algorithm: string;
  health_check: string;
  servers: Server[];
}

export interface Server {
  address: string;
  weight: number;
  enabled: boolean;
  drain: boolean;
}

export interface Stats {
  time: string;
  frontends: FrontendStats[];
  backends: BackendStats[];
  process: ProcessStats;
}

export interface FrontendStats {
  name: string;
  active_connections: number;
  requests_per_sec: number;
  error_rate: number;
  p50_ms: number;
  p99_ms: number;
  bytes_in_per_sec: number;
  bytes_out_per_sec: number;
  requests_total: number;
  rate_limited_per_sec: number;
}

export interface BackendStats {
  name: string;
  active_connections: number;
  requests_per_sec: number;
  error_rate: number;
  p50_ms: number;
  p99_ms: number;
  rate_limited_per_sec: number;
  servers: ServerStats[];
}

export interface ServerStats {
  address: string;
  health: string; // up | down | half_open | damped
  active_up: boolean;
  passive_up: boolean;
  enabled: boolean;
  draining: boolean;
  removed: boolean;
  weight: number;
  active_connections: number;
  requests_per_sec: number;
  p50_ms: number;
  p99_ms: number;
  failures_total: number;
  reason?: string;
  damped_until?: string; // RFC 3339; health "damped" only
  up_ratio_1h: number; // share of the last hour spent up, 0..1
}

export interface ProcessStats {
  uptime_seconds: number;
  rss_bytes: number;
  open_fds: number;
  cpu_percent: number;
  active_connections: number;
  goroutines: number;
}

export interface Event {
  id: number;
  time: string;
  type: string; // health | reload | config | alert
  severity: string; // info | warn | error
  message: string;
  frontend?: string;
  backend?: string;
  server?: string;
  source?: string;
  reason?: string;
  actor?: string;
  alert?: string;
  state?: string;
}

export interface LogEntry {
  id: number;
  ts: string;
  frontend: string;
  mode?: string;
  client_ip: string;
  method?: string;
  host?: string;
  path?: string;
  backend: string;
  server: string;
  status?: number;
  duration_ms: number;
  bytes_in: number;
  bytes_out: number;
  close?: string;
}

export interface ServerSpec {
  address?: string;
  weight?: number;
  enabled?: boolean;
  drain?: boolean;
}

export interface Result {
  applied: boolean;
  dry_run: boolean;
  changes: string[] | null;
  persisted?: string;
  warnings?: string[];
  config_checksum?: string;
}

export interface ConfigError {
  file?: string;
  line: number;
  col: number;
  message: string;
}

export interface ExplainQuery {
  frontend: string;
  method: string;
  host: string;
  path: string;
  client_ip: string;
  sni?: string;
  headers?: Record<string, string>;
}

export interface Explanation {
  frontend: string;
  mode: string;
  client_ip: string;
  access: string;
  routes: RouteCheck[] | null;
  route: string;
  backend: string;
  servers: ServerCheck[] | null;
  pick: string;
  status?: number;
  reason?: string;
}

export interface RouteCheck {
  name: string;
  matched: boolean;
  reason?: string;
}

export interface ServerCheck {
  address: string;
  eligible: boolean;
  reason?: string;
}

// ---- the API's own shapes (internal/admin; alerts from issue 22) ----

export type Role = 'viewer' | 'operator' | 'admin';

/** GET /api/v1/me and POST /api/v1/login. */
export interface Me {
  user: string;
  role: Role;
  via?: string; // session | key
  key_id?: string;
  csrf_token?: string; // sessions only
  expires?: string; // sessions only
}

/**
 * A server of GET /api/v1/backends: weight, enabled and drain are the
 * configured values, the rest is live (weight in effect: effective_weight;
 * health "unknown" before the first sample).
 */
export type BackendServer = Server & Partial<Omit<ServerStats, 'weight'>> & { effective_weight?: number };

/** GET /api/v1/backends: configuration plus live state. */
export interface BackendView extends Partial<Omit<BackendStats, 'servers'>> {
  name: string;
  algorithm: string;
  health_check?: string;
  servers: BackendServer[];
}

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  created?: string;
  expires?: string;
  created_by?: string;
  expired?: boolean;
  key?: string; // only in the answer to POST
}

export interface AlertScope {
  frontend?: string;
  backend?: string;
  server?: string;
}

export interface AlertNotify {
  webhook?: string;
}

/** An alert rule as written in the config and through /api/v1/alerts, with its state. */
export interface AlertRule {
  name: string;
  when: string; // server_down | latency_p99 | error_rate | rate_limited | resource
  resource?: string; // rss | fds | cpu | connections (when = resource)
  scope?: AlertScope;
  threshold?: string | number;
  resolve_below?: string | number;
  for?: string;
  notify?: AlertNotify[];
  state?: string; // ok | pending | firing
  since?: string;
  value?: string | number;
}

/** Every error answer: {"error": {"code", "message", "errors" (422: every configuration error)}}. */
export interface ApiErrorBody {
  error?: { code?: string; message?: string; errors?: ConfigError[] };
}
