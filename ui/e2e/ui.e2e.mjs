// The UI's browser test (run by ui/e2e_test.go TestBrowserUI against a real
// sluice): every step is what an operator does, checked on the page.
import { a11y, api, assert, env, launch, login, newPage, overflow, shot, step, summary, user, waitFor } from './lib.mjs';

const browser = await launch();
const admin = user('admin');
const operator = user('operator');
const viewer = user('viewer');
const [s1, s2, s3] = env.servers;
const pages = [
  ['dashboard', '/', 'Dashboard'],
  ['clusters', '/backends', 'Clusters and servers'],
  ['configuration', '/config', 'Configuration'],
  ['logs', '/logs', 'Access log'],
  ['alerts', '/alerts', 'Alerts'],
  ['api-keys', '/keys', 'API keys'],
];
const control = (what, addr) => fetch(`${env.control}/${what}?addr=${addr}`, { method: 'POST' });
const page = await newPage(browser);
const all = [page];
const h1 = (p, name) => p.getByRole('heading', { level: 1, name }).waitFor({ timeout: 15000 });
const nav = async (p, label, title) => {
  await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label }).click();
  await h1(p, title);
};
const row = (p, backend, addr) => p.locator(`#backend-${backend} tr[data-server="${addr}"]`);
const notice = (p, text) => p.locator('.notice').filter({ hasText: text }).first().waitFor({ timeout: 20000 });

