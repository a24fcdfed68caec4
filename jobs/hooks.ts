import type { RowResult } from '../src/interfaces.js';

/**
 * Observers of the patch processor (metrics, alerts). Each is optional, is called after the fact,
 * and must neither throw nor slow the row: a hook's failure never changes a row's outcome.
 */
export interface PatchWorkerHooks {
  /** A row reached succeeded or failed; `latencyMs` runs from pick-up to outcome, budget waits and retries included. */
  onRowFinished?: (row: RowResult, latencyMs: number, runId: string) => void;
  /** A 429 added `pausedMs` to the pause of `tenant`'s budget ('' = the default tenant's, the fleet's). */
  onThrottled?: (pausedMs: number, tenant?: string) => void;
  /** This worker recorded the last queued row of the run. */
  onRunCompleted?: (runId: string) => void;
  /** This worker's 403 tripped the permission breaker, after the run was marked blocked. */
  onRunBlocked?: (runId: string, reason: string) => void;
}
