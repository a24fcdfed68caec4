import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextStep, type AttemptState } from '../../jobs/next-step.js';
import { decideAfterReadFailure, type ReadAttempts } from '../../src/pacing/read-decision.js';
import {
  DEFAULT_MAX_RETRY_AFTER_MS,
  READ_TRANSIENT_RETRIES,
  THROTTLE_BACKOFF,
  throttleWaitMs,
  TRANSIENT_BACKOFF,
  transientBackoffMs,
  WRITE_QUICK_RETRIES,
} from '../../src/pacing/retry-policy.js';

/** A write with nothing behind it yet, its deadline far away. */
const writeState = (over: Partial<AttemptState> = {}): AttemptState => ({
  now: 0,
  deadline: 3_600_000,
  pausedMs: 0,
  requests: 1,
  quickRetries: 0,
  throttleStreak: 0,
  tokenRefreshed: false,
  lastDelivery: false,
  random: 0.5,
  ...over,
});
const freshRead: ReadAttempts = { transientFailures: 0, throttleStreak: 0, tokenRefreshed: false };
const refused = (kind: 'throttled' | 'unauthorized' | 'transient', retryAfterMs?: number) =>
  ({ type: 'refused', kind, message: `${kind} refused`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }) as const;
const HOUR = 3_600_000;

describe('the retry policy: one set of constants and one vocabulary for reads and writes', () => {
  it('backs a 429 without Retry-After off from the same base to the same cap on both paths', () => {
    for (const streak of [0, 1, 3, 6, 30]) {
      const expected = throttleWaitMs(undefined, streak, 0.5);
      assert.equal(expected, Math.min(THROTTLE_BACKOFF.baseMs * 2 ** streak, THROTTLE_BACKOFF.maxMs));
      assert.deepEqual(nextStep(refused('throttled'), writeState({ throttleStreak: streak }), HOUR), {
        do: 'wait-out-throttle',
        waitMs: expected,
      });
      const read = decideAfterReadFailure({ kind: 'throttled', message: '429' }, { ...freshRead, throttleStreak: streak }, 0.5);
      assert.deepEqual(read, { do: 'wait-out-throttle', waitMs: expected });
    }
  });

  it('cuts a Retry-After to the same cap on both paths, 10 minutes unless SYNC_MAX_RETRY_AFTER says otherwise', () => {
    const far = 10 ** 12;
    assert.equal(throttleWaitMs(far, 0, 0.5), DEFAULT_MAX_RETRY_AFTER_MS);
    assert.deepEqual(nextStep(refused('throttled', far), writeState(), HOUR), {
      do: 'wait-out-throttle',
      waitMs: DEFAULT_MAX_RETRY_AFTER_MS,
    });
    assert.deepEqual(decideAfterReadFailure({ kind: 'throttled', retryAfterMs: far, message: '429' }, freshRead), {
      do: 'wait-out-throttle',
      waitMs: DEFAULT_MAX_RETRY_AFTER_MS,
    });
    assert.deepEqual(nextStep(refused('throttled', far), writeState(), HOUR, 5000), { do: 'wait-out-throttle', waitMs: 5000 });
    assert.deepEqual(decideAfterReadFailure({ kind: 'throttled', retryAfterMs: far, message: '429' }, freshRead, 0.5, 5, 5000), {
      do: 'wait-out-throttle',
      waitMs: 5000,
    });
  });

  it('gives a 401 one token refresh with the same step on both paths, then gives up with the same reason', () => {
    const write = nextStep(refused('unauthorized'), writeState(), HOUR);
    const read = decideAfterReadFailure({ kind: 'unauthorized', message: 'unauthorized refused' }, freshRead);
    assert.deepEqual(read, write);
    const writeAgain = nextStep(refused('unauthorized'), writeState({ tokenRefreshed: true }), HOUR);
    const readAgain = decideAfterReadFailure(
      { kind: 'unauthorized', message: 'unauthorized refused' },
      { ...freshRead, tokenRefreshed: true },
    );
    assert.equal(writeAgain.do, 'fail');
    assert.equal(readAgain.do, 'fail');
    assert.equal((writeAgain as { reason: string }).reason, (readAgain as { reason: string }).reason);
  });

  it('sends a transient failure again on both paths from the same back-off, each path with its own number of tries', () => {
    assert.equal(transientBackoffMs(0), TRANSIENT_BACKOFF.baseMs);
    assert.equal(transientBackoffMs(20), TRANSIENT_BACKOFF.maxMs);
    // With no randomness a write waits the back-off itself (×1 to ×2), a read half of it (×0.5 to ×1.5).
    assert.deepEqual(nextStep(refused('transient'), writeState({ quickRetries: 2, random: 0 }), HOUR), {
      do: 'retry-soon',
      delayMs: transientBackoffMs(2),
      refreshToken: false,
      why: 'transient refused',
    });
    const read = decideAfterReadFailure({ kind: 'transient', message: 'transient refused' }, { ...freshRead, transientFailures: 2 }, 0);
    assert.deepEqual(read, { do: 'retry-soon', delayMs: transientBackoffMs(2) / 2, refreshToken: false, why: 'transient refused' });
    // Spent: a write holds its row for BullMQ's back-off (it has a queue), a read gives up.
    assert.deepEqual(nextStep(refused('transient'), writeState({ quickRetries: WRITE_QUICK_RETRIES }), HOUR), {
      do: 'hand-back',
      why: 'transient refused',
    });
    assert.equal(
      decideAfterReadFailure({ kind: 'transient', message: 'x' }, { ...freshRead, transientFailures: READ_TRANSIENT_RETRIES }).do,
      'fail',
    );
  });
});
