// The live stream (GET /api/v1/stream, a WebSocket): stats once a second,
// events and access-log lines as they happen. One connection for the whole
// UI; pages add listeners, and the log topic is asked for only while some
// listener wants log lines. It reconnects with backoff; when the server
// closes it, /me tells whether the session ended (then the 401 handler runs).
import { signal } from '@preact/signals';
import { BASE, get } from './client';
import type { Event, LogEntry, Me, Stats } from './types';

export type StreamStatus = 'connecting' | 'open' | 'closed';

/** status is the stream's connection state, shown in the header. */
export const status = signal<StreamStatus>('closed');

export interface LogFilterMsg {
  frontend?: string;
  backend?: string;
  status?: string;
  client_ip?: string;
  q?: string;
}

export interface Listener {
  stats?(s: Stats): void;
  event?(e: Event): void;
  log?(l: LogEntry): void;
  /** reconnected: the stream came back after a gap (a chart may mark it). */
  reconnected?(): void;
  /** logs: this listener wants log lines (the topic is asked for while any does). */
  logs?: boolean;
  logsFilter?: LogFilterMsg;
}

const listeners = new Set<Listener>();
let ws: WebSocket | null = null;
let wanted = false;
let backoff = 1000;
let timer: ReturnType<typeof setTimeout> | undefined;
let opened = false;

function url() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${BASE}/stream`;
}

/** subscribeMessage: {"subscribe": [topics], "logs": {filter}} replaces what the server sends us. */
function subscribeMessage(): string {
  const topics = ['stats', 'events'];
  let filter: LogFilterMsg | undefined;
  for (const l of listeners)
    if (l.logs) {
      if (!topics.includes('logs')) topics.push('logs');
      filter = l.logsFilter;
    }
  const f = filter && Object.fromEntries(Object.entries(filter).filter(([, v]) => v));
  return JSON.stringify(f && Object.keys(f).length ? { subscribe: topics, logs: f } : { subscribe: topics });
}

function resubscribe() {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(subscribeMessage());
}

/**
 * Frame is one server message: {"type": "stats", "stats": {...}}, "event", "logs" (a batch of
 * log lines, oldest first: one frame per 50 ms at most), "subscribed", "error"; "log" (one line)
 * is what servers before batching sent.
 */
interface Frame {
  type?: string;
  stats?: Stats;
  event?: Event;
  logs?: LogEntry[];
  log?: LogEntry;
  error?: { message?: string };
}

function dispatch(raw: string) {
  let m: Frame;
  try {
    m = JSON.parse(raw);
  } catch {
    return;
  }
  if (m.type === 'error') console.warn('stream:', m.error?.message);
  for (const l of listeners) {
    if (m.type === 'stats' && m.stats) l.stats?.(m.stats);
    else if (m.type === 'event' && m.event) l.event?.(m.event);
    else if (m.type === 'logs' && Array.isArray(m.logs) && l.logs) for (const e of m.logs) l.log?.(e);
    else if (m.type === 'log' && m.log && l.logs) l.log?.(m.log);
  }
}

function connect() {
  if (!wanted || ws) return;
  status.value = 'connecting';
  const sock = new WebSocket(url());
  ws = sock;
  sock.onopen = () => {
    const again = opened;
    opened = true;
    backoff = 1000;
    status.value = 'open';
    sock.send(subscribeMessage());
    if (again) for (const l of listeners) l.reconnected?.();
  };
  sock.onmessage = (e) => {
    if (typeof e.data === 'string') dispatch(e.data);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    status.value = 'closed';
    if (!wanted) return;
    // A closed stream may be an ended session: /me answers 401 and the
    // session handler takes the user to the login page.
    get<Me>('/me').catch(() => {});
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
}

/** start opens the stream (after sign-in); stop closes it (sign-out). */
export function start() {
  wanted = true;
  connect();
}

export function stop() {
  wanted = false;
  opened = false;
  clearTimeout(timer);
  const s = ws;
  ws = null;
  s?.close(1000, 'signed out');
  status.value = 'closed';
}

/** listen adds a listener and returns its removal. update() re-sends the topics after a filter change. */
export function listen(l: Listener): { remove(): void; update(): void } {
  listeners.add(l);
  if (l.logs) resubscribe();
  return {
    remove() {
      listeners.delete(l);
      if (l.logs) resubscribe();
    },
    update: resubscribe,
  };
}
