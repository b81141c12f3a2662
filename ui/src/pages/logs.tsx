// LogsPage: a live tail of the access log (GET /logs for the recent ring,
// then the stream's log topic) with filters, pause/resume that buffers up
// to a bound, a detail view, and events interleaved on request.
import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { describe, get, list, query } from '../api/client';
import { listen } from '../api/stream';
import type { Event as SEvent, LogEntry } from '../api/types';
import { Modal } from '../components/dialogs';
import { eventWhere } from '../components/events';
import { bytes, clock, ms } from '../lib/format';
import { emptyFilter, matches, type LogFilter } from '../lib/logfilter';
import { events as liveEvents, latest } from '../state/live';

/** SHOWN rows at most; PENDING entries at most are kept while paused (older ones are dropped and counted). */
export const SHOWN = 500;
export const PENDING = 5000;

type Item = { kind: 'log'; e: LogEntry; t: number } | { kind: 'event'; e: SEvent; t: number };

class LogRow extends Component<{ e: LogEntry; open(e: LogEntry): void }> {
  shouldComponentUpdate(n: { e: LogEntry }) {
    return n.e !== this.props.e;
  }
  render({ e, open }: { e: LogEntry; open(e: LogEntry): void }) {
    const cls = e.status ? 's' + Math.floor(e.status / 100) + 'xx' : 'tcp';
    return (
      <tr class={'log ' + cls} data-status={e.status ?? ''}>
        <td data-label="Time">
          <button type="button" class="link" onClick={() => open(e)} aria-label={`Details of ${e.method ?? 'session'} ${e.path ?? ''} at ${clock(e.ts)}`}>
            {clock(e.ts)}
          </button>
        </td>
        <td data-label="Status"><span class={'badge ' + cls}>{e.status || e.mode || '–'}</span></td>
        <td data-label="Request" class="req">
          {e.method ? `${e.method} ${e.host ?? ''}${e.path ?? ''}` : `tcp ${e.close ?? ''}`}
        </td>
        <td data-label="Client">{e.client_ip}</td>
        <td data-label="Frontend">{e.frontend}</td>
        <td data-label="Backend">{e.backend}{e.server ? ' → ' + e.server : ''}</td>
        <td data-label="Time taken">{ms(e.duration_ms)}</td>
        <td data-label="Bytes">{bytes(e.bytes_in)} / {bytes(e.bytes_out)}</td>
      </tr>
    );
  }
}

function EventRow({ e }: { e: SEvent }) {
  return (
    <tr class={'log event sev-' + (e.severity || 'info')}>
      <td data-label="Time"><time dateTime={e.time}>{clock(e.time)}</time></td>
      <td data-label="Status"><span class={'badge ev-' + e.type}>{e.type}</span></td>
      <td data-label="Event" colSpan={6} class="req">
        {e.message} <span class="muted">{eventWhere(e)}</span>
      </td>
    </tr>
  );
}

