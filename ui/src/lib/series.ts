// Series keeps the last WINDOW seconds of per-frontend and per-backend
// numbers in the browser, as column arrays uPlot draws without copying:
// t (unix seconds) and one column per key ("f:web:rps"), null where a key
// had no value (not yet created, removed, or a gap in the stream).

export const WINDOW = 15 * 60;

export type Col = (number | null)[];

export class Series {
  t: number[] = [];
  cols = new Map<string, Col>();
  /** version changes at every push, so views know when to redraw. */
  version = 0;

  constructor(private window = WINDOW) {}

  /** push adds one sample at time (seconds). Samples not newer than the last are ignored. */
  push(time: number, values: Map<string, number>) {
    const n = this.t.length;
    if (n > 0 && time <= this.t[n - 1]) return;
    this.t.push(time);
    for (const [k, col] of this.cols) col.push(values.has(k) ? values.get(k)! : null);
    for (const [k, v] of values) {
      if (this.cols.has(k)) continue;
      const col: Col = new Array(n).fill(null);
      col.push(v);
      this.cols.set(k, col);
    }
    this.trim(time);
    this.version++;
  }

  /** gap marks a hole (the stream was down) so lines are not drawn across it. */
  gap(time: number) {
    const n = this.t.length;
    if (n === 0 || time <= this.t[n - 1]) return;
    this.t.push(time);
    for (const col of this.cols.values()) col.push(null);
    this.version++;
  }

  private trim(now: number) {
    let drop = 0;
    while (drop < this.t.length && this.t[drop] < now - this.window) drop++;
    if (drop === 0) return;
    this.t.splice(0, drop);
    for (const [k, col] of this.cols) {
      col.splice(0, drop);
      if (col.every((v) => v === null)) this.cols.delete(k);
    }
  }

  /** data is uPlot's aligned data for keys (a missing key is all nulls). */
  data(keys: string[]): [number[], ...Col[]] {
    return [this.t, ...keys.map((k) => this.cols.get(k) ?? new Array(this.t.length).fill(null))];
  }

  /** last is the newest value of key, or null. */
  last(key: string): number | null {
    const col = this.cols.get(key);
    return col && col.length ? col[col.length - 1] : null;
  }
}
