// Live state for every page, fed by the stream while signed in: the latest
// stats sample, 15 minutes of per-frontend/backend series, the recent
// events, and the alerts that are firing.
import { computed, signal } from '@preact/signals';
import { ApiError, get, list } from '../api/client';
import { listen } from '../api/stream';
import type { AlertRule, Event, Stats } from '../api/types';
import { Series } from '../lib/series';

export const latest = signal<Stats | null>(null);
/** tick changes once per stats sample; charts redraw on it. */
export const tick = signal(0);
/** hasData: a first sample arrived (changes once, so pages can wait on it cheaply). */
export const hasData = computed(() => latest.value !== null);
/** names: the frontends and backends in the latest sample ("f1,f2|b1,b2"); changes only when one comes or goes. */
export const names = computed(() => {
  const s = latest.value;
  return s ? (s.frontends ?? []).map((f) => f.name).join(',') + '|' + (s.backends ?? []).map((b) => b.name).join(',') : '';
});
export const series = new Series();

const MAX_EVENTS = 200;
/** events: the newest first, at most MAX_EVENTS. */
export const events = signal<Event[]>([]);

/**
 * configured: each server's configured weight ("backend|address" → weight),
 * from GET /api/v1/backends, read again after a change or reload; the stream
 * carries only the weight in effect (0 while down, less during slow start).
 */
export const configured = signal<Map<string, number>>(new Map());

export function loadConfigured() {
  get<unknown>('/backends').then(
    (d) => {
      const m = new Map<string, number>();
      for (const b of list<{ name: string; servers?: { address: string; weight: number; removed?: boolean }[] }>(d, 'backends'))
        for (const s of b.servers ?? []) if (!s.removed) m.set(b.name + '|' + s.address, s.weight);
      configured.value = m;
    },
    () => {},
  );
}

/** alertsAvailable: null until known; false while /api/v1/alerts answers 404 (issue 22 not built in). */
export const alertsAvailable = signal<boolean | null>(null);
/** firing: alert name → when it started, from the alerts API and alert events. */
export const firing = signal<Map<string, { since: string; message: string }>>(new Map());

/** metric keys: "f:NAME:rps" for frontends, "b:NAME:rps" for backends. */
export const key = (scope: 'f' | 'b', name: string, metric: string) => `${scope}:${name}:${metric}`;

function record(s: Stats) {
  const v = new Map<string, number>();
  for (const f of s.frontends ?? []) {
    v.set(key('f', f.name, 'rps'), f.requests_per_sec);
    v.set(key('f', f.name, 'err'), f.error_rate * 100);
    v.set(key('f', f.name, 'p50'), f.p50_ms);
    v.set(key('f', f.name, 'p99'), f.p99_ms);
    v.set(key('f', f.name, 'conns'), f.active_connections);
    v.set(key('f', f.name, 'bin'), f.bytes_in_per_sec);
    v.set(key('f', f.name, 'bout'), f.bytes_out_per_sec);
  }
  for (const b of s.backends ?? []) {
    v.set(key('b', b.name, 'rps'), b.requests_per_sec);
    v.set(key('b', b.name, 'err'), b.error_rate * 100);
    v.set(key('b', b.name, 'p50'), b.p50_ms);
    v.set(key('b', b.name, 'p99'), b.p99_ms);
    v.set(key('b', b.name, 'conns'), b.active_connections);
  }
  const t = Date.parse(s.time);
  series.push(Math.round((Number.isNaN(t) ? Date.now() : t) / 1000), v);
  // Pages redraw once per frame with the newest sample: samples that queued
  // up while the page was busy or hidden are in the series, not drawn twice.
  pending = s;
  if (!frame) frame = requestAnimationFrame(show);
}

let pending: Stats | null = null;
let frame = 0;

// The charts (tick) and the rest (latest: numbers, health map, tables) are
// drawn in consecutive frames, so no one frame carries both.
function show() {
  frame = 0;
  if (!pending) return;
  tick.value = series.version;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (pending) latest.value = pending;
    pending = null;
  });
}

function addEvent(e: Event) {
  const cur = events.value;
  if (cur.length && cur[0].id >= e.id && e.id !== 0) return;
  events.value = [e, ...cur].slice(0, MAX_EVENTS);
  if (e.type === 'config' || e.type === 'reload') loadConfigured();
  if (e.type === 'alert' && e.alert) {
    const m = new Map(firing.value);
    if (e.state === 'firing') m.set(e.alert, { since: e.time, message: e.message });
    else m.delete(e.alert);
    firing.value = m;
  }
}

/**
 * recentEvents reads the events ring (GET /api/v1/events answers the
 * oldest first, the whole ring by default) and returns it newest first.
 */
export function recentEvents(): Promise<Event[]> {
  return get<unknown>('/events').then((d) => list<Event>(d, 'events').sort((a, b) => b.id - a.id));
}

let listening = false;

/** startLive follows the stream (once) and loads recent events and alert state (at each sign-in). */
export function startLive() {
  if (!listening) {
    listening = true;
    listen({
      stats: record,
      event: addEvent,
      reconnected: () => series.gap(Math.round(Date.now() / 1000)),
    });
  }
  recentEvents()
    .then((d) => {
      const have = new Set(events.value.map((e) => e.id));
      const old = d.filter((e) => !have.has(e.id));
      events.value = [...events.value, ...old].sort((a, b) => b.id - a.id).slice(0, MAX_EVENTS);
    })
    .catch(() => {});
  refreshAlerts().catch(() => {});
  loadConfigured();
}

/** refreshAlerts re-reads the alert rules' state (after an edit, or at start). */
export function refreshAlerts(): Promise<AlertRule[]> {
  return get<unknown>('/alerts').then(
    (d) => {
      alertsAvailable.value = true;
      const rules = list<AlertRule>(d, 'alerts');
      const m = new Map<string, { since: string; message: string }>();
      for (const r of rules) if (r.state === 'firing') m.set(r.name, { since: r.since ?? '', message: `${r.when} ${r.value ?? ''}`.trim() });
      firing.value = m;
      return rules;
    },
    (e) => {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) alertsAvailable.value = false;
      throw e;
    },
  );
}

/** resetLive forgets everything (sign-out). */
export function resetLive() {
  cancelAnimationFrame(frame);
  frame = 0;
  pending = null;
  latest.value = null;
  events.value = [];
  firing.value = new Map();
}
