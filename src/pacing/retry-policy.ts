import { capRetryAfter, type FailureKind } from '../graph/errors.js';

/**
 * The one retry policy of every request we send to Graph, writes (a PATCH, jobs/next-step.ts) and reads (a GET page,
 * read-decision.ts) alike: one vocabulary for what went wrong (FailureKind, classified once by src/graph/errors.ts) and
 * for what to do next (RetryStep), and one set of constants. Pure: the caller brings the clock and the randomness.
 */
export type { FailureKind };

/** The steps both paths share after Graph refused a request. The write path adds its own (hold the row, count a 400). */
export type RetryStep =
  /** A 429: wait out the pause through the budget (everything sharing it waits), then send again; never an attempt. */
  | { do: 'wait-out-throttle'; waitMs: number }
  /** Send again after `delayMs`, with a fresh token when `refreshToken`. */
  | { do: 'retry-soon'; delayMs: number; refreshToken: boolean; why: string }
  /** Give up: retrying cannot change Graph's answer, or the retries are spent. */
  | { do: 'fail'; reason: string };

/** Back-off after a 429 without Retry-After: 1 s, doubling per 429 in a row, at most a minute (before jitter). */
export const THROTTLE_BACKOFF = { baseMs: 1000, maxMs: 60_000 } as const;
/** Back-off after a transient failure (network, timeout, 5xx) without Retry-After: 250 ms, doubling, at most 5 s. */
export const TRANSIENT_BACKOFF = { baseMs: 250, maxMs: 5000 } as const;
/** The longest Retry-After waited unless SYNC_MAX_RETRY_AFTER says otherwise. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 10 * 60_000;
/** A write's quick retries of transient failures in one delivery, before BullMQ's slower back-off takes over. */
export const WRITE_QUICK_RETRIES = 4;
/** A read's retries of transient failures; a read has no queue to fall back on, so it gets one more. */
export const READ_TRANSIENT_RETRIES = 5;
/** How long a write whose key is locked by an older update in flight waits before it is tried again (jittered). */
export const LOCKED_RETRY_MS = 500;
/** How long a write waits while the permission breaker holds its tenant. */
export const BLOCKED_RETRY_MS = 2000;

/** Half to one and a half times `ms` (`random` in [0, 1)), so requests that failed together do not retry together. */
export const jitterAround = (ms: number, random: number): number => Math.round(ms * (0.5 + random));
/** One to two times `ms`, as p-retry randomises: a write's quick retry never comes sooner than its back-off. */
export const jitterAbove = (ms: number, random: number): number => ms * (1 + random);

/** `base` doubled `times` times, at most `max`. */
const doubled = (backoff: { baseMs: number; maxMs: number }, times: number) => Math.min(backoff.baseMs * 2 ** times, backoff.maxMs);

/** How long a 429 waits: its Retry-After (capped), else the jittered back-off for the `streak` of 429s before it, capped too. */
export function throttleWaitMs(
  retryAfterMs: number | undefined,
  streak: number,
  random: number,
  maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS,
): number {
  const capped = capRetryAfter(retryAfterMs, maxRetryAfterMs);
  return capped ?? Math.min(jitterAround(doubled(THROTTLE_BACKOFF, streak), random), maxRetryAfterMs);
}

/** The back-off before the next try after `failures` transient failures, before jitter (a 503's Retry-After overrides it). */
export const transientBackoffMs = (failures: number): number => doubled(TRANSIENT_BACKOFF, failures);

/** Why a 401 after the one token refresh gives up. */
export const refusedAfterRefresh = (message: string): string => `${message} (the token was refreshed once and Graph still refused it)`;

/** A 401 gets exactly one refresh of the token; after it, the request gives up. */
export function afterUnauthorized(tokenRefreshed: boolean, message: string): RetryStep {
  if (!tokenRefreshed) return { do: 'retry-soon', delayMs: 0, refreshToken: true, why: '401 from Graph: refreshing the token once' };
  return { do: 'fail', reason: refusedAfterRefresh(message) };
}
