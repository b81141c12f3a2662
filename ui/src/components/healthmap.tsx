// HealthMap shows every server as a tile, grouped by backend: its state by
// colour and glyph, its weight, its load as a bar (share of the backend's
// busiest server), and the reason and live numbers on hover or keyboard
// focus. One tab stop per backend; arrow keys, Home and End move between
// tiles (roving tabindex), Enter opens the server on the clusters page.
//
// Built for 1,000 servers updated every second: each backend's tiles are
// drawn on one canvas (a repaint of 100 rectangles, not of 100 styled
// elements), under a grid of transparent buttons that carry focus, hover
// and the accessible name and change only when a tile's state, weight or
// reason does. A group redraws only when one of its tiles changed, the
// tooltip is its own component (hovering re-renders nothing else), and
// off-screen groups skip rendering (CSS content-visibility).
import { signal } from '@preact/signals';
import { Component, createRef } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { BackendStats, ServerStats } from '../api/types';
import { ms, num } from '../lib/format';
import { healthSentence, serverState, stateGlyph, stateLabel, type TileState } from '../lib/health';
import { navigate } from '../lib/router';
import { configured, latest } from '../state/live';

/** Tile geometry (CSS pixels). */
const SIZE = 40;
const GAP = 4;

/** Tile colours (AA: glyph text on fill ≥ 4.5:1, border on page ≥ 3:1), as in styles.css .t-*. */
const paint: Record<TileState, { fill: string; ink: string; line: string; dash?: boolean; stripes?: string }> = {
  healthy: { fill: '#d1f0d9', ink: '#0f5323', line: '#1a7f37' },
  down: { fill: '#b42318', ink: '#ffffff', line: '#7a1309' },
  half_open: { fill: '#fde68a', ink: '#5c3c00', line: '#9a6700' },
  damped: { fill: '#eadcff', ink: '#4c1d95', line: '#7c3aed' },
  draining: { fill: '#e6f0fd', ink: '#0b3d75', line: '#3a7bc8', stripes: '#cfe3fb' },
  disabled: { fill: '#e5e7eb', ink: '#374151', line: '#6b7280', dash: true },
  removed: { fill: '#ffffff', ink: '#57606a', line: '#6b7280', dash: true },
  unknown: { fill: '#f3f4f6', ink: '#57606a', line: '#8c959f' },
};

interface TileView {
  address: string;
  state: TileState;
  weight: number;
  reason: string;
  load: number; // tenths of the busiest server's load, 0..10
}

/** view: what a tile shows; weight is the configured one when known (the stream has the weight in effect). */
function view(s: ServerStats, max: number, weight: number | undefined): TileView {
  const load = Math.round(((s.active_connections + s.requests_per_sec) / max) * 10);
  return { address: s.address, state: serverState(s), weight: weight ?? s.weight, reason: healthSentence(s), load };
}

const drawSig = (t: TileView) => `${t.state}|${t.weight}|${t.load}`;
const nameSig = (t: TileView) => `${t.address}|${t.state}|${t.weight}|${t.reason}`;

/**
 * atlas: every tile look in use (state × weight) pre-drawn once into one
 * canvas, so drawing a tile is one drawImage from a single source.
 */
const ATLAS_COLS = 32;
let atlas: { c: HTMLCanvasElement; dpr: number; slots: Map<string, number> } | null = null;

function slot(state: TileState, weight: number, dpr: number): [HTMLCanvasElement, number, number] {
  if (!atlas || atlas.dpr !== dpr || atlas.slots.size >= ATLAS_COLS * 64) {
    const c = document.createElement('canvas');
    c.width = Math.ceil(ATLAS_COLS * SIZE * dpr);
    c.height = Math.ceil(64 * SIZE * dpr);
    atlas = { c, dpr, slots: new Map() };
  }
  const k = `${state}|${weight}`;
  let n = atlas.slots.get(k);
  if (n === undefined) {
    n = atlas.slots.size;
    atlas.slots.set(k, n);
    const g = atlas.c.getContext('2d')!;
    g.setTransform(dpr, 0, 0, dpr, (n % ATLAS_COLS) * SIZE * dpr, Math.floor(n / ATLAS_COLS) * SIZE * dpr);
    drawTile(g, state, weight);
  }
  return [atlas.c, (n % ATLAS_COLS) * SIZE * dpr, Math.floor(n / ATLAS_COLS) * SIZE * dpr];
}

