/**
 * When a credential's cached token is used, renewed, or waited for. Pure: the caller (createTokenSource in auth.ts)
 * holds the token and the one fetch in flight, and asks this module what to do on every getToken.
 */

/** A token as the credential gave it, and when we asked for it. */
export interface HeldToken {
  token: string;
  /** When the fetch that produced it started: the token cannot be older. */
  obtainedAtMs: number;
  expiresAtMs: number;
  /** Entra's advice (refresh_in), when it gives one: renew from then on. */
  refreshAfterMs?: number;
  /** Fetched by a forced refresh (after a 401): only such a token can answer the other 401s of the same moment. */
  forced?: boolean;
}

export interface RenewalPolicy {
  /** Renew this long before expiry (or at half the lifetime, for tokens shorter than twice this). */
  renewBeforeExpiryMs: number;
  /**
   * A forced refresh (after a 401) is served by a token that another forced refresh fetched this recently, instead of
   * a new fetch: concurrent 401s of requests sent with the old token all ask at once, and one fetch answers them all.
   * A token fetched in the ordinary way, however recent, is never the answer to a 401: it may be the one refused.
   */
  forcedRefreshReuseMs: number;
}

export const DEFAULT_RENEWAL: RenewalPolicy = { renewBeforeExpiryMs: 5 * 60_000, forcedRefreshReuseMs: 30_000 };

/** `use` the held token, `join` the fetch already in flight, or `fetch` a new one (which later callers join). */
export type TokenStep = 'use' | 'join' | 'fetch';

/** From when a held token is renewed rather than used: never after `expiresAtMs - renewBeforeExpiryMs`. */
export function renewAtMs(held: HeldToken, policy: RenewalPolicy = DEFAULT_RENEWAL): number {
  const lifetime = Math.max(0, held.expiresAtMs - held.obtainedAtMs);
  const byExpiry = held.expiresAtMs - Math.min(policy.renewBeforeExpiryMs, lifetime / 2);
  return held.refreshAfterMs !== undefined ? Math.min(byExpiry, held.refreshAfterMs) : byExpiry;
}

export function nextTokenStep(
  state: { held?: HeldToken; fetching: boolean; forceRefresh: boolean; nowMs: number },
  policy: RenewalPolicy = DEFAULT_RENEWAL,
): TokenStep {
  if (state.fetching) return 'join';
  const { held, nowMs } = state;
  if (!held) return 'fetch';
  if (state.forceRefresh) {
    const answersThis401 = held.forced === true && nowMs - held.obtainedAtMs < policy.forcedRefreshReuseMs && nowMs < held.expiresAtMs;
    return answersThis401 ? 'use' : 'fetch';
  }
  return nowMs < renewAtMs(held, policy) ? 'use' : 'fetch';
}
