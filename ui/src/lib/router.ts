// A small path router for the UI under /ui/: the location is a signal, links
// push history entries, and the server answers index.html for every page path.
import { signal } from '@preact/signals';

export const ROOT = '/ui';

function current() {
  const p = location.pathname.startsWith(ROOT) ? location.pathname.slice(ROOT.length) : location.pathname;
  return { path: p === '' ? '/' : p, search: new URLSearchParams(location.search) };
}

/** route is the page path below /ui (always starting with "/") and its query. */
export const route = signal(current());

addEventListener('popstate', () => {
  route.value = current();
});

/** href makes a page path ("/logs") a URL ("/ui/logs"). */
export const href = (path: string) => ROOT + path;

/** navigate goes to a page path (may carry "?query"); replace keeps history length. */
export function navigate(to: string, replace = false) {
  const url = ROOT + to;
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.value = current();
}

/** here is the current page path with its query, for "back where you were". */
export function here(): string {
  const r = route.value;
  const q = r.search.toString();
  return r.path + (q ? '?' + q : '');
}

/** linkClick makes a plain click on an <a href="/ui/..."> a history push. */
export function linkClick(e: MouseEvent) {
  const a = (e.target as Element).closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target || a.hasAttribute('download') || a.origin !== location.origin || !a.pathname.startsWith(ROOT)) return;
  e.preventDefault();
  navigate(a.pathname.slice(ROOT.length) + a.search);
}
