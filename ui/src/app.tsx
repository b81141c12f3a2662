// App: the page frame (skip link, navigation, account menu, stream status, firing-alerts
// banner) and the routes.
import { signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { can, me } from './api/client';
import * as stream from './api/stream';
import { ConfirmDialog, NoticeBar, notice } from './components/dialogs';
import { ago } from './lib/format';
import { href, linkClick, route } from './lib/router';
import { AlertsPage } from './pages/alerts';
import { BackendsPage } from './pages/backends';
import { ConfigPage } from './pages/config';
import { Dashboard } from './pages/dashboard';
import { KeysPage } from './pages/keys';
import { LoginPage } from './pages/login';
import { LogsPage } from './pages/logs';
import { firing } from './state/live';
import { signOut } from './state/session';

const pages = [
  { path: '/', label: 'Dashboard', title: 'Dashboard' },
  { path: '/backends', label: 'Clusters', title: 'Clusters and servers' },
  { path: '/config', label: 'Configuration', title: 'Configuration' },
  { path: '/logs', label: 'Logs', title: 'Access log' },
  { path: '/alerts', label: 'Alerts', title: 'Alerts' },
];

const navOpen = signal(false);
const menuOpen = signal(false);

function AccountMenu() {
  const m = me.value!;
  const btn = useRef<HTMLButtonElement>(null);
  const close = () => {
    menuOpen.value = false;
    btn.current?.focus();
  };
  return (
    <div class="account" onKeyDown={(e) => e.key === 'Escape' && menuOpen.value && close()}>
      <button
        ref={btn}
        type="button"
        class="btn account-btn"
        aria-haspopup="true"
        aria-expanded={menuOpen.value}
        aria-controls="account-menu"
        onClick={() => (menuOpen.value = !menuOpen.value)}
      >
        <span class="account-user">{m.user}</span> <span class={'role r-' + m.role}>{m.role}</span>
      </button>
      {menuOpen.value && (
        <div id="account-menu" class="menu" onClick={(e) => (e.target as Element).closest('a,button') && (menuOpen.value = false)}>
          <p class="menu-who">
            Signed in as <strong>{m.user}</strong> ({m.role}){m.via === 'key' ? ' with an API key' : ''}
          </p>
          {can('admin') && (
            <a href={href('/keys')} class="menu-item">
              API keys
            </a>
          )}
          <button type="button" class="menu-item" onClick={signOut}>
            Sign out
          </button>
        </div>
      )}
    </div>
  );
}

function AlertBanner() {
  const f = firing.value;
  if (f.size === 0) return null;
  return (
    <div class="alert-banner" role="alert">
      <strong>
        {f.size} alert{f.size > 1 ? 's' : ''} firing:
      </strong>{' '}
      {Array.from(f.entries()).map(([name, a], i) => (
        <span key={name}>
          {i > 0 && ', '}
          <a href={href('/alerts')}>{name}</a> <span class="muted-inv">(since {ago(a.since)})</span>
        </span>
      ))}
    </div>
  );
}

function Frame({ title, children }: { title: string; children: preact.ComponentChildren }) {
  const r = route.value;
  const s = stream.status.value;
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = title + ' · Sluice';
    navOpen.value = false;
    notice.value = null; // a result belongs to the page it was shown on
    // After navigation, focus goes to the page heading so keyboard and
    // screen-reader users start at the new content.
    if (document.activeElement && document.activeElement !== document.body) h1.current?.focus();
  }, [r.path]);
  return (
    <div class="frame" onClick={linkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('/')}>
          Sluice
        </a>
        <button
          type="button"
          class="btn nav-toggle"
          aria-expanded={navOpen.value}
          aria-controls="nav"
          onClick={() => (navOpen.value = !navOpen.value)}
        >
          Menu
        </button>
        <nav id="nav" class={navOpen.value ? 'open' : ''} aria-label="Main">
          <ul>
            {pages.map((p) => (
              <li key={p.path}>
                <a href={href(p.path)} aria-current={r.path === p.path ? 'page' : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={'live s-' + s} role="status" title={'Live stream: ' + s}>
          <span class="dot" aria-hidden="true" />
          <span class="live-text">{s === 'open' ? 'Live' : s === 'connecting' ? 'Connecting' : 'Offline'}</span>
        </span>
        <AccountMenu />
      </header>
      <AlertBanner />
      <main id="main">
        <h1 ref={h1} tabIndex={-1}>
          {title}
        </h1>
        <NoticeBar />
        {children}
      </main>
      <ConfirmDialog />
    </div>
  );
}

export function App() {
  const r = route.value;
  const m = me.value;
  if (r.path === '/login' || m === null) {
    return (
      <>
        <LoginPage />
        <ConfirmDialog />
      </>
    );
  }
  if (m === undefined) {
    return (
      <p class="loading" role="status">
        Loading…
      </p>
    );
  }
  switch (r.path) {
    case '/':
      return <Frame title="Dashboard"><Dashboard /></Frame>;
    case '/backends':
      return <Frame title="Clusters and servers"><BackendsPage /></Frame>;
    case '/config':
      return <Frame title="Configuration"><ConfigPage /></Frame>;
    case '/logs':
      return <Frame title="Access log"><LogsPage /></Frame>;
    case '/alerts':
      return <Frame title="Alerts"><AlertsPage /></Frame>;
    case '/keys':
      return <Frame title="API keys"><KeysPage /></Frame>;
  }
  return (
    <Frame title="Not found">
      <p>
        There is no page at {r.path}. <a href={href('/')}>Go to the dashboard</a>.
      </p>
    </Frame>
  );
}
