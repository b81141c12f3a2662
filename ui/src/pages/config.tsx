// ConfigPage: the running YAML in CodeMirror (loaded on demand), validated
// as you type (POST /config/validate, errors at their line), the semantic
// diff of a dry run before applying (PUT /config?dry_run=true), the apply
// or reload result, and the history of changes (config and reload events).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, can, describe, get, me, query, send } from '../api/client';
import type { ConfigError, Event, Result, Snapshot } from '../api/types';
import { confirm, notify, resultLines } from '../components/dialogs';
import { EventList } from '../components/events';
import { ago, clock } from '../lib/format';
import { events as live, recentEvents } from '../state/live';
import type { Editor } from '../editor';

interface Running {
  text: string;
  etag: string;
}

async function loadRunning(): Promise<Running> {
  const { data, res } = await send('GET', '/config', undefined, { headers: { Accept: 'application/yaml, text/plain, application/json' } });
  let text = '';
  if (typeof data === 'string') text = data;
  else if (data && typeof data === 'object') text = String((data as { text?: string; config?: string }).text ?? (data as { config?: string }).config ?? '');
  return { text, etag: res.headers.get('ETag') ?? '' };
}

function validationErrors(d: unknown): ConfigError[] {
  if (d && typeof d === 'object') return ((d as { errors?: ConfigError[] }).errors ?? []).filter(Boolean);
  return [];
}

