// Number, size, rate and time formatting shared by the pages.

export function num(v: number | undefined | null, digits = 1): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(digits) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(digits) + 'k';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a < 10 ? digits : 0);
}

export function pct(ratio: number | undefined | null): string {
  if (ratio === undefined || ratio === null || !Number.isFinite(ratio)) return '–';
  const p = ratio * 100;
  return (p === 0 ? '0' : p < 0.1 ? p.toFixed(2) : p.toFixed(1)) + '%';
}

export function ms(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + ' ms';
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function bytes(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(x)) : x.toFixed(1)) + ' ' + units[i];
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

/** clock renders an RFC 3339 time as local HH:MM:SS (with the date when not today). */
export function clock(t: string | undefined): string {
  if (!t) return '–';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return t;
  const hms = d.toLocaleTimeString(undefined, { hour12: false });
  const today = new Date();
  return d.toDateString() === today.toDateString() ? hms : d.toLocaleDateString() + ' ' + hms;
}

/** ago renders how long ago an RFC 3339 time was ("12s ago"). */
export function ago(t: string | undefined, now = Date.now()): string {
  if (!t) return '–';
  const d = new Date(t).getTime();
  if (Number.isNaN(d)) return t;
  return duration(Math.max(0, (now - d) / 1000)) + ' ago';
}