/** PAGE is the page background (styles.css --bg): tiles are opaque squares, so a redraw needs no clear. */
const PAGE = '#f6f8fa';

function drawTile(g: CanvasRenderingContext2D, state: TileState, weight: number) {
  const p = paint[state];
  const x = 0.75, y = 0.75, s = SIZE - 1.5;
  g.fillStyle = PAGE;
  g.fillRect(0, 0, SIZE, SIZE);
  g.beginPath();
  g.roundRect(x, y, s, s, 5);
  g.fillStyle = p.fill;
  g.fill();
  if (p.stripes) {
    g.save();
    g.clip();
    g.strokeStyle = p.stripes;
    g.lineWidth = 4;
    for (let d = -s; d < s; d += 12) {
      g.beginPath();
      g.moveTo(x + d, y + s);
      g.lineTo(x + d + s, y);
      g.stroke();
    }
    g.restore();
    g.beginPath();
    g.roundRect(x, y, s, s, 5);
  }
  g.setLineDash(p.dash ? [3, 2] : []);
  g.lineWidth = 1.5;
  g.strokeStyle = p.line;
  g.stroke();
  g.setLineDash([]);
  g.fillStyle = p.ink;
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.font = 'bold 15px system-ui, sans-serif';
  g.fillText(stateGlyph[state], x + s / 2, y + 14);
  g.font = '11px system-ui, sans-serif';
  g.fillText(String(weight), x + s / 2, y + 28);
}

/**
 * draw paints the tiles on c; with prev (what c shows now, same layout)
 * only the tiles that changed are repainted.
 */
function draw(c: HTMLCanvasElement, tiles: TileView[], cols: number, prev: TileView[] | null) {
  const dpr = window.devicePixelRatio || 1;
  const rows = Math.ceil(tiles.length / cols);
  const w = cols * (SIZE + GAP);
  const h = rows * (SIZE + GAP);
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = w + 'px';
    c.style.height = h + 'px';
    prev = null;
  }
  const g = c.getContext('2d');
  if (!g) return;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (!prev || prev.length !== tiles.length) {
    g.fillStyle = PAGE;
    g.fillRect(0, 0, w, h);
    prev = null;
  }
  for (let i = 0; i < tiles.length; i++) {
    const t = tiles[i];
    const o = prev?.[i];
    if (o && o.address === t.address && o.state === t.state && o.weight === t.weight && o.load === t.load) continue;
    const x = (i % cols) * (SIZE + GAP);
    const y = Math.floor(i / cols) * (SIZE + GAP);
    const [src, sx, sy] = slot(t.state, t.weight, dpr);
    g.drawImage(src, sx, sy, SIZE * dpr, SIZE * dpr, x, y, SIZE, SIZE);
    if (t.load > 0) {
      g.fillStyle = t.state === 'down' ? '#ffffff' : '#24292f';
      g.fillRect(x + 1.75, y + SIZE - 5.75, ((SIZE - 3.5) * t.load) / 10, 4);
    }
  }
}

interface GroupProps {
  name: string;
  tiles: TileView[];
  draw: string;
  names: string;
  focus: string | undefined;
  cols: number;
}

/**
 * Canvas paints are queued and run with a time budget per frame, so one
 * sample that changes every group is drawn over a few frames, never in one
 * long one.
 */
const queue = new Set<Group>();
let painting = 0;
const BUDGET = 6; // ms of drawing per frame

