// The configuration editor, loaded on demand (a separate chunk, so the
// first load stays small): CodeMirror 6 with YAML highlighting, the
// validation errors of the API shown at their line (gutter marker,
// underline, hover text), tab indentation with Escape-then-Tab to leave.
import { indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { Compartment, EditorState } from '@codemirror/state';
import { basicSetup, EditorView } from 'codemirror';
import { keymap } from '@codemirror/view';
import type { ConfigError } from './api/types';

export interface Editor {
  text(): string;
  setText(t: string): void;
  setErrors(errs: ConfigError[]): void;
  setReadOnly(ro: boolean): void;
  gotoLine(line: number, col?: number): void;
  destroy(): void;
}

const theme = EditorView.theme({
  '&': { border: '1px solid #8a939d', borderRadius: '6px', fontSize: '13px', backgroundColor: '#fff' },
  '&.cm-focused': { outline: '2px solid #1b6ec2', outlineOffset: '1px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', minHeight: '320px', maxHeight: '70vh' },
  '.cm-gutters': { backgroundColor: '#f3f4f6', color: '#4b5563', borderRight: '1px solid #d1d5db' },
  '.cm-lintRange-error': { backgroundImage: 'none', textDecoration: 'underline wavy #b91c1c', textUnderlineOffset: '3px' },
});

export function createEditor(parent: HTMLElement, doc: string, readOnly: boolean, onChange: (text: string) => void): Editor {
  const ro = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        keymap.of([indentWithTab]),
        theme,
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': 'Configuration (YAML)', 'aria-describedby': 'editor-help' }),
        ro.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });

  const pos = (line: number, col: number) => {
    const d = view.state.doc;
    const l = d.line(Math.min(Math.max(1, line), d.lines));
    return { l, at: Math.min(l.from + Math.max(0, col - 1), l.to) };
  };

  return {
    text: () => view.state.doc.toString(),
    setText(t) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: t } });
    },
    setErrors(errs) {
      const diags: Diagnostic[] = errs.map((e) => {
        const { l, at } = pos(e.line || 1, e.col || 1);
        return { from: at, to: Math.max(at, l.to), severity: 'error', message: `line ${e.line}, column ${e.col}: ${e.message}` };
      });
      view.dispatch(setDiagnostics(view.state, diags));
    },
    setReadOnly(r) {
      view.dispatch({ effects: ro.reconfigure([EditorState.readOnly.of(r), EditorView.editable.of(!r)]) });
    },
    gotoLine(line, col = 1) {
      const { at } = pos(line, col);
      view.dispatch({ selection: { anchor: at }, scrollIntoView: true });
      view.focus();
    },
    destroy: () => view.destroy(),
  };
}
