import { capRetryAfter } from '../src/graph/errors.js';
import { PERMISSION_HINT } from '../src/pacing/breaker.js';
import { refusalShape } from '../src/pacing/refusal.js';
import {
  afterUnauthorized,
  BLOCKED_RETRY_MS,
  DEFAULT_MAX_RETRY_AFTER_MS,
  jitterAbove,
  jitterAround,
  LOCKED_RETRY_MS,
  throttleWaitMs,
  transientBackoffMs,
  WRITE_QUICK_RETRIES,
  type FailureKind,
  type RetryStep,
} from '../src/pacing/retry-policy.js';
import type { ClaimDecision } from '../src/results/store.js';

/**
 * What the patch processor does next, decided from what happened on the last attempt.
 * Pure: no I/O, no clock and no randomness of its own (both come in), so every rule has a unit test
 * (test/unit/next-step.test.ts) and the processor (patch-user-status.ts) only carries steps out. The retry rules and
 * constants a write shares with reads are src/pacing/retry-policy.ts's.
 */

/** What happened when the processor last tried to send the row. */
export type AttemptEvent =
  /** The claim script did not say `send`: the row ended elsewhere, was superseded, or its key is locked. */
  | { type: 'not-claimed'; decision: Exclude<ClaimDecision, 'send'> }
  /** The permission breaker holds the fleet: no slot is handed out. */
  | { type: 'budget-blocked' }
  /** The next send slot lies beyond the row's deadline (SYNC_MAX_ROW_AGE_MS). */
  | { type: 'deadline-passed' }
  | { type: 'succeeded' }
  /** Graph or the network refused the request, classified once by the Graph client. */
  | { type: 'refused'; kind: FailureKind; message: string; status?: number; code?: string; retryAfterMs?: number; requestId?: string }
  /** Something other than Graph failed (Redis, a bug): the outcome of the row is unknown. */
  | { type: 'crashed'; message: string };

/** Where the processor stands in this delivery of the job. */
export interface AttemptState {
  now: number;
  /** ms epoch after which the row is not sent any more: SYNC_MAX_ROW_AGE_MS after it was queued, plus `pausedMs`. */
  deadline: number;
  /** Time the row spent held by fleet pauses (Retry-After), over every delivery: not counted against its age. */
  pausedMs: number;
  /** PATCH requests sent so far, over every delivery of the job. */
  requests: number;
  /** Quick retries used in this delivery (transient failures only). */
  quickRetries: number;
  /** 429s in a row, for back-off when Retry-After is missing. */
  throttleStreak: number;
  tokenRefreshed: boolean;
  /** The last refusal's message in this delivery, quoted when the row gives up at its deadline. */
  lastError?: string;
  /** True when BullMQ will not deliver the job again after this delivery. */
  lastDelivery: boolean;
  /** A number in [0, 1), for jitter. */
  random: number;
}

export type Step =
  /** The steps shared with reads (retry-policy.ts): wait out a 429, send again soon; a write's `fail` says more. */
  | Exclude<RetryStep, { do: 'fail' }>
  /** Hold the row: give the job back to BullMQ, whose exponential back-off takes over; the row stays queued. */
  | { do: 'hand-back'; why: string }
  /** Try the whole job again later without counting an attempt (moveToDelayed). */
  | { do: 'postpone'; delayMs: number; why: string }
  | { do: 'record-success' }
  | { do: 'fail'; reason: string; status?: number; requestId?: string; tripsBreaker: boolean }
  /**
   * A 400: neither failed nor sent again yet. It counts toward the tenant's refusal breaker (src/pacing/refusal.ts):
   * the same 400 on many rows is Graph refusing the route, and those rows must stay queued.
   */
  | { do: 'count-refusal'; reason: string; shape: string; status: number; requestId?: string }
  /** Nothing to send or record: another delivery or a newer update owns the row. */
  | { do: 'skip'; decision: string };

