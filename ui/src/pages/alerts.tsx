// AlertsPage: alert rules (issue 22's /api/v1/alerts: create, edit, delete
// by an admin) with their state, and alerts fired and resolved (events of
// type alert). While the API answers 404 the page says so and offers
// nothing to press.
import { useEffect, useState } from 'preact/hooks';
import { call, can, describe } from '../api/client';
import type { AlertRule, Event as SEvent } from '../api/types';
import { confirm, Modal, notify } from '../components/dialogs';
import { ago, clock } from '../lib/format';
import { alertsAvailable, events as live, latest, recentEvents, refreshAlerts } from '../state/live';

const kinds: [string, string, string][] = [
  ['server_down', 'a server is down', 'servers down (a count, default 1)'],
  ['latency_p99', 'p99 latency above', 'a duration: 250ms'],
  ['error_rate', 'error rate (5xx) above', 'a ratio: 0.05 for 5%'],
  ['rate_limited', 'rate-limited requests above', 'requests per second: 10'],
  ['resource', 'a process resource above', 'rss: a size (512MiB); fds, connections: a count; cpu: percent'],
];

type ScopeKind = 'process' | 'frontend' | 'backend' | 'server';

function scopeKind(r: AlertRule): ScopeKind {
  if (r.scope?.server) return 'server';
  if (r.scope?.backend) return 'backend';
  if (r.scope?.frontend) return 'frontend';
  return 'process';
}

function scopeText(r: AlertRule): string {
  const s = r.scope ?? {};
  if (s.server) return `server ${s.backend ?? ''} ${s.server}`.trim();
  if (s.backend) return 'backend ' + s.backend;
  if (s.frontend) return 'frontend ' + s.frontend;
  return 'process';
}

