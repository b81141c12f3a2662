// Chart draws columns of the live Series with uPlot (a canvas chart made
// for streaming time series: one setData per second, no DOM per point).
// The canvas is hidden from assistive technology; the "now" line under it
// says the latest values in words.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Series } from '../lib/series';

/** palette: distinct colours with at least 3:1 contrast on white (WCAG 1.4.11). */
export const palette = ['#1b6ec2', '#c0392b', '#2e7d32', '#7b3fb5', '#8d5524', '#c2185b', '#56606b', '#7a6a00', '#00727d', '#b34700'];

function hms(t: number, seconds: boolean): string {
  const d = new Date(t * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return p(d.getHours()) + ':' + p(d.getMinutes()) + (seconds ? ':' + p(d.getSeconds()) : '');
}

/** minSpan shows at least a minute on the time axis, so the first samples do not fill the width. */
function minSpan(u: uPlot) {
  const t = u.data[0];
  if (t.length && t[t.length - 1] - t[0] < 60) u.setScale('x', { min: t[t.length - 1] - 60, max: t[t.length - 1] });
}

export interface Line {
  key: string;
  label: string;
  color: string;
  dash?: boolean;
}

interface Props {
  id: string;
  title: string;
  lines: Line[];
  series: Series;
  /** version: redraw when it changes (the live tick). */
  version: number;
  fmt: (v: number) => string;
  height?: number;
}

export function Chart({ id, title, lines, series, version, fmt, height = 180 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const sig = lines.map((l) => l.key + l.label).join('|');

  useEffect(() => {
    const el = box.current!;
    const width = Math.max(200, el.clientWidth);
    const opts: uPlot.Options = {
      width,
      height,
      pxAlign: 0,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      // The legend is ours (the caption): uPlot's live legend would rewrite
      // a table on every pointer move.
      legend: { show: false },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: '#444', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d0d4d9' }, values: (_u, vals, _a, _s, incr) => vals.map((v) => hms(v, incr < 60)) },
        { stroke: '#444', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d0d4d9' }, size: 56, values: (_u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [
        { value: (_u, v) => (v == null ? '' : new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })) },
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 1.5,
          dash: l.dash ? [5, 4] : undefined,
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : fmt(v)),
          points: { show: false },
        })),
      ],
    };
    const u = new uPlot(opts, series.data(lines.map((l) => l.key)) as uPlot.AlignedData, el);
    plot.current = u;
    minSpan(u);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [sig, height]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(series.data(lines.map((l) => l.key)) as uPlot.AlignedData);
    minSpan(u);
  }, [version, sig]);

  return (
    <figure class="chart" aria-labelledby={id + '-t'} data-points={series.t.length}>
      <h3 id={id + '-t'} class="chart-title">
        {title}
      </h3>
      <div ref={box} class="chart-canvas" aria-hidden="true" />
      <figcaption class="chart-now" id={id + '-now'}>
        {lines.length === 0 ? (
          'No data yet.'
        ) : (
          <>
            <span class="sr-only">Now: </span>
            {lines.map((l, i) => {
              const v = series.last(l.key);
              return (
                <span key={l.key} class="chart-key">
                  <span class={'swatch' + (l.dash ? ' dash' : '')} style={{ borderColor: l.color }} aria-hidden="true" />
                  {l.label} {v == null ? '–' : fmt(v)}
                  {i < lines.length - 1 ? <span class="sr-only">, </span> : null}
                </span>
              );
            })}
          </>
        )}
      </figcaption>
    </figure>
  );
}
