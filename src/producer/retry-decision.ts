import type { RowResult } from '../interfaces.js';

/**
 * Whether `retry` resends a failed row by default, from what the row stored (its last HTTP status and reason):
 * - transient: Graph answered 5xx, 429 (throttled) or 408, or gave no answer at all (a timeout, a network error, the
 *   row ran out of SYNC_MAX_ROW_AGE_MS while throttled or retried, a crash): sending again may well succeed;
 * - permanent: Graph refused the row itself (400, 401 after a token refresh, 403, 404, 409, 422...): sending the same
 *   PATCH again gets the same answer until someone fixes the cause, so only `retry --all` resends it.
 */
export type RetryDecision = { resend: true; why: 'transient' } | { resend: false; why: 'permanent'; status: number };

export function retryDecision(row: Pick<RowResult, 'httpStatus'>): RetryDecision {
  const status = row.httpStatus;
  if (status === undefined || status === 0) return { resend: true, why: 'transient' };
  if (status >= 500 || status === 429 || status === 408) return { resend: true, why: 'transient' };
  return { resend: false, why: 'permanent', status };
}

/** What `retry` left out: permanent failures counted by HTTP status ("404": 12). */
export interface LeftOut {
  total: number;
  byStatus: Record<string, number>;
}

/** The stderr line that says what `retry` left out and why; undefined when nothing was left out. */
export function describeLeftOut(leftOut: LeftOut): string | undefined {
  if (leftOut.total === 0) return undefined;
  const statuses = Object.entries(leftOut.byStatus)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, n]) => `${n} × ${status}`)
    .join(', ');
  return (
    `left out ${leftOut.total} failed rows Graph refused for good (${statuses}): ` +
    `sending them again would get the same answer; fix the cause, then \`retry ` +
    `--all\` resends them too`
  );
}
