import { capRetryAfter, type FailureKind } from '../graph/errors.js';

/** What a read (one GET page) has been through so far. */
export interface ReadAttempts {
  /** Transient failures (network, timeout, 5xx) of this request so far. */
  transientFailures: number;
  /** 429s in a row without a Retry-After, for the back-off. */
  throttleStreak: number;
  tokenRefreshed: boolean;
}

export interface ReadFailure {
  kind: FailureKind;
  status?: number;
  retryAfterMs?: number;
  message: string;
}

export type ReadStep =
  /** Pause everything that shares the read budget for `waitMs`, then ask again. Never counts as an attempt. */
  | { action: 'throttled'; waitMs: number }
  /** Send again with a fresh token (once per request). */
  | { action: 'refreshToken' }
  /** Transient: wait `waitMs` and send again. */
  | { action: 'retry'; waitMs: number }
  /** Give up: `reason` says why, for the rows that depended on this read. */
  | { action: 'fail'; reason: string };

export const READ_TRANSIENT_RETRIES = 5;

/**
 * What to do after a read failed. Pure: the caller owns the clock, the budget and the randomness (`jitter` in 0..1).
 * A 429 waits its Retry-After (or an exponential back-off when Graph gave none) and is never an attempt;
 * transient failures are retried with back-off, and a 503's Retry-After is honoured; a 401 gets one token refresh;
 * everything else (403, 404, 400...) fails at once: retrying cannot change Graph's answer.
 */
export function decideAfterReadFailure(failure: ReadFailure, attempts: ReadAttempts, jitter = 0.5, maxTransientRetries = READ_TRANSIENT_RETRIES, maxRetryAfterMs = 10 * 60_000): ReadStep {
  // SYNC_MAX_RETRY_AFTER caps any Retry-After, as on writes.
  const retryAfterMs = capRetryAfter(failure.retryAfterMs, maxRetryAfterMs);
  switch (failure.kind) {
    case 'throttled':
      return { action: 'throttled', waitMs: retryAfterMs ?? Math.min(Math.round(Math.min(1000 * 2 ** attempts.throttleStreak, 60_000) * (0.5 + jitter)), maxRetryAfterMs) };
    case 'unauthorized':
      return attempts.tokenRefreshed ? { action: 'fail', reason: `${failure.message} (the token was refreshed once and Graph still refused it)` } : { action: 'refreshToken' };
    case 'transient':
      if (attempts.transientFailures >= maxTransientRetries) return { action: 'fail', reason: `${failure.message} (still failing after ${attempts.transientFailures + 1} reads)` };
      return { action: 'retry', waitMs: retryAfterMs ?? Math.round(Math.min(250 * 2 ** attempts.transientFailures, 5000) * (0.5 + jitter)) };
    case 'forbidden':
      return { action: 'fail', reason: `${failure.message} (reading needs DeviceManagementConfiguration.Read.All or DeviceManagementApps.Read.All, or their ReadWrite forms)` };
    case 'permanent':
      return { action: 'fail', reason: failure.message };
  }
}
