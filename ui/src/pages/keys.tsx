// KeysPage (admin): API keys listed, created (the secret shown once, with a
// copy button) and revoked. A non-admin who opens it sees the API's 403.
import { useEffect, useRef, useState } from 'preact/hooks';
import { call, can, describe, get, list } from '../api/client';
import type { ApiKey, Role } from '../api/types';
import { confirm, Modal, notify } from '../components/dialogs';
import { clock } from '../lib/format';

const expiries: [string, string][] = [
  ['', 'never'],
  ['24h', '1 day'],
  ['168h', '7 days'],
  ['720h', '30 days'],
  ['2160h', '90 days'],
  ['8760h', '1 year'],
];

function Secret({ k, close }: { k: ApiKey; close(): void }) {
  const [copied, setCopied] = useState('');
  const field = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(k.key ?? '');
      setCopied('Copied to the clipboard.');
    } catch {
      // No clipboard API (plain http off localhost): select the text for Ctrl+C.
      field.current?.select();
      const ok = document.execCommand?.('copy');
      setCopied(ok ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C (⌘C) to copy.');
    }
  };
  return (
    <Modal title={`API key “${k.name}” created`} onClose={close}>
      <p>
        <strong>Copy it now: it is never shown again.</strong> Send it as <code>Authorization: Bearer &lt;key&gt;</code>.
      </p>
      <label for="new-key">Key ({k.role})</label>
      <div class="inline">
        <input id="new-key" ref={field} class="mono grow" readOnly value={k.key} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" class="btn primary" onClick={copy}>
          Copy
        </button>
      </div>
      <p role="status" class="ok small">{copied}</p>
    </Modal>
  );
}

export function KeysPage() {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [err, setErr] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<ApiKey | null>(null);
  const load = () => get<unknown>('/keys').then((d) => { setKeys(list<ApiKey>(d, 'keys')); setErr(''); }, (e) => setErr(describe(e)));
  useEffect(() => {
    load();
  }, []);

  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const k = await call<ApiKey>('POST', '/keys', expires ? { name, role, expires } : { name, role });
      setCreated(k);
      setName('');
      load();
    } catch (x) {
      notify({ kind: 'error', title: 'Creating the key failed: ' + describe(x) });
    }
  };
  const revoke = async (k: ApiKey) => {
    if (!(await confirm(`Revoke key “${k.name}”?`, 'Scripts using it get 401 from now on. This cannot be undone.', 'Revoke'))) return;
    try {
      await call('DELETE', '/keys/' + encodeURIComponent(k.id));
      notify({ kind: 'ok', title: `Key “${k.name}” revoked.` });
    } catch (x) {
      notify({ kind: 'error', title: 'Revoking failed: ' + describe(x) });
    }
    load();
  };

  return (
    <div class="keys">
      {err && <p class="error" role="alert">{err}</p>}
      {can('admin') && (
        <form class="form-grid card" onSubmit={create} aria-labelledby="newkey-h">
          <h2 id="newkey-h" class="span-all">New key</h2>
          <div class="field">
            <label for="k-name">Name</label>
            <input id="k-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="deploy-bot" />
          </div>
          <div class="field">
            <label for="k-role">Role</label>
            <select id="k-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              <option value="viewer">viewer (read)</option>
              <option value="operator">operator (+ drain, weights, reload)</option>
              <option value="admin">admin (+ config, servers, keys, alerts)</option>
            </select>
          </div>
          <div class="field">
            <label for="k-exp">Expires</label>
            <select id="k-exp" value={expires} onChange={(e) => setExpires(e.currentTarget.value)}>
              {expiries.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
            </select>
          </div>
          <div class="field end">
            <button type="submit" class="btn primary">Create key</button>
          </div>
        </form>
      )}
      {keys && (
        <table class="table">
          <caption class="sr-only">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">ID</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Created by</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row" data-label="Name">{k.name}</th>
                <td data-label="Role"><span class={'role r-' + k.role}>{k.role}</span></td>
                <td data-label="ID" class="mono">{k.id}</td>
                <td data-label="Created">{clock(k.created)}</td>
                <td data-label="Expires">{k.expires ? clock(k.expires) : 'never'}{k.expired ? ' (expired)' : ''}</td>
                <td data-label="Created by">{k.created_by || '–'}</td>
                <td data-label="Actions">
                  {can('admin') && <button type="button" class="btn small danger" onClick={() => revoke(k)} aria-label={`Revoke key ${k.name}`}>Revoke</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {keys && keys.length === 0 && <p class="muted">No API keys yet.</p>}
      {created && <Secret k={created} close={() => setCreated(null)} />}
    </div>
  );
}
