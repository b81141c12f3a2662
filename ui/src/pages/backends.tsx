// BackendsPage: every backend with its algorithm, servers, health and live
// load; server actions by role (operator: drain/undrain, enable/disable,
// weight; admin: add, remove), destructive ones confirmed and every result
// shown; a server's health history; and the explain form.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, can, describe, get, list } from '../api/client';
import type { BackendServer, BackendView, Frontend, Result, ServerStats, ServerSpec } from '../api/types';
import { confirm, Modal, notify, resultLines } from '../components/dialogs';
import { ExplainForm } from '../components/explain';
import { HealthHistory } from '../components/history';
import { ms, num } from '../lib/format';
import { healthSentence, serverState, stateGlyph, stateLabel } from '../lib/health';
import { route } from '../lib/router';
import { events, latest } from '../state/live';

const enc = encodeURIComponent;

/** change sends one server change and shows its Result or its error. */
async function change(what: string, method: string, path: string, body?: ServerSpec): Promise<boolean> {
  try {
    const r = await call<Result>(method, path, body);
    notify({ kind: 'ok', title: what + ': done', lines: resultLines(r) });
    return true;
  } catch (e) {
    const lines = e instanceof ApiError ? e.errors.map((c) => `line ${c.line}:${c.col}: ${c.message}`) : [];
    notify({ kind: 'error', title: what + ' failed: ' + describe(e), lines });
    return false;
  }
}

interface Row {
  cfg?: BackendServer;
  live?: ServerStats;
  address: string;
}

function rowsOf(b: BackendView, live: ServerStats[] | undefined): Row[] {
  const byAddr = new Map<string, Row>();
  for (const s of b.servers ?? []) {
    const known = s.health !== undefined && s.health !== 'unknown';
    const now = known ? ({ ...s, weight: s.effective_weight ?? s.weight } as ServerStats) : undefined;
    byAddr.set(s.address, { cfg: s.removed ? undefined : s, address: s.address, live: now });
  }
  for (const s of live ?? []) {
    const r = byAddr.get(s.address);
    if (r) r.live = s;
    else byAddr.set(s.address, { address: s.address, live: s });
  }
  return Array.from(byAddr.values());
}

function WeightEditor({ backend, row, done }: { backend: string; row: Row; done(): void }) {
  const [w, setW] = useState(String(row.cfg?.weight ?? row.live?.weight ?? 1));
  const id = `w-${backend}-${row.address}`;
  const save = async (e: Event) => {
    e.preventDefault();
    const n = Number(w);
    if (await change(`Weight of ${row.address} to ${n}`, 'PATCH', `/backends/${enc(backend)}/servers/${enc(row.address)}`, { weight: n })) done();
  };
  return (
    <form class="inline" onSubmit={save}>
      <label for={id} class="sr-only">
        New weight for {row.address}
      </label>
      <input id={id} type="number" min={0} max={256} required value={w} onInput={(e) => setW(e.currentTarget.value)} class="num" autoFocus />
      <button type="submit" class="btn small primary">Save</button>
      <button type="button" class="btn small" onClick={done}>Cancel</button>
    </form>
  );
}

