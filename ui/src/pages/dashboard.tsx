// Dashboard: live numbers, 15 minutes of per-frontend or per-backend
// charts, the health map of every server, and recent events.
import { useState } from 'preact/hooks';
import type { Stats } from '../api/types';
import { Chart, palette, type Line } from '../components/chart';
import { EventList } from '../components/events';
import { HealthMap } from '../components/healthmap';
import { bytes, duration, ms, num, pct } from '../lib/format';
import { events, hasData, key, latest, names, series, tick } from '../state/live';

type Scope = 'f' | 'b';

function totals(s: Stats) {
  let rps = 0, errs = 0, conns = 0, bin = 0, bout = 0, p99 = 0;
  for (const f of s.frontends ?? []) {
    rps += f.requests_per_sec;
    errs += f.requests_per_sec * f.error_rate;
    conns += f.active_connections;
    bin += f.bytes_in_per_sec;
    bout += f.bytes_out_per_sec;
    p99 = Math.max(p99, f.p99_ms);
  }
  let servers = 0, healthy = 0;
  for (const b of s.backends ?? [])
    for (const v of b.servers ?? []) {
      servers++;
      if (v.health === 'up' && v.enabled && !v.draining) healthy++;
    }
  return { rps, err: rps > 0 ? errs / rps : 0, conns, bin, bout, p99, servers, healthy };
}

function Stat({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div class="stat">
      <dt id={id}>{label}</dt>
      <dd aria-labelledby={id}>{value}</dd>
    </div>
  );
}

/** Charts redraw on the live tick only; they read the names, not the sample. */
function Charts() {
  const [scope, setScope] = useState<Scope>('f');
  const version = tick.value;
  const [fnames, bnames] = names.value.split('|').map((x) => (x ? x.split(',') : []));
  const ns = scope === 'f' ? fnames : bnames;
  const lines = (metric: string): Line[] => ns.map((n, i) => ({ key: key(scope, n, metric), label: n, color: palette[i % palette.length] }));
  const latency: Line[] = ns.flatMap((n, i) => [
    { key: key(scope, n, 'p50'), label: n + ' p50', color: palette[i % palette.length] },
    { key: key(scope, n, 'p99'), label: n + ' p99', color: palette[i % palette.length], dash: true },
  ]);
  const traffic: Line[] = fnames.flatMap((n, i) => [
    { key: key('f', n, 'bin'), label: n + ' in', color: palette[i % palette.length] },
    { key: key('f', n, 'bout'), label: n + ' out', color: palette[i % palette.length], dash: true },
  ]);
  const what = scope === 'f' ? 'frontend' : 'backend';
  return (
    <section aria-labelledby="charts-h">
      <div class="section-head">
        <h2 id="charts-h">Last 15 minutes</h2>
        <div class="seg" role="group" aria-label="Show charts per">
          <button type="button" class="btn small" aria-pressed={scope === 'f'} onClick={() => setScope('f')}>
            Frontends
          </button>
          <button type="button" class="btn small" aria-pressed={scope === 'b'} onClick={() => setScope('b')}>
            Backends
          </button>
        </div>
      </div>
      <div class="charts">
        <Chart id="c-rps" title={`Requests/s per ${what}`} lines={lines('rps')} series={series} version={version} fmt={(v) => num(v)} />
        <Chart id="c-err" title={`Error rate (5xx) per ${what}`} lines={lines('err')} series={series} version={version} fmt={(v) => num(v) + '%'} />
        <Chart id="c-lat" title={`Latency p50 / p99 (dashed) per ${what}`} lines={latency} series={series} version={version} fmt={(v) => ms(v)} />
        <Chart id="c-conn" title={`Active connections per ${what}`} lines={lines('conns')} series={series} version={version} fmt={(v) => num(v, 0)} />
        <Chart id="c-bytes" title="Bytes/s in and out (dashed) per frontend" lines={traffic} series={series} version={version} fmt={(v) => bytes(v)} />
      </div>
    </section>
  );
}

function Now() {
  const s = latest.value!;
  const t = totals(s);
  return (
    <dl class="stats" aria-label="Now">
      <Stat id="st-rps" label="Requests/s" value={num(t.rps)} />
      <Stat id="st-err" label="Errors (5xx)" value={pct(t.err)} />
      <Stat id="st-p99" label="Worst p99" value={ms(t.p99)} />
      <Stat id="st-conns" label="Connections" value={num(t.conns, 0)} />
      <Stat id="st-in" label="In/s" value={bytes(t.bin)} />
      <Stat id="st-out" label="Out/s" value={bytes(t.bout)} />
      <Stat id="st-srv" label="Servers up" value={`${t.healthy} / ${t.servers}`} />
      <Stat id="st-up" label="Uptime" value={duration(s.process?.uptime_seconds ?? 0)} />
    </dl>
  );
}

function ServerMap() {
  return <HealthMap backends={latest.value?.backends ?? []} />;
}

function Recent() {
  return <EventList events={events.value.slice(0, 15)} />;
}

export function Dashboard() {
  // Each part subscribes to what it shows: a stats sample re-renders the
  // numbers and the map, a tick the charts, an event the list.
  if (!hasData.value) {
    return (
      <p class="muted" role="status">
        Waiting for the first live sample from /api/v1/stream…
      </p>
    );
  }
  return (
    <div class="dashboard">
      <Now />
      <Charts />
      <section aria-labelledby="hm-h">
        <h2 id="hm-h">Health map</h2>
        <p class="muted small">One tile per server: the number is its weight, the bar its load. Hover or focus a tile for the reason and live numbers; Enter opens it.</p>
        <ServerMap />
      </section>
      <section aria-labelledby="ev-h">
        <h2 id="ev-h">Recent events</h2>
        <Recent />
      </section>
    </div>
  );
}
