// One place that turns a server's live state into what the UI shows: the
// tile state, its label and the sentence behind it.
import type { BackendServer, ServerStats } from '../api/types';

export type TileState = 'healthy' | 'down' | 'half_open' | 'damped' | 'draining' | 'disabled' | 'removed' | 'unknown';

export const stateLabel: Record<TileState, string> = {
  healthy: 'healthy',
  down: 'down',
  half_open: 'on trial',
  damped: 'damped',
  draining: 'draining',
  disabled: 'disabled',
  removed: 'removed',
  unknown: 'no data',
};

/** stateGlyph is shown on a tile beside its colour, so state never rests on colour alone. */
export const stateGlyph: Record<TileState, string> = {
  healthy: '✓',
  down: '✕',
  half_open: '?',
  damped: '≈',
  draining: '↓',
  disabled: '–',
  removed: '⌫',
  unknown: '·',
};

/**
 * serverState: operator states first (they say why a server gets no
 * traffic on purpose), then health. A disabled server that is also down
 * shows "disabled"; the reason sentence mentions both.
 */
export function serverState(s: Partial<ServerStats> | undefined): TileState {
  if (!s || s.health === undefined) return 'unknown';
  if (s.removed) return 'removed';
  if (s.enabled === false) return 'disabled';
  if (s.draining) return 'draining';
  switch (s.health) {
    case 'down':
      return 'down';
    case 'damped':
      return 'damped';
    case 'half_open':
      return 'half_open';
    case 'up':
      return 'healthy';
  }
  return 'unknown';
}

/**
 * healthSentence says why a server is in its state (for the tile's
 * hover/focus text and the tables), without repeating the state's name:
 * which checks fail and the last transition's reason, operator states.
 */
export function healthSentence(s: Partial<ServerStats> | BackendServer | undefined): string {
  if (!s || s.health === undefined || s.health === 'unknown') return 'no live data yet';
  const parts: string[] = [];
  if (s.health === 'up') parts.push('health checks pass');
  else if (s.health === 'damped') {
    const until = 'damped_until' in s && s.damped_until ? new Date(s.damped_until) : undefined;
    parts.push(until ? `held out by flap damping until ${until.toLocaleTimeString()}` : 'held out by flap damping');
  }
  else if (s.health === 'half_open') parts.push('passively ejected, one trial request allowed');
  if (s.health !== 'up') {
    if (s.active_up === false) parts.push('active check failing');
    if (s.passive_up === false) parts.push('passive check failing');
    if (s.reason) parts.push(s.reason);
    if (!parts.length) parts.push(s.health);
  }
  if (s.enabled === false) parts.push('disabled by an operator');
  if (s.removed) parts.push('removed from the configuration, finishing its connections');
  else if (s.draining) parts.push('draining: no new requests');
  return parts.join('; ');
}
