// Helpers shared by the browser tests (run by ui/e2e_test.go with node):
// the environment, Chromium with the flags of DEVELOPERS.md, steps reported
// as "E2E ok|fail|skip NAME :: detail" lines, polling with a deadline.
import { chromium } from 'playwright-core';

export const env = JSON.parse(process.env.SLUICE_E2E ?? '{}');

/** Skip is thrown by a step to report it skipped (with the reason). */
export class Skip extends Error {}

const results = [];

function line(kind, name, detail = '') {
  const d = String(detail).replace(/\s+/g, ' ').trim();
  console.log(`E2E ${kind} ${name}${d ? ' :: ' + d : ''}`);
  results.push(kind);
}

/** step runs fn; a thrown error fails it (and the run goes on with the next step). */
export async function step(name, fn) {
  // E2E_ONLY=regexp runs only the matching steps (when working on one).
  if (process.env.E2E_ONLY && !new RegExp(process.env.E2E_ONLY).test(name)) return false;
  const t0 = Date.now();
  try {
    const detail = await fn();
    line('ok', name, (detail ? detail + ' ' : '') + `(${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    return true;
  } catch (e) {
    if (e instanceof Skip) line('skip', name, e.message);
    else line('fail', name, e?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e));
    return false;
  }
}

/** waitFor polls fn until it returns a truthy value, or fails after ms with what. */
export async function waitFor(what, fn, ms = 15000, every = 200) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export async function launch() {
  return chromium.launch({
    executablePath: env.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** page opens a context (desktop 1280x800 or phone 390x844) and watches for page errors. */
export async function newPage(browser, phone = false) {
  const ctx = await browser.newContext(
    phone
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }
      : { viewport: { width: 1280, height: 800 } },
  );
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|403|404|412|422)/.test(m.text())) page.errors.push('console: ' + m.text());
  });
  return page;
}

/** login signs in through the login page and waits for the page to load. */
export async function login(page, user, path = '/') {
  await page.goto(env.base + '/ui' + path);
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: new RegExp(user.name) }).waitFor({ timeout: 15000 });
}

export function user(role) {
  return env.users.find((u) => u.role === role);
}

/** shot saves a screenshot of the whole page (or only the viewport) as SHOTS/NAME.png. */
export async function shot(page, name, fullPage = true) {
  await page.screenshot({ path: `${env.shots}/${name}.png`, fullPage });
}

/** api calls the admin API with the page's session (cookie and CSRF token). */
export async function api(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const me = await fetch('/api/v1/me').then((r) => r.json());
      const r = await fetch('/api/v1' + path, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token ?? '' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: await r.text() };
    },
    [method, path, body],
  );
}

/**
 * overflow lists elements that stick out of the viewport to the right
 * (what would make a page scroll sideways), and the document's scroll width.
 */
export async function overflow(page, width) {
  // A mobile browser widens the layout viewport (innerWidth) to fit wider
  // content and zooms out, so measure against the device width itself.
  return page.evaluate((w) => {
    const out = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > w + 0.5 && getComputedStyle(el).position !== 'fixed') {
        out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${String(el.className).split(' ')[0]} right=${Math.round(r.right)}`);
      }
    }
    const sw = Math.max(document.documentElement.scrollWidth, innerWidth);
    return { scrollWidth: sw, width: w, out: out.slice(0, 5) };
  }, width);
}

/**
 * a11y checks what can be checked mechanically: every form control has an
 * accessible name, every button a name, images of text have alternatives,
 * and text contrast is at least 4.5:1 (3:1 for large text) against the
 * backgrounds it is drawn on (WCAG 2.1 AA).
 */
export async function a11y(page) {
  return page.evaluate(() => {
    const problems = [];
    const name = (el) =>
      (el.getAttribute('aria-label') ?? '').trim() ||
      (el.getAttribute('aria-labelledby') ?? '')
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent ?? '')
        .join(' ')
        .trim() ||
      Array.from(el.labels ?? [])
        .map((l) => l.textContent)
        .join(' ')
        .trim() ||
      (el.getAttribute('title') ?? '').trim();
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      const s = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
    };
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      if (!name(el)) problems.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
    }
    for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
      if (!visible(el)) continue;
      if (!name(el) && !el.textContent.trim()) problems.push(`unnamed ${el.tagName.toLowerCase()}.${el.className}`);
    }
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.backgroundImage && s.backgroundImage !== 'none') return null; // gradient or image: not judged here
        const c = parse(s.backgroundColor);
        if (c && c.a >= 0.99) return c;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent.trim() || seen.has(el) || !visible(el)) continue;
      if (el.closest('.sr-only, canvas, [aria-hidden=true] .u-legend')) continue;
      seen.add(el);
      const s = getComputedStyle(el);
      const fg = parse(s.color);
      const bg = bgOf(el);
      if (!fg || !bg) continue;
      const L1 = lum(fg), L2 = lum(bg);
      const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
      const px = parseFloat(s.fontSize);
      const large = px >= 24 || (px >= 18.66 && Number(s.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      if (ratio < need) problems.push(`contrast ${ratio.toFixed(2)} < ${need} for "${n.textContent.trim().slice(0, 30)}" (${s.color} on rgb(${bg.r},${bg.g},${bg.b}))`);
    }
    return problems;
  });
}

export function summary() {
  const failed = results.filter((k) => k === 'fail').length;
  return failed;
}