function schedule(g: Group) {
  queue.add(g);
  if (!painting) painting = requestAnimationFrame(runQueue);
}

function runQueue() {
  painting = 0;
  const t0 = performance.now();
  for (const g of queue) {
    queue.delete(g);
    g.paintNow();
    if (performance.now() - t0 > BUDGET) break;
  }
  if (queue.size) painting = requestAnimationFrame(runQueue);
}

class Group extends Component<GroupProps> {
  canvas = createRef<HTMLCanvasElement>();
  /** shown: what the canvas shows (and with which columns); want: what it should. */
  shown: { tiles: TileView[]; cols: number } | null = null;
  want: { tiles: TileView[]; cols: number } | null = null;
  shouldComponentUpdate(n: GroupProps) {
    const p = this.props;
    if (n.draw !== p.draw || n.cols !== p.cols) {
      this.want = { tiles: n.tiles, cols: n.cols };
      schedule(this);
    }
    // The buttons change only with names, focus or layout; load alone is paint.
    return n.names !== p.names || n.focus !== p.focus || n.cols !== p.cols;
  }
  componentDidMount() {
    this.want = { tiles: this.props.tiles, cols: this.props.cols };
    this.paintNow();
  }
  componentWillUnmount() {
    queue.delete(this);
  }
  paintNow() {
    const c = this.canvas.current;
    const w = this.want;
    if (!c || !w) return;
    const prev = this.shown && this.shown.cols === w.cols ? this.shown.tiles : null;
    draw(c, w.tiles, w.cols, prev);
    this.shown = w;
  }
  render({ name, tiles, focus, cols }: GroupProps) {
    const rows = Math.ceil(tiles.length / cols);
    return (
      <section class="hm-group" aria-label={`backend ${name}`}>
        <h3 class="hm-name">
          {name} <span class="muted">{tiles.length} servers</span>
        </h3>
        <div class="tiles" style={{ height: rows * (SIZE + GAP) + 'px', width: cols * (SIZE + GAP) + 'px' }}>
          <canvas ref={this.canvas} class="tiles-canvas" aria-hidden="true" />
          {tiles.map((t, i) => (
            <button
              key={t.address}
              type="button"
              class="tile-hit"
              style={{ left: (i % cols) * (SIZE + GAP) + 'px', top: Math.floor(i / cols) * (SIZE + GAP) + 'px' }}
              tabIndex={t.address === focus ? 0 : -1}
              data-backend={name}
              data-server={t.address}
              data-state={t.state}
              data-index={i}
              aria-label={`${name} ${t.address}: ${stateLabel[t.state]}; weight ${t.weight}; ${t.reason}`}
              aria-describedby="hm-tip"
            />
          ))}
        </div>
      </section>
    );
  }
}

/** tip: the tile the pointer or focus is on, and where to draw its tooltip. */
const tip = signal<{ backend: string; server: string; x: number; y: number } | null>(null);

/** Tooltip reads the live numbers of the tile under the pointer or focus. */
function Tooltip() {
  const t = tip.value;
  if (!t) return <div id="hm-tip" class="tooltip" hidden />;
  const s = latest.value?.backends?.find((b) => b.name === t.backend)?.servers?.find((x) => x.address === t.server);
  if (!s) return <div id="hm-tip" class="tooltip" hidden />;
  const w = configured.value.get(t.backend + '|' + t.server);
  return (
    <div id="hm-tip" class="tooltip" role="tooltip" style={{ left: t.x + 'px', top: t.y + 'px' }}>
      <div class="tt-head">
        {s.address} — {stateLabel[serverState(s)]}
      </div>
      <div>{healthSentence(s)}</div>
      <div>
        weight {w ?? s.weight}
        {w !== undefined && w !== s.weight ? ` (${s.weight} in effect)` : ''} · {s.active_connections} conns · {num(s.requests_per_sec)} req/s · p99{' '}
        {ms(s.p99_ms)}
      </div>
    </div>
  );
}

