// The dashboard with 10 backends × 100 servers (ui/e2e_test.go
// TestBrowserDashboardSmooth): a performance trace while the stream updates
// charts and the health map, with a user hovering tiles and switching the
// charts. Frames are measured three ways: Long Animation Frame entries
// (frames whose work took over 50 ms), main-thread tasks in the Chromium
// trace, and the gaps between requestAnimationFrame callbacks.
import { readFileSync } from 'node:fs';
import { assert, env, launch, login, newPage, shot, step, summary, user, waitFor } from './lib.mjs';

const LIMIT = 50; // ms
const WINDOW = 15000; // ms of recording
const browser = await launch();
const page = await newPage(browser);

await step(`dashboard with ${env.servers} servers: every tile drawn`, async () => {
  await login(page, user('admin'));
  await waitFor(`${env.servers} tiles`, async () => (await page.locator('.tiles .tile-hit').count()) === env.servers, 30000, 500);
  const states = await page.locator('.tiles .tile-hit').evaluateAll((ts) => {
    const n = {};
    for (const t of ts) n[t.dataset.state] = (n[t.dataset.state] ?? 0) + 1;
    return n;
  });
  await page.waitForTimeout(3000);
  await page.locator('#hm-h').scrollIntoViewIfNeeded();
  await shot(page, 'dashboard-1000-servers-desktop', false);
  await page.evaluate(() => scrollTo(0, 0));
  return JSON.stringify(states);
});

await step(`dashboard with ${env.servers} servers: no frame over ${LIMIT} ms in a ${WINDOW / 1000} s performance trace`, async () => {
  await page.evaluate(() => {
    const w = window;
    w.__loaf = [];
    w.__long = [];
    w.__gaps = [];
    w.__samples = 0;
    new PerformanceObserver((l) => w.__loaf.push(...l.getEntries().map((e) => ({ d: e.duration, b: e.blockingDuration, s: e.scripts?.map((x) => x.sourceFunctionName || x.invoker).join(',') })))).observe({ type: 'long-animation-frame' });
    new PerformanceObserver((l) => w.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
    let last = performance.now();
    const f = (t) => {
      w.__gaps.push(t - last);
      last = t;
      if (!w.__stop) requestAnimationFrame(f);
    };
    requestAnimationFrame(f);
  });
  const trace = `${env.tmp}/dashboard-trace.json`;
  await browser.startTracing(page, { path: trace, categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel'] });
  const points0 = Number(await page.locator('figure:has(#c-rps-t)').getAttribute('data-points'));
  // What a user does meanwhile: switches the charts, scrolls to the map and
  // points at tiles. Places are measured with one getBoundingClientRect,
  // not with locators (whose queries over 1,000 tiles would be the test's
  // own work in the trace); the pointer moves by coordinates.
  const rect = (sel) => page.evaluate((s) => JSON.parse(JSON.stringify(document.querySelector(s).getBoundingClientRect())), sel);
  const scopeBtn = await rect('.seg button:last-child');
  await page.mouse.click(scopeBtn.x + scopeBtn.width / 2, scopeBtn.y + scopeBtn.height / 2);
  await page.waitForTimeout(2000);
  const map0 = await rect('.healthmap');
  await page.mouse.wheel(0, map0.y - 80);
  await page.waitForTimeout(500);
  const map = await rect('.healthmap');
  const vp = page.viewportSize();
  const top = Math.max(map.y, 0) + 60;
  const bottom = Math.min(map.y + map.height, vp.height) - 10;
  const end = Date.now() + WINDOW - 2500;
  let i = 0;
  while (Date.now() < end) {
    const x = map.x + 20 + ((i * 97) % Math.max(1, map.width - 40));
    const y = top + ((i * 53) % Math.max(1, bottom - top));
    await page.mouse.move(x, y, { steps: 3 });
    i++;
    await page.waitForTimeout(250);
  }
  await browser.stopTracing();
  const m = await page.evaluate(() => {
    window.__stop = true;
    return { loaf: window.__loaf, long: window.__long, gaps: window.__gaps };
  });
  const points1 = Number(await page.locator('figure:has(#c-rps-t)').getAttribute('data-points'));
  assert(points1 >= points0 + WINDOW / 1000 - 3, `the charts got ${points1 - points0} samples in ${WINDOW / 1000} s: the stream stalled`);

  // main-thread tasks of the renderer in the trace
  const ev = JSON.parse(readFileSync(trace, 'utf8'));
  const events = Array.isArray(ev) ? ev : ev.traceEvents;
  const main = new Set(events.filter((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const tasks = events.filter((e) => e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask') && main.has(`${e.pid}:${e.tid}`));
  const wall = tasks.map((e) => e.dur / 1000);
  const cpu = tasks.map((e) => (e.tdur ?? e.dur) / 1000);
  const maxWall = Math.max(0, ...wall);
  const maxCpu = Math.max(0, ...cpu);
  const gaps = m.gaps.slice(2);
  const maxGap = Math.max(0, ...gaps);
  const p99gap = gaps.sort((a, b) => a - b)[Math.floor(gaps.length * 0.99)] ?? 0;
  const longFrames = m.loaf.filter((f) => f.d > LIMIT);
  // what the longest tasks (by CPU) spent their time on
  const worst = tasks.sort((a, b) => (b.tdur ?? b.dur) - (a.tdur ?? a.dur)).slice(0, Number(process.env.PERF_TOP ?? 3));
  for (const w of worst) {
    const inside = events.filter((e) => e.ph === 'X' && e.pid === w.pid && e.tid === w.tid && e.ts >= w.ts && e.ts + (e.dur ?? 0) <= w.ts + w.dur && e !== w);
    const by = new Map();
    for (const e of inside) by.set(e.name, (by.get(e.name) ?? 0) + (e.tdur ?? e.dur ?? 0) / 1000);
    const top = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${v.toFixed(1)}`);
    console.log(`perf: task ${((w.tdur ?? w.dur) / 1000).toFixed(1)} ms CPU / ${(w.dur / 1000).toFixed(1)} ms wall: ${top.join(', ')}`);
  }
  const detail =
    `${tasks.length} main-thread tasks: longest ${maxWall.toFixed(1)} ms wall, ${maxCpu.toFixed(1)} ms CPU; ` +
    `${gaps.length} frames: longest gap ${maxGap.toFixed(1)} ms, p99 ${p99gap.toFixed(1)} ms; ` +
    `long animation frames over ${LIMIT} ms: ${longFrames.length}${longFrames.length ? ' ' + JSON.stringify(longFrames.slice(0, 3)) : ''}; long tasks: ${m.long.length}`;
  console.log('perf: ' + detail);
  // A frame's own work (the CPU time of each main-thread task: script,
  // style, layout, paint, commit) must stay under the limit. Wall times
  // (Long Animation Frames, rAF gaps) also count the time a shared,
  // overloaded machine did not give the browser; they are reported above
  // but not judged.
  assert(tasks.length > 100, `only ${tasks.length} main-thread tasks in the trace: tracing did not record the renderer`);
  assert(maxCpu <= LIMIT, `a main-thread task took ${maxCpu.toFixed(1)} ms of CPU: ${detail}`);
  return detail;
});

await step('no script errors', async () => {
  assert(page.errors.length === 0, page.errors.slice(0, 5).join('; '));
});

await browser.close();
process.exit(summary() ? 1 : 0);
