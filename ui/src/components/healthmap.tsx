// HealthMap shows every server as a tile, grouped by backend: its state by
// colour and glyph, its weight, its load as a bar (share of the backend's
// busiest server), and the reason on hover or keyboard focus. One tab stop
// per backend; arrow keys, Home and End move between tiles (roving
// tabindex), Enter opens the server on the clusters page. Tiles re-render
// only when what they show changed, so 1,000 servers stay cheap per second.
import { Component } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { BackendStats, ServerStats } from '../api/types';
import { num, ms } from '../lib/format';
import { healthSentence, serverState, stateGlyph, stateLabel, type TileState } from '../lib/health';
import { navigate } from '../lib/router';

interface TileProps {
  backend: string;
  s: ServerStats;
  load: number; // 0..1
  focusable: boolean;
  sig: string;
}

function describe(backend: string, s: ServerStats): string {
  const st = stateLabel[serverState(s)];
  return `${backend} ${s.address}: ${st}; weight ${s.weight}; ${s.active_connections} connections, ${num(s.requests_per_sec)} req/s; ${healthSentence(s)}`;
}

class Tile extends Component<TileProps> {
  shouldComponentUpdate(next: TileProps) {
    return next.sig !== this.props.sig || next.focusable !== this.props.focusable;
  }
  render({ backend, s, load, focusable }: TileProps) {
    const st: TileState = serverState(s);
    return (
      <button
        type="button"
        class={'tile t-' + st}
        tabIndex={focusable ? 0 : -1}
        data-backend={backend}
        data-server={s.address}
        data-state={st}
        aria-label={describe(backend, s)}
      >
        <span class="tile-glyph" aria-hidden="true">
          {stateGlyph[st]}
        </span>
        <span class="tile-w" aria-hidden="true">
          {s.weight}
        </span>
        <span class="tile-load" aria-hidden="true" style={{ width: Math.round(load * 100) + '%' }} />
      </button>
    );
  }
}

interface Tip {
  text: string[];
  x: number;
  y: number;
}

export function HealthMap({ backends }: { backends: BackendStats[] }) {
  const [tip, setTip] = useState<Tip | null>(null);
  const [active, setActive] = useState<Record<string, string>>({});
  const root = useRef<HTMLDivElement>(null);

  const show = (el: HTMLElement) => {
    const b = el.dataset.backend!;
    const a = el.dataset.server!;
    const s = backends.find((x) => x.name === b)?.servers.find((x) => x.address === a);
    if (!s) return;
    const r = el.getBoundingClientRect();
    const host = root.current!.getBoundingClientRect();
    setTip({
      text: [
        `${a} — ${stateLabel[serverState(s)]}`,
        healthSentence(s),
        `weight ${s.weight} · ${s.active_connections} conns · ${num(s.requests_per_sec)} req/s · p99 ${ms(s.p99_ms)}`,
      ],
      x: Math.min(r.left - host.left, Math.max(0, host.width - 260)),
      y: r.bottom - host.top + 6,
    });
  };
  const tileOf = (e: Event) => (e.target as HTMLElement).closest?.('.tile') as HTMLElement | null;

  const onKey = (e: KeyboardEvent) => {
    const el = tileOf(e);
    if (!el) return;
    const group = Array.from(el.parentElement!.children) as HTMLElement[];
    const i = group.indexOf(el);
    let cols = 1;
    while (cols < group.length && group[cols].offsetTop === group[0].offsetTop) cols++;
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
        navigate(`/backends?backend=${encodeURIComponent(el.dataset.backend!)}&server=${encodeURIComponent(el.dataset.server!)}`);
        return;
      case 'Escape': setTip(null); return;
      default: return;
    }
    e.preventDefault();
    j = Math.max(0, Math.min(group.length - 1, j));
    const next = group[j];
    setActive({ ...active, [next.dataset.backend!]: next.dataset.server! });
    next.focus();
  };

  const counts = new Map<TileState, number>();
  for (const b of backends) for (const s of b.servers ?? []) counts.set(serverState(s), (counts.get(serverState(s)) ?? 0) + 1);

  return (
    <div
      class="healthmap"
      ref={root}
      onKeyDown={onKey}
      onMouseOver={(e) => { const t = tileOf(e); if (t) show(t); }}
      onMouseLeave={() => setTip(null)}
      onFocusIn={(e) => { const t = tileOf(e); if (t) show(t); }}
      onFocusOut={() => setTip(null)}
      onClick={(e) => {
        const t = tileOf(e);
        if (t) navigate(`/backends?backend=${encodeURIComponent(t.dataset.backend!)}&server=${encodeURIComponent(t.dataset.server!)}`);
      }}
    >
      <ul class="legend" aria-label="Server states">
        {(['healthy', 'down', 'half_open', 'damped', 'draining', 'disabled', 'removed'] as TileState[]).map((st) => (
          <li key={st}>
            <span class={'tile mini t-' + st} aria-hidden="true">{stateGlyph[st]}</span> {stateLabel[st]} {counts.get(st) ?? 0}
          </li>
        ))}
      </ul>
      {backends.map((b) => {
        const servers = b.servers ?? [];
        const max = Math.max(1, ...servers.map((s) => s.active_connections + s.requests_per_sec));
        const focus = active[b.name] && servers.some((s) => s.address === active[b.name]) ? active[b.name] : servers[0]?.address;
        return (
          <section class="hm-group" key={b.name} aria-label={`backend ${b.name}`}>
            <h3 class="hm-name">
              {b.name} <span class="muted">{servers.length} servers</span>
            </h3>
            <div class="tiles">
              {servers.map((s) => {
                const load = (s.active_connections + s.requests_per_sec) / max;
                const sig = `${serverState(s)}|${s.weight}|${s.active_connections}|${s.requests_per_sec.toFixed(1)}|${s.reason ?? ''}|${s.p99_ms}|${Math.round(load * 20)}`;
                return <Tile key={s.address} backend={b.name} s={s} load={load} focusable={s.address === focus} sig={sig} />;
              })}
            </div>
          </section>
        );
      })}
      {tip && (
        <div class="tooltip" aria-hidden="true" style={{ left: tip.x + 'px', top: tip.y + 'px' }}>
          {tip.text.map((t, i) => (
            <div key={i} class={i === 0 ? 'tt-head' : ''}>{t}</div>
          ))}
        </div>
      )}
    </div>
  );
}