const openServer = (el: HTMLElement) =>
  navigate(`/backends?backend=${encodeURIComponent(el.dataset.backend!)}&server=${encodeURIComponent(el.dataset.server!)}`);

export function HealthMap({ backends }: { backends: BackendStats[] }) {
  const [active, setActive] = useState<Record<string, string>>({});
  const [width, setWidth] = useState(0);
  const root = useRef<HTMLDivElement>(null);
  const hovered = useRef<HTMLElement | null>(null);
  useEffect(() => {
    const el = root.current!;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const cols = Math.max(1, Math.floor((width + GAP) / (SIZE + GAP)));

  const show = (el: HTMLElement | null) => {
    if (el === hovered.current) return;
    hovered.current = el;
    if (!el) {
      tip.value = null;
      return;
    }
    const r = el.getBoundingClientRect();
    const host = root.current!.getBoundingClientRect();
    tip.value = {
      backend: el.dataset.backend!,
      server: el.dataset.server!,
      x: Math.max(0, Math.min(r.left - host.left, host.width - 260)),
      y: r.bottom - host.top + 6,
    };
  };
  const tileOf = (e: Event) => (e.target as HTMLElement).closest?.('.tile-hit') as HTMLElement | null;

  const onKey = (e: KeyboardEvent) => {
    const el = tileOf(e);
    if (!el) return;
    const group = Array.from(el.parentElement!.querySelectorAll<HTMLElement>('.tile-hit'));
    const i = Number(el.dataset.index);
    let j = i;
    switch (e.key) {
      case 'ArrowRight': j = i + 1; break;
      case 'ArrowLeft': j = i - 1; break;
      case 'ArrowDown': j = i + cols; break;
      case 'ArrowUp': j = i - cols; break;
      case 'Home': j = 0; break;
      case 'End': j = group.length - 1; break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        openServer(el);
        return;
      case 'Escape': show(null); return;
      default: return;
    }
    e.preventDefault();
    j = Math.max(0, Math.min(group.length - 1, j));
    const next = group[j];
    setActive({ ...active, [next.dataset.backend!]: next.dataset.server! });
    next.focus();
  };

  const weights = configured.value;
  const counts = new Map<TileState, number>();
  const groups = backends.map((b) => {
    const servers = b.servers ?? [];
    let max = 1;
    for (const s of servers) max = Math.max(max, s.active_connections + s.requests_per_sec);
    const tiles = servers.map((s) => view(s, max, weights.get(b.name + '|' + s.address)));
    for (const t of tiles) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    const focus = active[b.name] && tiles.some((t) => t.address === active[b.name]) ? active[b.name] : tiles[0]?.address;
    return { name: b.name, tiles, draw: tiles.map(drawSig).join(';'), names: tiles.map(nameSig).join(';'), focus };
  });

  return (
    <div
      class="healthmap"
      ref={root}
      onKeyDown={onKey}
      onMouseOver={(e) => show(tileOf(e))}
      onMouseLeave={() => show(null)}
      onFocusIn={(e) => show(tileOf(e))}
      onFocusOut={() => show(null)}
      onClick={(e) => {
        const t = tileOf(e);
        if (t) openServer(t);
      }}
    >
      <ul class="legend" aria-label="Server states">
        {(['healthy', 'down', 'half_open', 'damped', 'draining', 'disabled', 'removed'] as TileState[]).map((st) => (
          <li key={st}>
            <span class={'tile mini t-' + st} aria-hidden="true">{stateGlyph[st]}</span> {stateLabel[st]} {counts.get(st) ?? 0}
          </li>
        ))}
      </ul>
      {groups.map((g) => (
        <Group key={g.name} name={g.name} tiles={g.tiles} draw={g.draw} names={g.names} focus={g.focus} cols={cols} />
      ))}
      <Tooltip />
    </div>
  );
}
