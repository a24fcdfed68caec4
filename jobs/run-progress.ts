import type { RunStatus } from '../src/interfaces.js';
import { describeRoughDuration } from '../src/domain/rough-duration.js';

/** How often a worker logs a progress line per active run. */
export const PROGRESS_LOG_INTERVAL_MS = 60_000;

/** What the previous progress line of a run saw: rows ended by then, and when. */
export interface ProgressSample {
  at: number;
  ended: number;
}

export interface RunProgressLine {
  runId: string;
  sent: number;
  failed: number;
  /** 429 answers Graph gave this run's rows (the fleet's, not only this worker's). */
  throttled: number;
  pending: number;
  /** Rows ended per minute since the previous line; undefined on a run's first line. */
  rowsPerMinute?: number;
  /** pending ÷ that throughput; undefined until it is known (first line, or nothing ended in the interval). */
  etaMs?: number;
  eta: string;
}

/** Rows that reached an end state by sending (or giving up on) them: what throughput counts. */
const endedOf = (s: RunStatus) => s.succeeded + s.failed;

/**
 * A run's progress line from its status now and the previous line's sample: sent, failed, throttled, and an ETA from
 * the throughput observed between the two lines (what the fleet actually achieves, 429s and other runs included).
 */
export function runProgressLine(
  status: RunStatus,
  previous: ProgressSample | undefined,
  now: number,
): { line: RunProgressLine; sample: ProgressSample } {
  const ended = endedOf(status);
  const sample = { at: now, ended };
  const elapsed = previous ? now - previous.at : 0;
  const perMs = previous && elapsed > 0 ? Math.max(0, ended - previous.ended) / elapsed : undefined;
  const etaMs = perMs !== undefined && perMs > 0 ? Math.round(status.pending / perMs) : undefined;
  const line: RunProgressLine = {
    runId: status.runId,
    sent: status.succeeded,
    failed: status.failed,
    throttled: status.throttledCount,
    pending: status.pending,
    ...(perMs !== undefined ? { rowsPerMinute: Math.round(perMs * 60_000) } : {}),
    ...(etaMs !== undefined ? { etaMs } : {}),
    eta:
      etaMs !== undefined
        ? describeRoughDuration(etaMs)
        : perMs === 0
          ? 'unknown: nothing ended in the last interval'
          : 'unknown until the next line',
  };
  return { line, sample };
}

/** A finished run's summary fields, for the line its last row's worker logs. */
export function runSummary(status: RunStatus, now: number): Record<string, unknown> {
  return {
    runId: status.runId,
    state: status.state,
    sent: status.succeeded,
    failed: status.failed,
    unchanged: status.unchanged,
    superseded: status.superseded,
    cancelled: status.cancelled,
    rejected: status.rejected,
    throttled: status.throttledCount,
    tookMs: (status.finishedAt ?? now) - status.createdAt,
    took: describeRoughDuration((status.finishedAt ?? now) - status.createdAt),
  };
}
