// The session: who is signed in, what happens when the session ends (back
// to the login page with ?next= so the user returns where they were), and
// signing out.
import { call, get, me, onUnauthorized } from '../api/client';
import * as stream from '../api/stream';
import type { Me } from '../api/types';
import { notify } from '../components/dialogs';
import { here, navigate, route } from '../lib/router';
import { resetLive, startLive } from './live';

/** signedIn starts what a session needs: the stream and the live state. */
export function signedIn(m: Me) {
  me.value = m;
  stream.start();
  startLive();
}

function toLogin(expired: boolean) {
  if (route.value.path === '/login') return;
  const next = here();
  navigate('/login' + (next && next !== '/' ? '?next=' + encodeURIComponent(next) : ''), true);
  if (expired) notify({ kind: 'info', title: 'Your session has ended. Sign in again to go back where you were.' });
}

function forget() {
  me.value = null;
  stream.stop();
  resetLive();
}

/** boot asks who is signed in, or sends the browser to the login page. */
export function boot() {
  onUnauthorized(() => {
    const was = !!me.value;
    forget();
    toLogin(was);
  });
  get<Me>('/me', { quiet401: true }).then(signedIn, () => {
    me.value = null;
    toLogin(false);
  });
}

export async function signOut() {
  try {
    await call('POST', '/logout');
  } catch {
    // the session may be gone already; signing out here is what matters
  }
  forget();
  navigate('/login');
}
