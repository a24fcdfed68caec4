import { capRetryAfter } from '../graph/errors.js';
import {
  afterUnauthorized,
  DEFAULT_MAX_RETRY_AFTER_MS,
  jitterAround,
  READ_TRANSIENT_RETRIES,
  throttleWaitMs,
  transientBackoffMs,
  type FailureKind,
  type RetryStep,
} from './retry-policy.js';

export { READ_TRANSIENT_RETRIES };

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

const READ_PERMISSION_HINT =
  'reading needs DeviceManagementConfiguration.Read.All or DeviceManagementApps.Read.All, or their ReadWrite forms';

/** A read takes only the steps every request shares (retry-policy.ts): it has no queue to hold a row in. */
export type ReadStep = RetryStep;

/**
 * What to do after a read failed, by the one retry policy (retry-policy.ts). Pure: the caller owns the clock, the
 * budget and the randomness (`jitter` in 0..1).
 * A 429 waits its Retry-After (or an exponential back-off when Graph gave none) and is never an attempt;
 * transient failures are retried with back-off, and a 503's Retry-After is honoured; a 401 gets one token refresh;
 * everything else (403, 404, 400...) fails at once: retrying cannot change Graph's answer.
 */
export function decideAfterReadFailure(
  failure: ReadFailure,
  attempts: ReadAttempts,
  jitter = 0.5,
  maxTransientRetries = READ_TRANSIENT_RETRIES,
  maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS,
): ReadStep {
  switch (failure.kind) {
    case 'throttled':
      return { do: 'wait-out-throttle', waitMs: throttleWaitMs(failure.retryAfterMs, attempts.throttleStreak, jitter, maxRetryAfterMs) };
    case 'unauthorized':
      return afterUnauthorized(attempts.tokenRefreshed, failure.message);
    case 'transient': {
      if (attempts.transientFailures >= maxTransientRetries) {
        return { do: 'fail', reason: `${failure.message} (still failing after ${attempts.transientFailures + 1} reads)` };
      }
      // SYNC_MAX_RETRY_AFTER caps a 503's Retry-After, as on writes.
      const backoff = jitterAround(transientBackoffMs(attempts.transientFailures), jitter);
      const delayMs = capRetryAfter(failure.retryAfterMs, maxRetryAfterMs) ?? backoff;
      return { do: 'retry-soon', delayMs, refreshToken: false, why: failure.message };
    }
    case 'forbidden':
      return { do: 'fail', reason: `${failure.message} (${READ_PERMISSION_HINT})` };
    case 'permanent':
      return { do: 'fail', reason: failure.message };
  }
}