/**
 * Why a row gave up at its deadline. When throttling held it (a 429 in this delivery, or time in a fleet pause), the
 * reason starts with "throttled", so a report tells Graph's throttling from an outage or a slow fleet.
 */
export function deadlineReason(maxRowAgeMs: number, lastError?: string, throttled = false): string {
  const age = `not sent within SYNC_MAX_ROW_AGE_MS (${maxRowAgeMs / 1000} s) of being queued`;
  const reason = throttled ? `throttled: Graph's 429s held the row; gave up: ${age}, time in fleet pauses not counted` : `gave up: ${age}`;
  return lastError ? `${reason}; last error: ${lastError}` : reason;
}

const heldByThrottling = (state: AttemptState) => state.throttleStreak > 0 || state.pausedMs > 0;

export function nextStep(
  event: AttemptEvent,
  state: AttemptState,
  maxRowAgeMs: number,
  maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS,
): Step {
  switch (event.type) {
    case 'succeeded':
      return { do: 'record-success' };
    case 'not-claimed':
      if (event.decision === 'locked') {
        return { do: 'postpone', delayMs: jitterAround(LOCKED_RETRY_MS, state.random), why: 'an older update of this key is in flight' };
      }
      return { do: 'skip', decision: event.decision };
    case 'budget-blocked':
      return { do: 'postpone', delayMs: BLOCKED_RETRY_MS, why: 'the fleet is paused by the permission breaker' };
    case 'deadline-passed':
      return { do: 'fail', reason: deadlineReason(maxRowAgeMs, state.lastError, heldByThrottling(state)), tripsBreaker: false };
    case 'crashed':
      if (!state.lastDelivery && state.now < state.deadline) return { do: 'hand-back', why: event.message };
      return { do: 'fail', reason: `could not be processed: ${event.message}`, tripsBreaker: false };
    case 'refused':
      return afterRefusal(event, state, maxRowAgeMs, maxRetryAfterMs);
  }
}

function afterRefusal(
  event: Extract<AttemptEvent, { type: 'refused' }>,
  state: AttemptState,
  maxRowAgeMs: number,
  maxRetryAfterMs: number,
): Step {
  const failed = (reason: string, tripsBreaker = false): Step => ({
    do: 'fail',
    reason,
    status: event.status,
    requestId: event.requestId,
    tripsBreaker,
  });
  switch (event.kind) {
    case 'throttled':
      // Missing Retry-After: exponential back-off with jitter, shared by the fleet through the pause.
      return { do: 'wait-out-throttle', waitMs: throttleWaitMs(event.retryAfterMs, state.throttleStreak, state.random, maxRetryAfterMs) };
    case 'unauthorized': {
      const step = afterUnauthorized(state.tokenRefreshed, event.message);
      return step.do === 'fail' ? failed(step.reason) : step;
    }
    case 'forbidden':
      return failed(`${event.message} (${PERMISSION_HINT})`, true);
    case 'permanent':
      if (event.status === 400)
        return {
          do: 'count-refusal',
          reason: event.message,
          shape: refusalShape(event.code, event.message),
          status: 400,
          requestId: event.requestId,
        };
      return failed(event.message);
    case 'transient': {
      if (state.now >= state.deadline) return failed(deadlineReason(maxRowAgeMs, event.message, heldByThrottling(state)));
      if (state.quickRetries < WRITE_QUICK_RETRIES) {
        // A 503's Retry-After is Graph's own estimate (capped); otherwise exponential back-off, randomised as p-retry does.
        const retryAfterMs = capRetryAfter(event.retryAfterMs, maxRetryAfterMs);
        const backoff = jitterAbove(transientBackoffMs(state.quickRetries), state.random);
        const delayMs = Math.round(Math.min(retryAfterMs ?? backoff, Math.max(0, state.deadline - state.now)));
        return { do: 'retry-soon', delayMs, refreshToken: false, why: event.message };
      }
      if (!state.lastDelivery) return { do: 'hand-back', why: event.message };
      return failed(`${event.message} (still failing after ${state.requests} requests)`);
    }
  }
}