export function ConfigPage() {
  const host = useRef<HTMLDivElement>(null);
  const ed = useRef<Editor | null>(null);
  const [running, setRunning] = useState<Running | null>(null);
  const [loadErr, setLoadErr] = useState('');
  const [text, setText] = useState('');
  const [errors, setErrors] = useState<ConfigError[]>([]);
  const [checking, setChecking] = useState(false);
  const [diff, setDiff] = useState<Result | null>(null);
  const [busy, setBusy] = useState(false);
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [editorState, setEditorState] = useState<'loading' | 'ready' | 'failed'>('loading');
  const admin = can('admin');
  const dirty = running !== null && text !== running.text;
  const seq = useRef(0);

  const refresh = async () => {
    try {
      const r = await loadRunning();
      setRunning(r);
      setText(r.text);
      setErrors([]);
      setDiff(null);
      ed.current?.setText(r.text);
      ed.current?.setErrors([]);
      setLoadErr('');
    } catch (e) {
      setLoadErr(describe(e));
    }
    get<Snapshot>('/status').then(setSnap, () => {});
  };

  useEffect(() => {
    refresh();
  }, []);

  // The editor chunk is fetched when this page opens, never on first load.
  useEffect(() => {
    if (!running || ed.current) return;
    let gone = false;
    import('../editor').then(
      (m) => {
        if (gone || !host.current) return;
        ed.current = m.createEditor(host.current, running.text, !admin, (t) => setText(t));
        setEditorState('ready');
      },
      () => setEditorState('failed'),
    );
    return () => {
      gone = true;
    };
  }, [running !== null]);
  useEffect(() => () => ed.current?.destroy(), []);

  // Validate as you type: the newest answer wins.
  useEffect(() => {
    if (!admin || !running) return;
    setDiff(null);
    if (!dirty) {
      setErrors([]);
      ed.current?.setErrors([]);
      return;
    }
    const n = ++seq.current;
    setChecking(true);
    const t = setTimeout(async () => {
      let errs: ConfigError[] = [];
      try {
        errs = validationErrors(await call<unknown>('POST', '/config/validate', text));
      } catch (e) {
        if (e instanceof ApiError && e.errors.length) errs = e.errors;
        else if (n === seq.current) notify({ kind: 'error', title: 'Validation failed: ' + describe(e) });
      }
      if (n !== seq.current) return;
      setChecking(false);
      setErrors(errs);
      ed.current?.setErrors(errs);
    }, 350);
    return () => clearTimeout(t);
  }, [text, admin, running]);

  const put = async (dry: boolean) => {
    const headers: Record<string, string> = running?.etag ? { 'If-Match': running.etag } : {};
    return call<Result>('PUT', '/config' + query({ dry_run: dry ? 'true' : undefined }), text, { headers });
  };
  const failed = (what: string, e: unknown) => {
    if (e instanceof ApiError && e.errors.length) {
      setErrors(e.errors);
      ed.current?.setErrors(e.errors);
    }
    const stale = e instanceof ApiError && (e.status === 412 || e.status === 409);
    notify({
      kind: 'error',
      title: `${what} failed: ${describe(e)}`,
      lines: stale ? ['The running configuration changed since you opened it: copy your edits, then use Revert to load the new text.'] : [],
    });
  };

  const preview = async () => {
    setBusy(true);
    try {
      setDiff(await put(true));
    } catch (e) {
      failed('Dry run', e);
    } finally {
      setBusy(false);
    }
  };

  const apply = async () => {
    setBusy(true);
    try {
      const d = await put(true);
      setDiff(d);
      const ok = await confirm(
        'Apply this configuration?',
        <>
          <p>It is applied like a reload and written back to the configuration file. What changes:</p>
          <ul class="diff">{(d.changes ?? []).length ? (d.changes ?? []).map((c, i) => <li key={i}>{c}</li>) : <li>nothing in operator terms (comments or formatting only)</li>}</ul>
        </>,
        'Apply',
        false,
      );
      if (!ok) return;
      const r = await put(false);
      notify({ kind: 'ok', title: r.applied ? 'Configuration applied' : 'Configuration not applied', lines: resultLines(r) });
      await refresh();
    } catch (e) {
      failed('Apply', e);
    } finally {
      setBusy(false);
    }
  };

  const reload = async () => {
    if (!(await confirm('Reload from the file?', `Sluice re-reads ${snap?.config_file || 'its configuration file'} as on SIGHUP.`, 'Reload', false))) return;
    setBusy(true);
    try {
      const r = await call<Result>('POST', '/reload');
      notify({ kind: 'ok', title: 'Reloaded', lines: resultLines(r) });
      await refresh();
    } catch (e) {
      failed('Reload', e);
    } finally {
      setBusy(false);
    }
  };

  const history = useHistory();
  const lr = snap?.last_reload;
  return (
    <div class="config">
      {snap && (
        <p class="muted small">
          {snap.config_file || 'configuration'} · checksum <code>{(snap.config_checksum || '').slice(0, 12)}</code> · generation {snap.generation}
          {lr && lr.time && (
            <>
              {' '}· last reload {lr.result} ({lr.source}) {ago(lr.time)}
              {lr.error ? `: ${lr.error}` : ''}
            </>
          )}
        </p>
      )}
      {loadErr && <p class="error" role="alert">{loadErr}</p>}
      <p id="editor-help" class="muted small">
        {admin
          ? 'Edits are validated as you type. Tab indents; press Escape, then Tab, to leave the editor.'
          : `Read-only: changing the configuration needs the admin role (you are ${me.value?.role}).`}
      </p>
      <div ref={host} class="editor-host" data-editor={editorState}>
        {editorState !== 'ready' && running && <pre class="editor-fallback" aria-label="Configuration (YAML)">{running.text}</pre>}
      </div>
      {editorState === 'failed' && <p class="error" role="alert">The editor could not be loaded; the text above is read-only.</p>}

      {admin && (
        <div class="editor-status" aria-live="polite">
          {!dirty ? (
            <p class="muted">No edits: this is the running configuration.</p>
          ) : checking ? (
            <p class="muted">Checking…</p>
          ) : errors.length ? (
            <div class="errors" role="alert">
              <strong>{errors.length} error{errors.length > 1 ? 's' : ''}:</strong>
              <ul>
                {errors.map((e, i) => (
                  <li key={i}>
                    <button type="button" class="link" onClick={() => ed.current?.gotoLine(e.line, e.col)}>
                      line {e.line}, column {e.col}
                    </button>
                    : {e.message}
                  </li>
                ))}
              </ul>
            </div>
          ) : (
            <p class="ok">Valid.</p>
          )}
        </div>
      )}

      <div class="actions">
        {admin && (
          <>
            <button type="button" class="btn" disabled={!dirty || busy || errors.length > 0} onClick={preview}>
              Preview changes
            </button>
            <button type="button" class="btn primary" disabled={!dirty || busy || errors.length > 0} onClick={apply}>
              Apply…
            </button>
            <button type="button" class="btn" disabled={!dirty || busy} onClick={refresh}>
              Revert
            </button>
          </>
        )}
        {can('operator') && (
          <button type="button" class="btn" disabled={busy} onClick={reload}>
            Reload from file
          </button>
        )}
      </div>

      {diff && (
        <section class="card" aria-labelledby="diff-h">
          <h2 id="diff-h">Changes (dry run)</h2>
          {(diff.changes ?? []).length ? (
            <ul class="diff">{(diff.changes ?? []).map((c, i) => <li key={i}>{c}</li>)}</ul>
          ) : (
            <p class="muted">No change in operator terms.</p>
          )}
          {(diff.warnings ?? []).map((w, i) => (
            <p key={i} class="warn">Warning: {w}</p>
          ))}
        </section>
      )}

      <section aria-labelledby="hist-h">
        <h2 id="hist-h">Change history</h2>
        <EventList events={history} empty="No configuration changes or reloads recorded yet." />
      </section>
      {snap && <p class="muted small">Running since {clock(snap.started)}.</p>}
    </div>
  );
}

/** useHistory: config and reload events, from GET /events and the stream. */
function useHistory(): Event[] {
  const [loaded, setLoaded] = useState<Event[]>([]);
  useEffect(() => {
    recentEvents().then(setLoaded, () => {});
  }, []);
  const byId = new Map<number, Event>();
  for (const e of [...loaded, ...live.value]) if (e.type === 'config' || e.type === 'reload') byId.set(e.id, e);
  return Array.from(byId.values()).sort((a, b) => b.id - a.id);
}
