import type { ListOptions } from '../graph/client.js';
import { GraphRequestError } from '../graph/errors.js';
import { RateBudget } from './budget.js';
import { decideAfterReadFailure, type ReadAttempts } from './read-decision.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A read that cannot succeed (403, 404, 400, or transient failures that would not stop); `status` is Graph's. */
export class ReadFailedError extends Error {
  override name = 'ReadFailedError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface PacedReadHooks {
  /** Told how long each 429 paused the read budget. */
  onThrottled?: (pausedMs: number) => void;
  /** SYNC_MAX_RETRY_AFTER (default 10 min): the longest any one Retry-After is waited. */
  maxRetryAfterMs?: number;
}

/**
 * The `pace` wrapper for UserStatusWriter.listUserStatuses: every page request takes a slot of the fleet's read
 * budget first, and what follows a failure is decided by decideAfterReadFailure (a 429 pauses everything sharing
 * the read budget and is retried without counting as an attempt). Throws ReadFailedError when the read must give up.
 */
export function pacedReads(budget: RateBudget, hooks: PacedReadHooks = {}): NonNullable<ListOptions['pace']> {
  return async <T>(request: (forceTokenRefresh: boolean) => Promise<T>): Promise<T> => {
    const attempts: ReadAttempts = { transientFailures: 0, throttleStreak: 0, tokenRefreshed: false };
    let refresh = false;
    for (;;) {
      const slot = (await budget.acquire())!;
      try {
        return await request(refresh);
      } catch (error) {
        if (!(error instanceof GraphRequestError)) throw error;
        const err = error;
        const step = decideAfterReadFailure(
          { kind: err.kind, status: err.status, retryAfterMs: err.retryAfterMs, message: err.message },
          attempts,
          Math.random(),
          undefined,
          hooks.maxRetryAfterMs,
        );
        refresh = false;
        switch (step.do) {
          case 'wait-out-throttle': {
            attempts.throttleStreak++;
            const pausedMs = await budget.throttled(step.waitMs, slot);
            hooks.onThrottled?.(pausedMs);
            continue;
          }
          case 'retry-soon':
            if (step.refreshToken) {
              attempts.tokenRefreshed = refresh = true;
              continue;
            }
            attempts.transientFailures++;
            await sleep(step.delayMs);
            continue;
          case 'fail':
            throw new ReadFailedError(step.reason, err.status, err.code);
        }
      }
    }
  };
}
