// HealthHistory lists one server's health transitions (events of type
// health for that backend and address), newest first.
import { useEffect, useState } from 'preact/hooks';
import { describe } from '../api/client';
import type { Event } from '../api/types';
import { clock } from '../lib/format';
import { events as live, recentEvents } from '../state/live';

export function HealthHistory({ backend, server }: { backend: string; server: string }) {
  const [loaded, setLoaded] = useState<Event[] | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    recentEvents().then(setLoaded, (e) => setErr(describe(e)));
  }, [backend, server]);
  const mine = (e: Event) => e.type === 'health' && e.backend === backend && e.server === server;
  const byId = new Map<number, Event>();
  for (const e of loaded ?? []) if (mine(e)) byId.set(e.id, e);
  for (const e of live.value) if (mine(e)) byId.set(e.id, e);
  const rows = Array.from(byId.values()).sort((a, b) => b.id - a.id);
  if (err) return <p class="error" role="alert">{err}</p>;
  if (!loaded) return <p class="muted" role="status">Loading…</p>;
  if (!rows.length) return <p class="muted">No health transitions recorded for {server} (the events ring keeps the recent ones).</p>;
  return (
    <table class="table compact">
      <caption class="sr-only">Health transitions of {server}</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">State</th>
          <th scope="col">Check</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((e) => (
          <tr key={e.id}>
            <td data-label="Time"><time dateTime={e.time}>{clock(e.time)}</time></td>
            <td data-label="State"><span class={'badge h-' + (e.state ?? '')}>{e.state ?? '–'}</span></td>
            <td data-label="Check">{e.source ?? '–'}</td>
            <td data-label="Reason">{e.reason || e.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
