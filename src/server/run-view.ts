import { createHash } from 'node:crypto';
import type { RateLimit } from '../config.js';
import type { RowResult, RunStatus } from '../interfaces.js';
import { describeRoughDuration } from '../domain/rough-duration.js';
import type { Timeline } from '../results/timeline.js';

/**
 * What the run page decides, as pure functions of a run's status, its timeline and the clock: how fast it goes, when
 * it ends, which colour its bar takes, whether the page refreshes, and its failures grouped by reason.
 */

/** Throughput is what the fleet achieved over this much of the recent timeline. */
export const PACE_WINDOW_MS = 5 * 60_000;
/** A running (or blocked) run's page reloads this often; a finished run's page stays still. */
export const RUN_PAGE_REFRESH_SECONDS = 10;

export interface RunPace {
  /** Rows that ended by being sent (succeeded or failed) per minute; undefined before any did. */
  rowsPerMinute?: number;
  /** The stretch of time the rate was measured over, in ms. */
  overMs: number;
  /** pending ÷ that rate; undefined when the run has ended, or the rate is unknown or zero. */
  etaMs?: number;
  /** The ETA in words, or why there is none. */
  eta: string;
}

const ENDED_STATES = new Set(['completed', 'completed_with_errors', 'cancelled']);

/**
 * A running run's throughput over the last PACE_WINDOW_MS of its timeline (buckets starting in that window, up to now),
 * and the ETA of its pending rows at that rate. A run that has ended gets its average over its whole timeline, no ETA.
 */
export function runPace(status: Pick<RunStatus, 'state' | 'pending'>, timeline: Timeline, now: number, windowMs = PACE_WINDOW_MS): RunPace {
  const bucketMs = timeline.bucketSeconds * 1000;
  const buckets = timeline.buckets;
  if (ENDED_STATES.has(status.state)) {
    if (buckets.length === 0) return { overMs: 0, eta: 'done' };
    const overMs = buckets.length * bucketMs;
    const ended = buckets.reduce((n, b) => n + b.succeeded + b.failed, 0);
    return { rowsPerMinute: Math.round((ended * 60_000) / overMs), overMs, eta: 'done' };
  }
  if (buckets.length === 0) return { overMs: 0, eta: 'unknown: no row has been sent yet' };
  // The window starts at a bucket boundary (never before the run's first bucket) and ends now, so the current partial
  // bucket counts for the time it has run (or at the end of the last bucket, if a clock behind the workers' puts now
  // before its start).
  const firstStart = buckets[0].startMs;
  const lastStart = buckets[buckets.length - 1].startMs;
  const end = now > lastStart ? now : lastStart + bucketMs;
  const windowStart = Math.max(firstStart, Math.floor((end - windowMs) / bucketMs) * bucketMs);
  const overMs = end - windowStart;
  const ended = buckets.filter((b) => b.startMs >= windowStart).reduce((n, b) => n + b.succeeded + b.failed, 0);
  const rowsPerMinute = Math.round((ended * 60_000) / overMs);
  if (status.state === 'blocked') return { rowsPerMinute, overMs, eta: 'unknown: the run is blocked' };
  if (ended === 0) {
    return { rowsPerMinute: 0, overMs, eta: `unknown: no row ended in the last ${describeRoughDuration(overMs).replace(/^about /, '')}` };
  }
  const etaMs = Math.round((status.pending * overMs) / ended);
  return { rowsPerMinute, overMs, etaMs, eta: status.pending === 0 ? 'any moment' : describeRoughDuration(etaMs) };
}

/** The progress bar's colour, by state: a completed run with rejected rows is not as green as a clean one. */
export type ProgressTone = 'running' | 'completed' | 'rejected' | 'errors' | 'blocked' | 'cancelled';

export function progressTone(status: Pick<RunStatus, 'state' | 'rejected'>): ProgressTone {
  switch (status.state) {
    case 'completed':
      return status.rejected > 0 ? 'rejected' : 'completed';
    case 'completed_with_errors':
      return 'errors';
    default:
      return status.state;
  }
}

/** Seconds between reloads of a run's page: while rows may still move (running, or blocked until the breaker resets). */
export function runPageRefreshSeconds(status: Pick<RunStatus, 'state'>): number | undefined {
  return status.state === 'running' || status.state === 'blocked' ? RUN_PAGE_REFRESH_SECONDS : undefined;
}

/**
 * A short, URL-safe id of a reason: links to a group's rows carry it rather than the reason itself, which Graph
 * may make as long as it likes.
 */
export function reasonId(reason: string): string {
  return createHash('sha256').update(reason, 'utf8').digest('hex').slice(0, 16);
}

export interface ReasonGroup {
  reason: string;
  /** reasonId(reason) */
  id: string;
  count: number;
  /** The HTTP statuses seen among the group's rows, ascending. */
  httpStatuses: number[];
}

export interface ReasonGroups {
  groups: ReasonGroup[];
  /** Rows beyond the groups shown (in groups too small to list), so the counts still add up. */
  otherRows: number;
  otherReasons: number;
}

export const NO_REASON = '(no reason recorded)';

/** Rows grouped by their reason, largest group first (ties by reason), at most `maxGroups` of them. */
export function groupByReason(rows: Iterable<Pick<RowResult, 'reason' | 'httpStatus'>>, maxGroups = 20): ReasonGroups {
  const byReason = new Map<string, { count: number; statuses: Set<number> }>();
  for (const row of rows) {
    const reason = row.reason ?? NO_REASON;
    const entry = byReason.get(reason) ?? { count: 0, statuses: new Set<number>() };
    entry.count++;
    if (row.httpStatus !== undefined) entry.statuses.add(row.httpStatus);
    byReason.set(reason, entry);
  }
  const all = [...byReason.entries()]
    .map(([reason, e]) => ({ reason, id: reasonId(reason), count: e.count, httpStatuses: [...e.statuses].sort((a, b) => a - b) }))
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
  const rest = all.slice(maxGroups);
  return { groups: all.slice(0, maxGroups), otherRows: rest.reduce((n, g) => n + g.count, 0), otherReasons: rest.length };
}

/** The write budget (SYNC_RATE_LIMIT) as rows per chart bar of `barSeconds`: the most the fleet may send in one bar. */
export function budgetPerBar(rateLimit: RateLimit, barSeconds: number): number {
  return (rateLimit.limit * barSeconds * 1000) / rateLimit.windowMs;
}
