// Client-side log filtering with the API's meaning (GET /api/v1/logs):
// status "5xx" or "503", client_ip an address or a CIDR prefix, q a
// substring of the path or host. The stream may send more than asked; the
// viewer filters again here.
import type { LogEntry } from '../api/types';

export interface LogFilter {
  frontend: string;
  backend: string;
  status: string;
  client_ip: string;
  q: string;
}

export const emptyFilter: LogFilter = { frontend: '', backend: '', status: '', client_ip: '', q: '' };

function v4(s: string): number[] | null {
  const p = s.split('.');
  if (p.length !== 4) return null;
  const n = p.map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : NaN));
  return n.every((x) => x >= 0 && x <= 255) ? n : null;
}

function words(x: string, v4tail: boolean): number[] | null {
  if (x === '') return [];
  const out: number[] = [];
  const parts = x.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (v4tail && i === parts.length - 1 && p.includes('.')) {
      const b = v4(p);
      if (!b) return null;
      out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    } else if (/^[0-9a-f]{1,4}$/i.test(p)) out.push(parseInt(p, 16));
    else return null;
  }
  return out;
}

function v6(s: string): number[] | null {
  if (!s.includes(':')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const h = words(halves[0], halves.length === 1);
  const t = halves.length === 2 ? words(halves[1], true) : [];
  if (!h || !t) return null;
  const fill = 8 - h.length - t.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const bytes: number[] = [];
  for (const w of [...h, ...new Array<number>(fill).fill(0), ...t]) bytes.push(w >> 8, w & 255);
  return bytes;
}

/** parseIP gives the bytes of an IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4), or null. */
export function parseIP(s: string): number[] | null {
  const a = v4(s) ?? v6(s.replace(/^\[|\]$/g, ''));
  if (a && a.length === 16 && a.slice(0, 10).every((x) => x === 0) && a[10] === 255 && a[11] === 255) return a.slice(12);
  return a;
}

/** ipMatch: want is an address (exact) or a CIDR prefix ("10.0.0.0/8"). */
export function ipMatch(ip: string, want: string): boolean {
  want = want.trim();
  if (!want) return true;
  const slash = want.indexOf('/');
  const a = parseIP(ip);
  if (slash < 0) {
    const w = parseIP(want);
    return a && w ? a.length === w.length && a.every((x, i) => x === w[i]) : ip === want;
  }
  const net = parseIP(want.slice(0, slash));
  const bits = Number(want.slice(slash + 1));
  if (!a || !net || a.length !== net.length || !Number.isInteger(bits) || bits < 0 || bits > a.length * 8) return false;
  for (let i = 0; i < bits; i++) {
    const m = 0x80 >> (i % 8);
    if ((a[i >> 3] & m) !== (net[i >> 3] & m)) return false;
  }
  return true;
}

export function statusMatch(status: number | undefined, want: string): boolean {
  want = want.trim().toLowerCase();
  if (!want) return true;
  if (status === undefined || status === 0) return false;
  if (/^[1-5]xx$/.test(want)) return Math.floor(status / 100) === Number(want[0]);
  return String(status) === want;
}

export function matches(e: LogEntry, f: LogFilter): boolean {
  if (f.frontend && e.frontend !== f.frontend) return false;
  if (f.backend && e.backend !== f.backend) return false;
  if (!statusMatch(e.status, f.status)) return false;
  if (f.client_ip && !ipMatch(e.client_ip, f.client_ip)) return false;
  if (f.q && !(e.path ?? '').includes(f.q) && !(e.host ?? '').includes(f.q)) return false;
  return true;
}
