// EventList renders events (health transitions, reloads, config changes,
// alerts) newest first.
import type { Event } from '../api/types';
import { clock } from '../lib/format';

export function eventWhere(e: Event): string {
  return [e.frontend && 'frontend ' + e.frontend, e.backend && 'backend ' + e.backend, e.server].filter(Boolean).join(' · ');
}

export function EventList({ events, empty = 'No events yet.' }: { events: Event[]; empty?: string }) {
  if (!events.length) return <p class="muted">{empty}</p>;
  return (
    <ol class="events">
      {events.map((e) => (
        <li key={e.id} class={'ev sev-' + (e.severity || 'info')}>
          <time dateTime={e.time}>{clock(e.time)}</time>
          <span class={'badge ev-' + e.type}>{e.type}</span>
          <span class="ev-msg">
            {e.message}
            {e.reason && e.message.indexOf(e.reason) < 0 ? ` (${e.reason})` : ''}
          </span>
          <span class="ev-where muted">
            {eventWhere(e)}
            {e.actor ? ' · by ' + e.actor : ''}
          </span>
        </li>
      ))}
    </ol>
  );
}