function Detail({ e, close }: { e: LogEntry; close(): void }) {
  const fields: [string, string][] = Object.entries(e)
    .filter(([k]) => k !== 'id')
    .map(([k, v]) => [k, String(v)]);
  return (
    <Modal title={`${e.method ?? 'TCP session'} ${e.path ?? ''}`} onClose={close} wide>
      <dl class="detail">
        {fields.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <details>
        <summary>JSON</summary>
        <pre class="json">{JSON.stringify(e, null, 2)}</pre>
      </details>
    </Modal>
  );
}

export function LogsPage() {
  const [filter, setFilter] = useState<LogFilter>(emptyFilter);
  const [applied, setApplied] = useState<LogFilter>(emptyFilter);
  const [rows, setRows] = useState<LogEntry[]>([]);
  const [paused, setPaused] = useState(false);
  const [pendingCount, setPendingCount] = useState(0);
  const [dropped, setDropped] = useState(0);
  const [withEvents, setWithEvents] = useState(false);
  const [open, setOpen] = useState<LogEntry | null>(null);
  const [err, setErr] = useState('');
  const inbox = useRef<LogEntry[]>([]);
  const pending = useRef<LogEntry[]>([]);
  const pausedRef = useRef(false);
  const dropRef = useRef(0);
  const frame = useRef(0);
  const filterRef = useRef(applied);

  // Entries arriving within one frame are shown together.
  const flush = () => {
    frame.current = 0;
    // Entries taken under an older filter are dropped here.
    const got = inbox.current.filter((e) => matches(e, filterRef.current));
    inbox.current = [];
    if (!got.length) return;
    if (pausedRef.current) {
      pending.current.push(...got);
      const over = pending.current.length - PENDING;
      if (over > 0) {
        pending.current.splice(0, over);
        dropRef.current += over;
        setDropped(dropRef.current);
      }
      setPendingCount(pending.current.length);
      return;
    }
    got.reverse();
    setRows((cur) => [...got, ...cur].slice(0, SHOWN));
  };

  useEffect(() => {
    filterRef.current = applied;
    inbox.current = [];
    const l = listen({
      logs: true,
      logsFilter: applied,
      log: (e) => {
        if (!matches(e, applied)) return;
        inbox.current.push(e);
        if (!frame.current) frame.current = requestAnimationFrame(flush);
      },
    });
    let live = true;
    get<unknown>('/logs' + query({ ...applied, limit: 200 })).then(
      (d) => {
        if (!live) return;
        const old = list<LogEntry>(d, 'entries').filter((e) => matches(e, applied));
        setRows((cur) => {
          const seen = new Set(cur.map((e) => e.id));
          return [...cur, ...old.filter((e) => !seen.has(e.id))].sort((a, b) => b.id - a.id).slice(0, SHOWN);
        });
        setErr('');
      },
      (e) => live && setErr(describe(e)),
    );
    return () => {
      live = false;
      l.remove();
      cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [applied]);

  const submit = (e: Event) => {
    e.preventDefault();
    setRows([]);
    pending.current = [];
    inbox.current = [];
    setPendingCount(0);
    setApplied({ ...filter });
  };
  const togglePause = () => {
    if (pausedRef.current) {
      const got = pending.current.reverse();
      pending.current = [];
      setPendingCount(0);
      setRows((cur) => [...got, ...cur].slice(0, SHOWN));
    }
    pausedRef.current = !pausedRef.current;
    setPaused(pausedRef.current);
  };

  const s = latest.value;
  const fes = (s?.frontends ?? []).map((f) => f.name);
  const bes = (s?.backends ?? []).map((b) => b.name);
  const set = (k: keyof LogFilter) => (e: Event) => setFilter({ ...filter, [k]: (e.currentTarget as HTMLInputElement).value });

  let items: Item[] = rows.map((e) => ({ kind: 'log', e, t: Date.parse(e.ts) }));
  if (withEvents && rows.length) {
    const oldest = items[items.length - 1].t;
    const evs: Item[] = liveEvents.value.filter((e) => Date.parse(e.time) >= oldest).map((e) => ({ kind: 'event', e, t: Date.parse(e.time) }));
    items = [...items, ...evs].sort((a, b) => b.t - a.t);
  }

  return (
    <div class="logs">
      <form class="form-grid filters" onSubmit={submit} aria-label="Filter the access log">
        <div class="field">
          <label for="lf-fe">Frontend</label>
          <select id="lf-fe" value={filter.frontend} onChange={set('frontend')}>
            <option value="">any</option>
            {fes.map((n) => <option key={n}>{n}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="lf-be">Backend</label>
          <select id="lf-be" value={filter.backend} onChange={set('backend')}>
            <option value="">any</option>
            {bes.map((n) => <option key={n}>{n}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="lf-st">Status</label>
          <select id="lf-st" value={filter.status} onChange={set('status')}>
            <option value="">any</option>
            {['2xx', '3xx', '4xx', '5xx'].map((c) => <option key={c}>{c}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="lf-ip">Client IP or prefix</label>
          <input id="lf-ip" value={filter.client_ip} onInput={set('client_ip')} placeholder="10.0.0.0/8" />
        </div>
        <div class="field">
          <label for="lf-q">Path contains</label>
          <input id="lf-q" value={filter.q} onInput={set('q')} placeholder="/api/" />
        </div>
        <div class="field end">
          <button type="submit" class="btn primary">Apply filters</button>
        </div>
      </form>
      <div class="toolbar">
        <button type="button" class="btn" aria-pressed={paused} onClick={togglePause}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <label class="check">
          <input type="checkbox" checked={withEvents} onChange={(e) => setWithEvents(e.currentTarget.checked)} /> Show events
        </label>
        <span class="muted small" role="status">
          {paused
            ? `Paused: ${pendingCount} new entr${pendingCount === 1 ? 'y' : 'ies'} held (up to ${PENDING})${dropped ? `, ${dropped} older dropped` : ''}.`
            : `Live: newest first, last ${SHOWN} kept.`}
        </span>
      </div>
      {err && <p class="error" role="alert">{err}</p>}
      <div class="logwrap" tabIndex={0} role="region" aria-label="Access log entries">
      <table class="table logtable">
        <caption class="sr-only">Access log entries, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Status</th>
            <th scope="col">Request</th>
            <th scope="col">Client</th>
            <th scope="col">Frontend</th>
            <th scope="col">Backend → server</th>
            <th scope="col">Took</th>
            <th scope="col">In / out</th>
          </tr>
        </thead>
        <tbody>
          {items.map((it) => (it.kind === 'log' ? <LogRow key={'l' + it.e.id} e={it.e} open={setOpen} /> : <EventRow key={'e' + it.e.id} e={it.e} />))}
        </tbody>
      </table>
      </div>
      {rows.length === 0 && <p class="muted">No entries match yet.</p>}
      {open && <Detail e={open} close={() => setOpen(null)} />}
    </div>
  );
}
