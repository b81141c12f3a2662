// The admin API client: same-origin fetch with the session cookie, the CSRF
// token on every state-changing request, the contract's error body turned
// into an ApiError, and a 401 handed to the session handler (back to the
// login page, then back where the user was).
import { signal } from '@preact/signals';
import type { ApiErrorBody, ConfigError, Me, Role } from './types';

export const BASE = '/api/v1';

/** The signed-in user; undefined while unknown (first /me in flight), null when signed out. */
export const me = signal<Me | null | undefined>(undefined);

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** can reports whether the signed-in user's role is at least need. */
export function can(need: Role): boolean {
  const m = me.value;
  return !!m && (rank[m.role] ?? -1) >= rank[need];
}

/** ApiError is a non-2xx answer: status, the contract's error code and message, config errors. */
export class ApiError extends Error {
  status: number;
  code: string;
  errors: ConfigError[];
  constructor(status: number, code: string, message: string, errors: ConfigError[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = errors;
  }
  /** plain is the text shown to a user: what was refused and why. */
  get plain(): string {
    if (this.status === 403) {
      const role = me.value?.role ?? 'unknown';
      return `Not allowed for your role (${role}): ${this.message || 'forbidden'} (403)`;
    }
    if (this.status === 0) return `Sluice did not answer: ${this.message}`;
    return `${this.message || 'request failed'} (${this.status}${this.code ? ' ' + this.code : ''})`;
  }
}

let unauthorized: () => void = () => {};

/** onUnauthorized sets what happens when a request answers 401 (the session ended). */
export function onUnauthorized(fn: () => void) {
  unauthorized = fn;
}

export interface CallOptions {
  /** quiet401: a 401 is the caller's answer (login, the first /me), not an expired session. */
  quiet401?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/**
 * call sends one request to the API. body: a string is sent as YAML text,
 * anything else as JSON. It resolves to the parsed JSON (or text) of a 2xx
 * answer and rejects with an ApiError otherwise.
 */
export async function call<T>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
  return (await send(method, path, body, opts)).data as T;
}

/** send is call that also gives the response (for its headers: ETag). */
export async function send(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<{ data: unknown; res: Response }> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let payload: BodyInit | undefined;
  if (typeof body === 'string') {
    headers['Content-Type'] = 'application/yaml';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && me.value?.csrf_token) headers['X-CSRF-Token'] = me.value.csrf_token;
  let res: Response;
  try {
    res = await fetch(BASE + path, { method, headers, body: payload, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', (e as Error).message);
  }
  const type = res.headers.get('Content-Type') ?? '';
  const data: unknown = res.status === 204 ? undefined : type.includes('json') ? await res.json().catch(() => undefined) : await res.text();
  if (res.ok) return { data, res };
  const eb = (typeof data === 'object' && data ? data : {}) as ApiErrorBody;
  const message = eb.error?.message ?? (typeof data === 'string' ? data.trim() : res.statusText);
  const err = new ApiError(res.status, eb.error?.code ?? '', message, eb.error?.errors ?? []);
  if (res.status === 401 && !opts.quiet401) unauthorized();
  throw err;
}

export const get = <T>(path: string, opts?: CallOptions) => call<T>('GET', path, undefined, opts);

/** list accepts a bare array or an object wrapping one ({"backends": [...]}). */
export function list<T>(data: unknown, key: string): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === 'object') {
    const v = (data as Record<string, unknown>)[key];
    if (Array.isArray(v)) return v as T[];
  }
  return [];
}

/** query builds "?a=1&b=2" from the non-empty values. */
export function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? '?' + s : '';
}

/** describe turns any thrown value into a sentence for the page. */
export function describe(e: unknown): string {
  if (e instanceof ApiError) return e.plain;
  return e instanceof Error ? e.message : String(e);
}
