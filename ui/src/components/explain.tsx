// ExplainForm asks GET /api/v1/explain which route, backend and server a
// request would get now, and shows why (read-only: the balancer does not move).
import { useState } from 'preact/hooks';
import { describe, get, query } from '../api/client';
import type { Explanation, Frontend } from '../api/types';

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function ExplainForm({ frontends }: { frontends: Frontend[] }) {
  const [q, setQ] = useState({ frontend: '', method: 'GET', host: '', path: '/', client_ip: '' });
  const [headers, setHeaders] = useState('');
  const [res, setRes] = useState<Explanation | null>(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const fe = q.frontend || frontends[0]?.name || '';
  const tcp = frontends.find((f) => f.name === fe)?.mode === 'tcp';
  const set = (k: keyof typeof q) => (e: Event) => setQ({ ...q, [k]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      // header=Name:value, repeatable (GET /api/v1/explain)
      const hs = tcp ? [] : headers.split('\n').map((l) => l.trim()).filter((l) => l.includes(':'));
      const extra = hs.map((h) => '&header=' + encodeURIComponent(h.replace(/:\s*/, ':'))).join('');
      const base = query(tcp ? { frontend: fe, client_ip: q.client_ip } : { ...q, frontend: fe });
      setRes(await get<Explanation>('/explain' + (base || '?') + extra));
    } catch (x) {
      setRes(null);
      setErr(describe(x));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="explain">
      <form class="form-grid" onSubmit={submit} aria-label="Explain a request">
        <div class="field">
          <label for="ex-fe">Frontend</label>
          <select id="ex-fe" value={fe} onChange={set('frontend')}>
            {frontends.map((f) => (
              <option key={f.name} value={f.name}>
                {f.name} ({f.mode}, {f.listen})
              </option>
            ))}
          </select>
        </div>
        {!tcp && (
          <div class="field">
            <label for="ex-method">Method</label>
            <select id="ex-method" value={q.method} onChange={set('method')}>
              {methods.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </div>
        )}
        {!tcp && (
          <div class="field">
            <label for="ex-host">Host</label>
            <input id="ex-host" value={q.host} onInput={set('host')} placeholder="api.example.com" />
          </div>
        )}
        {!tcp && (
          <div class="field">
            <label for="ex-path">Path</label>
            <input id="ex-path" value={q.path} onInput={set('path')} />
          </div>
        )}
        {!tcp && (
          <div class="field">
            <label for="ex-h">Headers (Name: value, one a line)</label>
            <textarea id="ex-h" rows={1} value={headers} onInput={(e) => setHeaders(e.currentTarget.value)} placeholder="X-Tier: free" />
          </div>
        )}
        <div class="field">
          <label for="ex-ip">Client IP</label>
          <input id="ex-ip" value={q.client_ip} onInput={set('client_ip')} placeholder="203.0.113.7" inputMode="decimal" />
        </div>
        <div class="field end">
          <button type="submit" class="btn primary" disabled={busy || !fe}>
            Explain
          </button>
        </div>
      </form>
      {err && <p class="error" role="alert">{err}</p>}
      {res && <ExplainResult r={res} />}
    </div>
  );
}

function ExplainResult({ r }: { r: Explanation }) {
  return (
    <div class="explain-result" role="status" aria-live="polite">
      <p>
        <strong>{r.backend ? `Backend ${r.backend}` : `No backend${r.status ? `: the client gets ${r.status}` : ''}`}</strong>
        {r.backend && (r.pick ? <>, server <strong>{r.pick}</strong> would be picked now</> : ', but no server can be picked now')}
        {r.reason ? ` — ${r.reason}` : ''}
      </p>
      <p class="small">
        Client {r.client_ip || '–'}: {r.access || 'allowed'}. Route: {r.route || 'none (default backend)'}.
      </p>
      {(r.routes ?? []).length > 0 && (
        <>
          <h4>Routes tried</h4>
          <ul class="checks">
            {(r.routes ?? []).map((c, i) => (
              <li key={i} class={c.matched ? 'ok' : 'no'}>
                <span aria-hidden="true">{c.matched ? '✓' : '✕'}</span> {c.name || `#${i + 1}`}: {c.matched ? 'matched' : c.reason || 'did not match'}
              </li>
            ))}
          </ul>
        </>
      )}
      {(r.servers ?? []).length > 0 && (
        <>
          <h4>Servers</h4>
          <ul class="checks">
            {(r.servers ?? []).map((s) => (
              <li key={s.address} class={s.eligible ? 'ok' : 'no'}>
                <span aria-hidden="true">{s.eligible ? '✓' : '✕'}</span> {s.address}: {s.eligible ? 'eligible' : s.reason || 'not eligible'}
                {s.address === r.pick ? ' (the pick)' : ''}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