function ServerActions({ backend, row, reload, history }: { backend: string; row: Row; reload(): void; history(): void }) {
  const [editing, setEditing] = useState(false);
  const cfg = row.cfg;
  const path = `/backends/${enc(backend)}/servers/${enc(row.address)}`;
  const op = can('operator') && !!cfg;
  const act = async (what: string, spec: ServerSpec, ask?: string) => {
    if (ask && !(await confirm(what + '?', ask, what))) return;
    await change(what, 'PATCH', path, spec);
    reload();
  };
  if (editing) return <WeightEditor backend={backend} row={row} done={() => { setEditing(false); reload(); }} />;
  const draining = cfg?.drain ?? row.live?.draining;
  const enabled = cfg?.enabled ?? row.live?.enabled;
  return (
    <div class="row-actions">
      {op && (draining ? (
        <button type="button" class="btn small" onClick={() => act(`Undrain ${row.address}`, { drain: false })}>Undrain</button>
      ) : (
        <button type="button" class="btn small" onClick={() => act(`Drain ${row.address}`, { drain: true }, `${row.address} in backend ${backend} gets no new requests; open connections finish.`)}>
          Drain
        </button>
      ))}
      {op && (enabled === false ? (
        <button type="button" class="btn small" onClick={() => act(`Enable ${row.address}`, { enabled: true })}>Enable</button>
      ) : (
        <button type="button" class="btn small" onClick={() => act(`Disable ${row.address}`, { enabled: false }, `${row.address} in backend ${backend} is taken out of rotation until enabled again.`)}>
          Disable
        </button>
      ))}
      {op && <button type="button" class="btn small" onClick={() => setEditing(true)} aria-label={`Change weight of ${row.address}`}>Weight</button>}
      <button type="button" class="btn small" onClick={history} aria-label={`Health history of ${row.address}`}>History</button>
      {can('admin') && cfg && (
        <button
          type="button"
          class="btn small danger"
          onClick={async () => {
            if (!(await confirm(`Remove ${row.address}?`, `${row.address} is removed from backend ${backend} and from the configuration file. It drains first: open connections finish.`, 'Remove'))) return;
            await change(`Remove ${row.address}`, 'DELETE', path);
            reload();
          }}
        >
          Remove
        </button>
      )}
    </div>
  );
}

function AddServer({ backend, reload }: { backend: string; reload(): void }) {
  const [addr, setAddr] = useState('');
  const [w, setW] = useState('1');
  const id = 'add-' + backend;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await change(`Add ${addr} to ${backend}`, 'POST', `/backends/${enc(backend)}/servers`, { address: addr.trim(), weight: Number(w) })) setAddr('');
    reload();
  };
  return (
    <form class="inline add-server" onSubmit={submit} aria-label={`Add a server to ${backend}`}>
      <label for={id}>Add a server</label>
      <input id={id} required placeholder="10.0.0.7:8080" value={addr} onInput={(e) => setAddr(e.currentTarget.value)} />
      <label for={id + '-w'}>Weight</label>
      <input id={id + '-w'} type="number" min={0} max={256} class="num" value={w} onInput={(e) => setW(e.currentTarget.value)} />
      <button type="submit" class="btn primary small">Add</button>
    </form>
  );
}

