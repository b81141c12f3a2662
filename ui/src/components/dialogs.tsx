// Confirmation for destructive actions and the result of every change, in
// one place: confirm() opens a modal <dialog> (focus is trapped and Escape
// cancels natively) and resolves true or false; notify() shows a result in
// an aria-live region until it is dismissed or replaced.
import { signal } from '@preact/signals';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { Result } from '../api/types';

interface Ask {
  title: string;
  body: ComponentChildren;
  confirm: string;
  danger: boolean;
  resolve(ok: boolean): void;
}

const ask = signal<Ask | null>(null);

/** confirm asks before a destructive action; resolves false on Cancel or Escape. */
export function confirm(title: string, body: ComponentChildren, confirmLabel: string, danger = true): Promise<boolean> {
  return new Promise((resolve) => {
    ask.value?.resolve(false);
    ask.value = { title, body, confirm: confirmLabel, danger, resolve };
  });
}

export function ConfirmDialog() {
  const ref = useRef<HTMLDialogElement>(null);
  const a = ask.value;
  useEffect(() => {
    const d = ref.current!;
    if (a && !d.open) d.showModal();
    if (!a && d.open) d.close();
  }, [a]);
  const done = (ok: boolean) => {
    const cur = ask.value;
    ask.value = null;
    cur?.resolve(ok);
  };
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="confirm-title" onClose={() => ask.value && done(false)}>
      {a && (
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); done(true); }}>
          <h2 id="confirm-title">{a.title}</h2>
          <div class="dialog-body">{a.body}</div>
          <div class="actions">
            <button type="button" class="btn" onClick={() => done(false)} autoFocus>
              Cancel
            </button>
            <button type="submit" class={a.danger ? 'btn danger' : 'btn primary'}>
              {a.confirm}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

export interface Notice {
  kind: 'ok' | 'error' | 'info';
  title: string;
  lines?: string[];
}

export const notice = signal<Notice | null>(null);

export function notify(n: Notice) {
  notice.value = n;
}

/** resultLines says what a change did: the semantic diff, where it was kept, warnings. */
export function resultLines(r: Result | undefined): string[] {
  if (!r) return [];
  const out = [...(r.changes ?? [])];
  if (!out.length) out.push(r.dry_run ? 'No change.' : 'Nothing changed.');
  if (r.persisted === 'file') out.push('Written back to the configuration file.');
  else if (r.persisted === 'overlay') out.push('The configuration file is read-only: kept in the state directory overlay.');
  for (const w of r.warnings ?? []) out.push('Warning: ' + w);
  return out;
}

export function NoticeBar() {
  const n = notice.value;
  return (
    <div class="notice-slot" aria-live="polite" aria-atomic="true">
      {n && (
        <div class={'notice n-' + n.kind} role={n.kind === 'error' ? 'alert' : 'status'}>
          <div class="notice-text">
            <strong>{n.title}</strong>
            {n.lines && n.lines.length > 0 && (
              <ul>
                {n.lines.map((l, i) => (
                  <li key={i}>{l}</li>
                ))}
              </ul>
            )}
          </div>
          <button type="button" class="btn small" onClick={() => (notice.value = null)} aria-label="Dismiss message">
            ✕
          </button>
        </div>
      )}
    </div>
  );
}

/** Modal is a dialog for content (a server's history, a log entry, a new key); Escape or Close ends it. */
export function Modal({ title, onClose, children, wide }: { title: string; onClose(): void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    return () => d.open && d.close();
  }, []);
  return (
    <dialog ref={ref} class={'dialog' + (wide ? ' wide' : '')} aria-labelledby="modal-title" onClose={onClose}>
      <div class="dialog-head">
        <h2 id="modal-title">{title}</h2>
        <button type="button" class="btn small" onClick={() => ref.current?.close()} aria-label="Close">
          ✕
        </button>
      </div>
      <div class="dialog-body">{children}</div>
    </dialog>
  );
}
