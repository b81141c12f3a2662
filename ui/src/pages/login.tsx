// LoginPage: POST /api/v1/login, then back to the page the user came from
// (?next=, kept only when it is a UI path).
import { useState } from 'preact/hooks';
import { ApiError, call, describe } from '../api/client';
import type { Me } from '../api/types';
import { signedIn } from '../state/session';
import { NoticeBar, notice } from '../components/dialogs';
import { navigate, route } from '../lib/router';

function nextPath(): string {
  const n = route.value.search.get('next') ?? '/';
  return n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/login') ? n : '/';
}

export function LoginPage() {
  const [user, setUser] = useState('');
  const [pass, setPass] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr('');
    try {
      const m = await call<Me>('POST', '/login', { username: user, password: pass }, { quiet401: true });
      setPass('');
      notice.value = null;
      signedIn(m);
      navigate(nextPath(), true);
    } catch (x) {
      if (x instanceof ApiError && x.status === 401) setErr('Wrong user name or password.');
      else if (x instanceof ApiError && x.status === 429) setErr('Too many attempts: wait a moment and try again.');
      else setErr(describe(x));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Sluice</h1>
        <NoticeBar />
        <label for="login-user">User name</label>
        <input id="login-user" name="username" autoComplete="username" required autoFocus value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        <label for="login-pass">Password</label>
        <input
          id="login-pass"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={pass}
          onInput={(e) => setPass(e.currentTarget.value)}
        />
        {err && (
          <p class="error" role="alert" id="login-error">
            {err}
          </p>
        )}
        <button type="submit" class="btn primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">
          Users are listed under <code>admin.users</code> in the configuration; <code>sluice hash-password</code> makes a password hash.
        </p>
      </form>
    </main>
  );
}