function RuleForm({ rule, close }: { rule: AlertRule | null; close(saved: boolean): void }) {
  const [r, setR] = useState<AlertRule>(rule ?? { name: '', when: 'server_down', threshold: '', for: '1m', scope: {} });
  const [kind, setKind] = useState<ScopeKind>(rule ? scopeKind(rule) : 'backend');
  const [hooks, setHooks] = useState((rule?.notify ?? []).map((n) => n.webhook).filter(Boolean).join('\n'));
  const [err, setErr] = useState('');
  const s = latest.value;
  const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const set = (k: keyof AlertRule) => (e: Event) => setR({ ...r, [k]: (e.currentTarget as HTMLInputElement).value });
  const setScope = (k: 'frontend' | 'backend' | 'server') => (e: Event) => setR({ ...r, scope: { ...r.scope, [k]: (e.currentTarget as HTMLInputElement).value } });

  const save = async (e: Event) => {
    e.preventDefault();
    const sc = r.scope ?? {};
    const scope = kind === 'process' ? {} : kind === 'frontend' ? { frontend: sc.frontend } : kind === 'backend' ? { backend: sc.backend } : { backend: sc.backend, server: sc.server };
    const body: AlertRule = {
      name: r.name.trim(),
      when: r.when,
      scope,
      for: r.for || undefined,
      notify: hooks.split('\n').map((h) => h.trim()).filter(Boolean).map((webhook) => ({ webhook })),
    };
    if (r.when === 'resource') body.resource = r.resource || 'rss';
    if (str(r.threshold)) body.threshold = str(r.threshold);
    if (str(r.resolve_below)) body.resolve_below = str(r.resolve_below);
    try {
      if (rule) await call('PUT', '/alerts/' + encodeURIComponent(rule.name), body);
      else await call('POST', '/alerts', body);
      notify({ kind: 'ok', title: `Alert rule “${body.name}” ${rule ? 'saved' : 'created'}.` });
      close(true);
    } catch (x) {
      setErr(describe(x));
    }
  };

  const hint = kinds.find((k) => k[0] === r.when)?.[2] ?? '';
  return (
    <Modal title={rule ? `Edit alert “${rule.name}”` : 'New alert rule'} onClose={() => close(false)} wide>
      <form class="form-grid" onSubmit={save}>
        <div class="field">
          <label for="a-name">Name</label>
          <input id="a-name" required value={r.name} onInput={set('name')} readOnly={!!rule} placeholder="api-slow" />
        </div>
        <div class="field">
          <label for="a-when">When</label>
          <select id="a-when" value={r.when} onChange={set('when')}>
            {kinds.map(([v, l]) => <option key={v} value={v}>{l} ({v})</option>)}
          </select>
        </div>
        {r.when === 'resource' && (
          <div class="field">
            <label for="a-res">Resource</label>
            <select id="a-res" value={r.resource ?? 'rss'} onChange={set('resource')}>
              {['rss', 'fds', 'cpu', 'connections'].map((x) => <option key={x}>{x}</option>)}
            </select>
          </div>
        )}
        <div class="field">
          <label for="a-scope">Scope</label>
          <select id="a-scope" value={kind} onChange={(e) => setKind(e.currentTarget.value as ScopeKind)}>
            <option value="process">the whole process</option>
            <option value="frontend">a frontend</option>
            <option value="backend">a backend</option>
            <option value="server">one server</option>
          </select>
        </div>
        {kind === 'frontend' && (
          <div class="field">
            <label for="a-fe">Frontend</label>
            <select id="a-fe" value={r.scope?.frontend ?? ''} onChange={setScope('frontend')} required>
              <option value="">choose…</option>
              {(s?.frontends ?? []).map((f) => <option key={f.name}>{f.name}</option>)}
            </select>
          </div>
        )}
        {(kind === 'backend' || kind === 'server') && (
          <div class="field">
            <label for="a-be">Backend</label>
            <select id="a-be" value={r.scope?.backend ?? ''} onChange={setScope('backend')} required>
              <option value="">choose…</option>
              {(s?.backends ?? []).map((b) => <option key={b.name}>{b.name}</option>)}
            </select>
          </div>
        )}
        {kind === 'server' && (
          <div class="field">
            <label for="a-srv">Server</label>
            <select id="a-srv" value={r.scope?.server ?? ''} onChange={setScope('server')} required>
              <option value="">choose…</option>
              {(s?.backends?.find((b) => b.name === r.scope?.backend)?.servers ?? []).map((x) => <option key={x.address}>{x.address}</option>)}
            </select>
          </div>
        )}
        <div class="field">
          <label for="a-th">Threshold</label>
          <input id="a-th" value={str(r.threshold)} onInput={set('threshold')} aria-describedby="a-th-hint" />
          <span id="a-th-hint" class="hint">{hint}</span>
        </div>
        <div class="field">
          <label for="a-rb">Resolve below (optional)</label>
          <input id="a-rb" value={str(r.resolve_below)} onInput={set('resolve_below')} aria-describedby="a-rb-hint" />
          <span id="a-rb-hint" class="hint">default: the threshold</span>
        </div>
        <div class="field">
          <label for="a-for">For</label>
          <input id="a-for" value={r.for ?? ''} onInput={set('for')} placeholder="1m" aria-describedby="a-for-hint" />
          <span id="a-for-hint" class="hint">how long it must hold: 30s, 1m, 5m</span>
        </div>
        <div class="field span-all">
          <label for="a-hooks">Webhooks (one URL a line; the UI and the process log are always notified)</label>
          <textarea id="a-hooks" rows={2} value={hooks} onInput={(e) => setHooks(e.currentTarget.value)} placeholder="https://hooks.example.com/sluice" />
        </div>
        {err && <p class="error span-all" role="alert">{err}</p>}
        <div class="actions span-all">
          <button type="button" class="btn" onClick={() => close(false)}>Cancel</button>
          <button type="submit" class="btn primary">{rule ? 'Save' : 'Create'}</button>
        </div>
      </form>
    </Modal>
  );
}

