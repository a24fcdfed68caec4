import type { RowResult } from '../interfaces.js';
import { PatchQueues, patchJob, type PatchJob, type PatchQueue } from '../queue/queues.js';
import type { ResultStore } from '../results/store.js';
import { retryDecision, type LeftOut } from './retry-decision.js';

export interface RequeueSummary {
  requeued: number;
  superseded: number;
  skipped: number;
}

/** `retry`: what was resent, and the permanent failures left out (unless `all`). */
export interface RetrySummary extends RequeueSummary {
  leftOut: LeftOut;
}

/**
 * `retry`: resends a run's transient failures (retryDecision), or with `all` every failed row; counts the permanent
 * ones it left out, by HTTP status.
 */
export async function retryFailedRows(
  store: ResultStore,
  queue: PatchQueue | PatchQueues,
  runId: string,
  all: boolean,
): Promise<RetrySummary> {
  const leftOut: LeftOut = { total: 0, byStatus: {} };
  const summary = await requeueFailedRows(store, queue, runId, (row) => {
    const decision = retryDecision(row);
    if (all || decision.resend) return true;
    leftOut.total++;
    leftOut.byStatus[decision.status] = (leftOut.byStatus[decision.status] ?? 0) + 1;
    return false;
  });
  return { ...summary, leftOut };
}

/**
 * Sends a run's failed rows again (all of them, or those `which` selects), each under a new job id.
 * A row for which a newer update exists is not resent: it becomes superseded.
 */
export async function requeueFailedRows(
  store: ResultStore,
  queue: PatchQueue | PatchQueues,
  runId: string,
  which: (row: RowResult) => boolean = () => true,
): Promise<RequeueSummary> {
  // Each row goes back to its own tenant's queue (its stored record names the tenant).
  const queues = PatchQueues.of(queue, store.keys.prefix);
  try {
    return await requeue(store, queues, runId, which);
  } finally {
    if (queues !== queue) await queues.close();
  }
}

async function requeue(store: ResultStore, queue: PatchQueues, runId: string, which: (row: RowResult) => boolean): Promise<RequeueSummary> {
  const summary: RequeueSummary = { requeued: 0, superseded: 0, skipped: 0 };
  let jobs: PatchJob[] = [];
  const flush = async () => {
    if (jobs.length) await queue.addBulk(jobs);
    jobs = [];
  };
  for await (const row of store.iterateRows(runId, ['failed'])) {
    if (!which(row)) continue;
    if (!row.record || !row.version || row.fingerprint === undefined) {
      summary.skipped++;
      continue;
    }
    const outcome = await store.requeueRow(runId, row.line, 'failed');
    if (outcome.kind === 'superseded') summary.superseded++;
    if (outcome.kind === 'skip') summary.skipped++;
    if (outcome.kind !== 'requeued') continue;
    summary.requeued++;
    jobs.push(
      patchJob({
        runId,
        line: row.line,
        key: row.key,
        record: row.record,
        fingerprint: row.fingerprint,
        version: row.version,
        enqueuedAt: Date.now(),
        generation: outcome.generation,
      }),
    );
    if (jobs.length >= 500) await flush();
  }
  await flush();
  return summary;
}