await step('login: a wrong password is refused, then the dashboard with the user and role', async () => {
  await page.goto(env.base + '/ui/');
  await page.waitForURL(/\/ui\/login/);
  await shot(page, 'login-desktop');
  await page.getByLabel('User name').fill(admin.name);
  await page.getByLabel('Password').fill('not-' + admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Wrong user name or password.').waitFor();
  await login(page, admin);
  await h1(page, 'Dashboard');
  await page.getByRole('button', { name: new RegExp(admin.name) }).click();
  const who = await page.locator('.menu-who').textContent();
  assert(who.includes(admin.name) && who.includes('admin'), `account menu says "${who}"`);
  await page.keyboard.press('Escape');
});

await step('dashboard: the request-rate chart moves while load runs', async () => {
  const fig = page.locator('figure:has(#c-rps-t)');
  await fig.waitFor();
  const p0 = Number(await fig.getAttribute('data-points'));
  const before = await fig.locator('.chart-canvas').screenshot();
  await waitFor('3 more samples on the chart', async () => Number(await fig.getAttribute('data-points')) >= p0 + 3, 20000);
  const now = await waitFor('web requests/s above 5', async () => {
    const t = await page.locator('#c-rps-now').textContent();
    const v = Number(/web ([\d.]+)/.exec(t)?.[1]);
    return v > 5 && t;
  });
  await waitFor('the chart canvas to change', async () => !before.equals(await fig.locator('.chart-canvas').screenshot()), 15000, 500);
  await page.getByRole('button', { name: 'Backends' }).click();
  await waitFor('per-backend chart', async () => /web/.test(await page.locator('#c-rps-now').textContent()));
  await page.getByRole('button', { name: 'Frontends' }).click();
  return now.trim();
});

await step('clusters: drain a server: confirmed, its tile changes, its traffic stops', async () => {
  await nav(page, 'Clusters', 'Clusters and servers');
  const r = row(page, 'web', s1);
  await waitFor(`${s1} has traffic`, async () => Number(await r.locator('td.rps').textContent()) > 0, 20000);
  await r.getByRole('button', { name: 'Drain', exact: true }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByText('gets no new requests').waitFor();
  await dlg.getByRole('button', { name: `Drain ${s1}` }).click();
  await notice(page, `Drain ${s1}: done`);
  const changes = await page.locator('.notice').first().textContent();
  await waitFor('the row says draining', async () => (await r.getAttribute('data-state')) === 'draining');
  // traffic stops: 0 req/s through more than three once-a-second samples
  let zeroSince = 0;
  await waitFor(`${s1} at 0 req/s for 3.5 s`, async () => {
    const v = (await r.locator('td.rps').textContent()).trim();
    if (v !== '0') zeroSince = 0;
    else if (!zeroSince) zeroSince = Date.now();
    return zeroSince && Date.now() - zeroSince >= 3500;
  }, 25000, 250);
  await nav(page, 'Dashboard', 'Dashboard');
  const tile = page.locator(`.tile-hit[data-backend="web"][data-server="${s1}"]`);
  await waitFor('the tile says draining', async () => (await tile.getAttribute('data-state')) === 'draining');
  assert((await tile.getAttribute('aria-label')).includes('draining'), 'tile label lacks the state');
  await tile.focus();
  await waitFor('the tooltip on focus', async () => /draining/.test((await page.locator('.tooltip').textContent()) ?? ''));
  await shot(page, 'dashboard-desktop');
  await nav(page, 'Clusters', 'Clusters and servers');
  await row(page, 'web', s1).getByRole('button', { name: 'Undrain', exact: true }).click();
  await notice(page, `Undrain ${s1}: done`);
  await waitFor('traffic again', async () => Number(await row(page, 'web', s1).locator('td.rps').textContent()) > 0, 20000);
  return changes.replace(/✕/g, '').trim();
});

await step('configuration: a broken line shows its error at that line, fixed, the diff, applied', async () => {
  await nav(page, 'Configuration', 'Configuration');
  await page.locator('.editor-host[data-editor="ready"] .cm-content').waitFor();
  const text = (await api(page, 'GET', '/config')).body;
  const errLine = text.split('\n').length; // the empty line after the final newline
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('bogus_key: 1');
  const item = page.locator('.errors li').filter({ hasText: `line ${errLine}, column 1` });
  await item.waitFor({ timeout: 15000 });
  const msg = await item.textContent();
  assert(/bogus_key/.test(msg), `the error does not name the key: ${msg}`);
  // the lint marker sits in the gutter beside that line
  const lineBox = await page.locator('.cm-line').nth(errLine - 1).boundingBox();
  const marker = await page.locator('.cm-lint-marker-error').first().boundingBox();
  assert(marker && Math.abs(marker.y + marker.height / 2 - (lineBox.y + lineBox.height / 2)) < lineBox.height, `marker at y=${marker?.y}, line ${errLine} at y=${lineBox.y}`);
  assert((await page.locator('.cm-lintRange-error').count()) > 0, 'no underline at the error');
  await shot(page, 'configuration-error-desktop');
  for (let i = 0; i < 'bogus_key: 1'.length; i++) await page.keyboard.press('Backspace');
  await page.getByText('No edits: this is the running configuration.').waitFor();
  // a real change: the last server's weight 1 → 4
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('End');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('4');
  await page.locator('.editor-status .ok').getByText('Valid.').waitFor({ timeout: 15000 });
  await page.getByRole('button', { name: 'Preview changes' }).click();
  const diff = page.locator('section:has(#diff-h) .diff li');
  await diff.first().waitFor();
  const lines = await diff.allTextContents();
  assert(lines.some((l) => l.includes(s3) || /weight/.test(l)), `the diff does not show the weight: ${lines.join('; ')}`);
  await page.getByRole('button', { name: 'Apply…' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByText('Apply this configuration?').waitFor();
  await dlg.getByRole('button', { name: 'Apply', exact: true }).click();
  await notice(page, 'Configuration applied');
  const now = (await api(page, 'GET', '/config')).body;
  assert(/weight: 4\s*$/.test(now), 'the running configuration does not end with weight: 4');
  await page.getByText('No edits: this is the running configuration.').waitFor();
  await waitFor('the change in the history', async () => (await page.locator('section:has(#hist-h) .events li').count()) > 0);
  await page.getByRole('button', { name: 'Reload from file' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Reload', exact: true }).click();
  await notice(page, 'Reloaded');
  return 'diff: ' + lines.join('; ');
});

await step('clusters: add a server: it turns healthy and takes traffic', async () => {
  await nav(page, 'Clusters', 'Clusters and servers');
  const form = page.locator('#backend-web form.add-server');
  await form.getByLabel('Add a server').fill(env.spare);
  await form.getByRole('button', { name: 'Add', exact: true }).click();
  await notice(page, `Add ${env.spare} to web: done`);
  const r = row(page, 'web', env.spare);
  await waitFor('the new row is healthy', async () => (await r.getAttribute('data-state')) === 'healthy', 20000);
  await waitFor('the new server takes traffic', async () => Number(await r.locator('td.rps').textContent()) > 0, 20000);
  await shot(page, 'clusters-desktop');
});

await step('clusters: a weight changed in place; disable confirmed, then enable; a request explained', async () => {
  await nav(page, 'Clusters', 'Clusters and servers');
  const r3 = row(page, 'web', s3);
  await r3.getByRole('button', { name: `Change weight of ${s3}` }).click();
  await r3.getByLabel(`New weight for ${s3}`).fill('3');
  await r3.getByRole('button', { name: 'Save' }).click();
  await notice(page, `Weight of ${s3} to 3: done`);
  await waitFor('the row shows weight 3', async () => (await r3.locator('td[data-label="Weight"]').textContent()).trim().startsWith('3'));
  const r2 = row(page, 'web', s2);
  await r2.getByRole('button', { name: 'Disable', exact: true }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByText('taken out of rotation').waitFor();
  await dlg.getByRole('button', { name: `Disable ${s2}` }).click();
  await notice(page, `Disable ${s2}: done`);
  await waitFor('the row says disabled', async () => (await r2.getAttribute('data-state')) === 'disabled');
  await r2.getByRole('button', { name: 'Enable', exact: true }).click();
  await notice(page, `Enable ${s2}: done`);
  await waitFor('enabled again', async () => (await r2.getAttribute('data-state')) === 'healthy', 20000);
  const form = page.getByRole('form', { name: 'Explain a request' });
  await form.getByLabel('Frontend').selectOption('web');
  await form.getByLabel('Path').fill('/anything');
  await form.getByRole('button', { name: 'Explain' }).click();
  const res = page.locator('.explain-result');
  await res.waitFor({ timeout: 15000 });
  const text = await res.textContent();
  assert(/Backend web/.test(text) && /would be picked now/.test(text), `explain says: ${text}`);
  return text.slice(0, 160);
});

await step('logs: filtered to a 5xx made on purpose; pause holds entries; the detail view; events interleaved', async () => {
  await nav(page, 'Logs', 'Access log');
  await page.getByLabel('Status').selectOption('5xx');
  await page.getByLabel('Path contains').fill('/status/');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  const r1 = await fetch(env.frontend + '/status/503');
  assert(r1.status === 503, `the 5xx request got ${r1.status}`);
  const hit = page.locator('tr.log[data-status="503"]').filter({ hasText: '/status/503' });
  await hit.first().waitFor({ timeout: 15000 });
  const statuses = await page.locator('tr.log').evaluateAll((rs) => rs.map((r) => r.dataset.status));
  assert(statuses.every((s) => s.startsWith('5')), `rows other than 5xx: ${statuses}`);
  await page.getByRole('button', { name: 'Pause' }).click();
  const r2 = await fetch(env.frontend + '/status/502');
  assert(r2.status === 502, `the second 5xx got ${r2.status}`);
  await page.getByText(/Paused: 1 new entry held/).waitFor({ timeout: 15000 });
  assert((await page.locator('tr.log[data-status="502"]').count()) === 0, 'a held entry is shown while paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await page.locator('tr.log[data-status="502"]').first().waitFor();
  await hit.first().getByRole('button').click();
  const dlg = page.getByRole('dialog');
  await dlg.locator('dt', { hasText: /^status$/ }).waitFor();
  assert((await dlg.textContent()).includes('503'), 'the detail view lacks the status');
  await dlg.getByRole('button', { name: 'Close' }).click();
  await page.getByLabel('Show events').check();
  await api(page, 'PATCH', `/backends/web/servers/${encodeURIComponent(s3)}`, { weight: 2 });
  await page.locator('tr.event').first().waitFor({ timeout: 15000 });
  await shot(page, 'logs-5xx-desktop');
});

await step('alerts: a rule fires when a server is stopped', async () => {
  const got = await api(page, 'GET', '/alerts');
  assert(got.status === 200, `GET /api/v1/alerts answered ${got.status}`);
  await nav(page, 'Alerts', 'Alerts');
  await page.getByRole('button', { name: 'New alert rule' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('Name').fill('e2e-server-down');
  await dlg.getByLabel('When').selectOption('server_down');
  await dlg.getByLabel('Scope').selectOption('server');
  await dlg.getByLabel('Backend').selectOption('web');
  await dlg.getByLabel('Server').selectOption(s2);
  await dlg.getByLabel('For').fill('1s');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await notice(page, 'e2e-server-down');
  const rule = page.locator('tr[data-alert="e2e-server-down"]');
  await rule.waitFor();
  await control('stop', s2);
  await page.locator('.alert-banner').filter({ hasText: 'e2e-server-down' }).waitFor({ timeout: 30000 });
  await waitFor('the rule is firing', async () => (await rule.getAttribute('data-state')) === 'firing', 15000);
  await shot(page, 'alerts-desktop');
  await control('start', s2);
  await waitFor('resolved: the banner goes', async () => (await page.locator('.alert-banner').count()) === 0, 30000);
});

await step('health: a stopped server turns down, with the reason on its tile', async () => {
  await control('stop', s2);
  await nav(page, 'Dashboard', 'Dashboard');
  const tile = page.locator(`.tile-hit[data-backend="web"][data-server="${s2}"]`);
  await waitFor('the tile says down', async () => (await tile.getAttribute('data-state')) === 'down', 20000);
  const label = await tile.getAttribute('aria-label');
  assert(/down;.*(connect|refused|timeout|status|fail)/i.test(label), `no reason on the tile: ${label}`);
  await tile.hover();
  await waitFor('the tooltip on hover', async () => /down/.test((await page.locator('.tooltip').textContent()) ?? ''));
  await nav(page, 'Clusters', 'Clusters and servers');
  await row(page, 'web', s2).getByRole('button', { name: `Health history of ${s2}` }).click();
  const dlg = page.getByRole('dialog');
  await dlg.locator('tbody tr').first().waitFor({ timeout: 15000 });
  const hist = await dlg.locator('tbody').textContent();
  await dlg.getByRole('button', { name: 'Close' }).click();
  await control('start', s2);
  await waitFor('back up', async () => (await row(page, 'web', s2).getAttribute('data-state')) === 'healthy', 20000);
  return `tile: ${label}; history: ${hist.slice(0, 120)}`;
});

await step("roles: a viewer cannot press an operator's button; a 403 reached anyway is shown plainly", async () => {
  const vp = await newPage(browser);
  all.push(vp);
  await login(vp, viewer, '/backends');
  await h1(vp, 'Clusters and servers');
  await row(vp, 'web', s1).waitFor();
  const names = await vp.locator('#backend-web button').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label') || b.textContent.trim()));
  const other = names.filter((n) => !n.startsWith('Health history'));
  assert(names.length > 0 && other.length === 0, `a viewer sees buttons other than History: ${other.join(', ')}`);
  await nav(vp, 'Configuration', 'Configuration');
  await vp.locator('.editor-host[data-editor="ready"] .cm-content[contenteditable="false"]').waitFor();
  for (const b of ['Apply…', 'Preview changes', 'Reload from file']) assert((await vp.getByRole('button', { name: b }).count()) === 0, `a viewer sees "${b}"`);
  await vp.goto(env.base + '/ui/keys');
  await h1(vp, 'API keys');
  const err = await vp.getByRole('alert').filter({ hasText: '403' }).textContent({ timeout: 15000 });
  assert(/Not allowed for your role \(viewer\)/.test(err), `the 403 reads "${err}"`);
  const op = await newPage(browser);
  all.push(op);
  await login(op, operator, '/backends');
  await row(op, 'web', s1).getByRole('button', { name: 'Drain', exact: true }).waitFor();
  assert((await op.locator('#backend-web').getByRole('button', { name: 'Remove', exact: true }).count()) === 0, 'an operator sees Remove');
  await op.close();
  await vp.close();
  return err;
});

await step('API keys: created with the secret shown once and copied, it works, revoked', async () => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.base });
  await page.getByRole('button', { name: new RegExp(admin.name) }).click();
  await page.getByRole('link', { name: 'API keys' }).click();
  await h1(page, 'API keys');
  await page.getByLabel('Name').fill('e2e-bot');
  await page.getByLabel('Role').selectOption('operator');
  await page.getByLabel('Expires').selectOption('168h');
  await page.getByRole('button', { name: 'Create key' }).click();
  const dlg = page.getByRole('dialog');
  const key = await dlg.getByLabel(/^Key/).inputValue();
  assert(key.length >= 20, `key "${key}"`);
  await dlg.getByRole('button', { name: 'Copy' }).click();
  await dlg.getByText('Copied to the clipboard.').waitFor();
  assert((await page.evaluate(() => navigator.clipboard.readText())) === key, 'the clipboard does not hold the key');
  await shot(page, 'api-keys-created-desktop');
  const ok = await fetch(env.base + '/api/v1/status', { headers: { Authorization: 'Bearer ' + key } });
  assert(ok.status === 200, `the new key got ${ok.status}`);
  await dlg.getByRole('button', { name: 'Close' }).click();
  const r = page.locator('tr').filter({ hasText: 'e2e-bot' });
  await r.waitFor();
  assert(!(await page.content()).includes(key), 'the secret is still on the page');
  await shot(page, 'api-keys-desktop');
  await r.getByRole('button', { name: 'Revoke key e2e-bot' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await notice(page, 'revoked');
  const gone = await fetch(env.base + '/api/v1/status', { headers: { Authorization: 'Bearer ' + key } });
  assert(gone.status === 401, `the revoked key got ${gone.status}`);
});

await step('session: an ended session goes to the login page, then back where the user was; sign out', async () => {
  await nav(page, 'Logs', 'Access log');
  await page.context().clearCookies();
  // The next request finds the session gone: the click's, or a background
  // one (a configuration event re-reads the servers) that came first. On a
  // loaded machine the click may take longer than a short timeout: it is
  // not given up on, unless the background request's redirect wins.
  const toLogin = { timeout: 60000 };
  await Promise.any([
    page.waitForURL(/\/ui\/login\?next=/, toLogin),
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Clusters' }).click(toLogin)
      .then(() => page.waitForURL(/\/ui\/login\?next=/, toLogin)),
  ]);
  const next = new URL(page.url()).searchParams.get('next');
  assert(next === '/backends' || next === '/logs', `login?next=${next}`);
  await page.getByText('Your session has ended').waitFor();
  await page.getByLabel('User name').fill(admin.name);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await h1(page, next === '/logs' ? 'Access log' : 'Clusters and servers');
  assert(new URL(page.url()).pathname === '/ui' + next, `after login at ${page.url()}, not at ${next}`);
  await page.getByRole('button', { name: new RegExp(admin.name) }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/ui\/login/);
  const me = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status));
  assert(me === 401, `after sign-out /me answers ${me}`);
  await login(page, admin);
});

await step('keyboard: the skip link comes first and every page heading takes focus after navigation', async () => {
  await page.goto(env.base + '/ui/');
  await h1(page, 'Dashboard');
  await page.keyboard.press('Tab');
  assert((await page.evaluate(() => document.activeElement.textContent)) === 'Skip to content', 'the first Tab does not reach the skip link');
  await page.keyboard.press('Tab');
  assert((await page.evaluate(() => document.activeElement.textContent)) === 'Sluice', 'the second Tab does not reach the brand link');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Logs' }).focus();
  await page.keyboard.press('Enter');
  await h1(page, 'Access log');
  await waitFor('focus on the heading', () => page.evaluate(() => document.activeElement?.tagName === 'H1'));
  // health map: arrows move between tiles, one tab stop per backend
  await page.goto(env.base + '/ui/');
  const first = page.locator('section[aria-label="backend web"] .tile-hit').first();
  await first.focus();
  await page.keyboard.press('ArrowRight');
  const focused = await page.evaluate(() => document.activeElement?.dataset.server);
  assert(focused && focused !== (await first.getAttribute('data-server')), 'ArrowRight did not move to the next tile');
  const stops = await page.locator('section[aria-label="backend web"] .tile-hit[tabindex="0"]').count();
  assert(stops === 1, `${stops} tab stops in one backend's tiles`);
});

await step('accessibility: labels, names and text contrast (AA) on every page', async () => {
  const problems = [];
  for (const [name, path, title] of pages) {
    await page.goto(env.base + '/ui' + path);
    await h1(page, title);
    await page.waitForTimeout(1500);
    for (const p of await a11y(page)) problems.push(`${name}: ${p}`);
  }
  assert(problems.length === 0, problems.slice(0, 8).join('; '));
});

await step('screenshots: every page at desktop width', async () => {
  for (const [name, path, title] of pages) {
    await page.goto(env.base + '/ui' + path);
    await h1(page, title);
    await page.waitForTimeout(name === 'dashboard' ? 3000 : 1500);
    await shot(page, name + '-desktop');
  }
});

await step('phone width (390 px): every page without horizontal scroll, the menu works, screenshots', async () => {
  const ph = await newPage(browser, true);
  all.push(ph);
  await ph.goto(env.base + '/ui/login');
  await shot(ph, 'login-phone');
  await login(ph, admin);
  const bad = [];
  for (const [name, path, title] of pages) {
    await ph.goto(env.base + '/ui' + path);
    await h1(ph, title);
    await ph.waitForTimeout(name === 'dashboard' ? 3000 : 1500);
    const o = await overflow(ph, 390);
    if (o.scrollWidth > o.width || o.out.length) bad.push(`${name}: scrollWidth ${o.scrollWidth} > ${o.width}: ${o.out.join(', ')}`);
    for (const p of await a11y(ph)) bad.push(`${name}: ${p}`);
    await shot(ph, name + '-phone');
  }
  await ph.getByRole('button', { name: 'Menu' }).click();
  await ph.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Logs' }).click();
  await h1(ph, 'Access log');
  assert(!(await ph.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Logs' }).isVisible()), 'the menu stays open after navigating');
  assert(bad.length === 0, bad.slice(0, 6).join('; '));
});

await step('no script errors on any page', async () => {
  const errs = all.flatMap((p) => p.errors ?? []);
  assert(errs.length === 0, errs.slice(0, 5).join('; '));
});

await browser.close();
process.exit(summary() ? 1 : 0);