export function AlertsPage() {
  const [rules, setRules] = useState<AlertRule[] | null>(null);
  const [err, setErr] = useState('');
  const [editing, setEditing] = useState<AlertRule | null | 'new'>(null);
  const [history, setHistory] = useState<SEvent[]>([]);
  const load = () => refreshAlerts().then((r) => { setRules(r); setErr(''); }, (e) => setErr(describe(e)));
  useEffect(() => {
    load();
    recentEvents().then(setHistory, () => {});
  }, []);
  // An alert fired or resolved: its rule's state changed.
  const lastAlert = live.value.find((e) => e.type === 'alert')?.id;
  useEffect(() => {
    if (lastAlert !== undefined && alertsAvailable.value) load();
  }, [lastAlert]);

  if (alertsAvailable.value === false) {
    return (
      <div class="card">
        <p>
          <strong>Alert rules are not available on this server yet:</strong> <code>/api/v1/alerts</code> answered 404. Alerts arrive with a later
          Sluice release (alert rules in the configuration and through the API); until then this page has nothing to manage.
        </p>
      </div>
    );
  }
  const del = async (r: AlertRule) => {
    if (!(await confirm(`Delete alert “${r.name}”?`, 'The rule is removed from the configuration; if it is firing, it stops.', 'Delete'))) return;
    try {
      await call('DELETE', '/alerts/' + encodeURIComponent(r.name));
      notify({ kind: 'ok', title: `Alert rule “${r.name}” deleted.` });
    } catch (x) {
      notify({ kind: 'error', title: 'Deleting failed: ' + describe(x) });
    }
    load();
  };
  const byId = new Map<number, SEvent>();
  for (const e of [...history, ...live.value]) if (e.type === 'alert') byId.set(e.id, e);
  const fired = Array.from(byId.values()).sort((a, b) => b.id - a.id);

  return (
    <div class="alerts">
      {err && <p class="error" role="alert">{err}</p>}
      {can('admin') && (
        <p>
          <button type="button" class="btn primary" onClick={() => setEditing('new')}>New alert rule</button>
        </p>
      )}
      {rules && (
        <table class="table">
          <caption class="sr-only">Alert rules</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Condition</th>
              <th scope="col">Scope</th>
              <th scope="col">State</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.name} data-alert={r.name} data-state={r.state ?? ''}>
                <th scope="row" data-label="Name">{r.name}</th>
                <td data-label="Condition">
                  {r.when}{r.resource ? ` (${r.resource})` : ''} {r.threshold !== undefined && r.threshold !== '' ? `≥ ${r.threshold}` : ''} {r.for ? `for ${r.for}` : ''}
                </td>
                <td data-label="Scope">{scopeText(r)}</td>
                <td data-label="State">
                  <span class={'badge a-' + (r.state ?? 'ok')}>{r.state ?? 'ok'}</span>
                  {r.since && r.state && r.state !== 'ok' && <span class="small muted"> since {clock(r.since)} ({ago(r.since)})</span>}
                  {r.value !== undefined && r.value !== '' && <span class="small muted"> · now {String(r.value)}</span>}
                </td>
                <td data-label="Actions">
                  {can('admin') && (
                    <div class="row-actions">
                      <button type="button" class="btn small" onClick={() => setEditing(r)} aria-label={`Edit alert ${r.name}`}>Edit</button>
                      <button type="button" class="btn small danger" onClick={() => del(r)} aria-label={`Delete alert ${r.name}`}>Delete</button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rules && rules.length === 0 && <p class="muted">No alert rules yet.</p>}
      <section aria-labelledby="fired-h">
        <h2 id="fired-h">Fired and resolved</h2>
        {fired.length === 0 ? (
          <p class="muted">No alert has fired recently.</p>
        ) : (
          <ol class="events">
            {fired.map((e) => (
              <li key={e.id} class={'ev sev-' + (e.severity || 'info')}>
                <time dateTime={e.time}>{clock(e.time)}</time>
                <span class={'badge a-' + (e.state ?? '')}>{e.state}</span>
                <span class="ev-msg"><strong>{e.alert}</strong> {e.message}</span>
              </li>
            ))}
          </ol>
        )}
      </section>
      {editing && <RuleForm rule={editing === 'new' ? null : editing} close={(saved) => { setEditing(null); if (saved) load(); }} />}
    </div>
  );
}