function BackendCard({ b, reload, focus }: { b: BackendView; reload(): void; focus?: string }) {
  const live = latest.value?.backends?.find((x) => x.name === b.name);
  const rows = rowsOf(b, live?.servers);
  const [hist, setHist] = useState<string | null>(null);
  const up = rows.filter((r) => serverState(r.live) === 'healthy').length;
  return (
    <section class="card backend" id={'backend-' + b.name} aria-labelledby={'bh-' + b.name}>
      <div class="section-head">
        <h2 id={'bh-' + b.name}>{b.name}</h2>
        <p class="muted small">
          {b.algorithm.replace(/_/g, ' ')} · health check {b.health_check || '–'} · {up}/{rows.length} up
          {live && <> · {num(live.requests_per_sec)} req/s · {live.active_connections} conns · p99 {ms(live.p99_ms)}</>}
        </p>
      </div>
      <table class="table servers">
        <caption class="sr-only">Servers of backend {b.name}</caption>
        <thead>
          <tr>
            <th scope="col">Server</th>
            <th scope="col">State</th>
            <th scope="col">Weight</th>
            <th scope="col">Conns</th>
            <th scope="col">Req/s</th>
            <th scope="col">p50 / p99</th>
            <th scope="col">Failures</th>
            <th scope="col"><span class="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const st = serverState(r.live);
            const eff = r.live?.weight;
            return (
              <tr key={r.address} data-server={r.address} data-state={st} class={focus === r.address ? 'focus-row' : ''} tabIndex={focus === r.address ? -1 : undefined}>
                <th scope="row" data-label="Server">{r.address}</th>
                <td data-label="State">
                  <span class={'badge t-' + st}><span aria-hidden="true">{stateGlyph[st]}</span> {stateLabel[st]}</span>
                  <div class="small muted reason">{healthSentence(r.live)}</div>
                </td>
                <td data-label="Weight">
                  {r.cfg?.weight ?? eff ?? '–'}
                  {eff !== undefined && r.cfg && eff !== r.cfg.weight && <span class="muted small"> ({eff} in effect)</span>}
                </td>
                <td data-label="Conns">{r.live ? r.live.active_connections : '–'}</td>
                <td data-label="Req/s" class="rps">{r.live ? num(r.live.requests_per_sec) : '–'}</td>
                <td data-label="p50 / p99">{r.live ? `${ms(r.live.p50_ms)} / ${ms(r.live.p99_ms)}` : '–'}</td>
                <td data-label="Failures">{r.live ? r.live.failures_total : '–'}</td>
                <td data-label="Actions"><ServerActions backend={b.name} row={r} reload={reload} history={() => setHist(r.address)} /></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {rows.length === 0 && <p class="muted">No servers: this backend answers 503 (tcp: refuses) until one is added.</p>}
      {can('admin') && <AddServer backend={b.name} reload={reload} />}
      {hist && (
        <Modal title={`Health history of ${hist} (${b.name})`} onClose={() => setHist(null)} wide>
          <HealthHistory backend={b.name} server={hist} />
        </Modal>
      )}
    </section>
  );
}

export function BackendsPage() {
  const [backends, setBackends] = useState<BackendView[] | null>(null);
  const [frontends, setFrontends] = useState<Frontend[]>([]);
  const [err, setErr] = useState('');
  const focus = route.value.search.get('server') ?? undefined;
  const focusBackend = route.value.search.get('backend') ?? undefined;
  const scrolled = useRef(false);
  const load = () =>
    get<unknown>('/backends').then((d) => { setBackends(list<BackendView>(d, 'backends')); setErr(''); }, (e) => setErr(describe(e)));
  useEffect(() => {
    load();
    get<unknown>('/frontends').then((d) => setFrontends(list<Frontend>(d, 'frontends')), () => {});
  }, []);
  // Another client's change or a reload: read the configuration side again.
  const lastChange = events.value.find((e) => e.type === 'config' || e.type === 'reload')?.id;
  useEffect(() => {
    if (lastChange !== undefined) load();
  }, [lastChange]);
  useEffect(() => {
    if (!backends || scrolled.current || !focus) return;
    const row = document.querySelector<HTMLElement>(`#backend-${CSS.escape(focusBackend ?? '')} tr[data-server="${CSS.escape(focus)}"]`);
    if (row) {
      scrolled.current = true;
      row.scrollIntoView({ block: 'center' });
      row.focus();
    }
  }, [backends, focus]);

  if (err && !backends) return <p class="error" role="alert">{err}</p>;
  if (!backends) return <p class="muted" role="status">Loading…</p>;
  return (
    <div class="backends">
      {!can('operator') && <p class="muted">You are signed in as a viewer: server actions need the operator role (adding and removing servers: admin).</p>}
      {err && <p class="error" role="alert">{err}</p>}
      {backends.map((b) => (
        <BackendCard key={b.name} b={b} reload={load} focus={b.name === focusBackend ? focus : undefined} />
      ))}
      <section class="card" aria-labelledby="explain-h">
        <h2 id="explain-h">Explain a request</h2>
        <p class="muted small">Which route, backend and server a request would get now, and why. Nothing is sent to a server.</p>
        <ExplainForm frontends={frontends} />
      </section>
    </div>
  );
}
