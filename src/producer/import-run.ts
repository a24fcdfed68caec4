import type { Logger } from 'pino';
import type { PatchJobData, RawRow } from '../interfaces.js';
import type { PatchQueue } from '../queue/queues.js';
import { jobIdFor } from '../redis-layout.js';
import type { AdmitRow, ResultStore } from '../results/store.js';
import { RowChecker, rejectedRow, type CheckedRow } from './validate-rows.js';

export interface ImportOptions {
  runId: string;
  rows: AsyncIterable<RawRow>;
  sourceLabel: string;
  /** Send every valid row, ignoring the fingerprints of what Graph already holds. */
  full?: boolean;
  renames?: Record<string, string>;
  chunkSize?: number;
  origin?: 'bulk' | 'event';
  onUnknownColumn?: (name: string) => void;
  onProgress?: (progress: ImportProgress) => void;
  /** Called after each chunk's jobs are added, with their ids (the event API answers with them). */
  onJobsQueued?: (jobIds: string[]) => void;
  logger?: Logger;
}

export interface ImportProgress {
  rows: number;
  accepted: number;
  rejected: number;
  unchanged: number;
  superseded: number;
  enqueued: number;
}

export interface ImportSummary extends ImportProgress {
  runId: string;
  /** True when some lines had been admitted by an earlier, interrupted pass with the same run id. */
  resumed: boolean;
  /**
   * True when the end of the import finished the run (no row was left waiting), so no worker will
   * report its completion: the caller is the one to announce it (alerts).
   */
  completed: boolean;
}

/**
 * Streams a source into the queue: validate, then diff and admit in Redis (one script call per chunk),
 * then addBulk the rows that must be sent. Each chunk is awaited before the next is read, which is the
 * back-pressure that keeps memory flat for any file size.
 */
export async function importRun(store: ResultStore, queue: PatchQueue, options: ImportOptions): Promise<ImportSummary> {
  const chunkSize = options.chunkSize ?? 1000;
  const checker = new RowChecker(options.renames, options.onUnknownColumn);
  const progress: ImportProgress = { rows: 0, accepted: 0, rejected: 0, unchanged: 0, superseded: 0, enqueued: 0 };
  let resumed = false;
  let pending: RawRow[] = [];

  // The run is created with its first rows, so an input refused at its header leaves no empty run behind.
  let runCreated = false;
  const ensureRun = async () => {
    if (!runCreated) await store.createRun(options.runId, options.sourceLabel);
    runCreated = true;
  };

  const flush = async () => {
    if (pending.length === 0) return;
    await ensureRun();
    const batch = pending;
    pending = [];
    const firstSequence = await store.reserveSequence(batch.length);
    const checked = batch.map((raw, i) => checker.check(raw, firstSequence + i));
    const admitted: AdmitRow[] = checked.map((row) =>
      row.record
        ? {
            valid: true,
            line: row.line,
            key: row.key,
            fingerprint: row.fingerprint,
            version: row.version,
            row: { line: row.line, key: row.key, state: 'queued', fingerprint: row.fingerprint, version: row.version, generation: 0 },
          }
        : { valid: false, line: row.line, key: row.key, fingerprint: '', version: '', row: rejectedRow(row) },
    );
    const decisions = await store.admitRows(options.runId, options.full === true, admitted);
    const jobs: { name: string; data: PatchJobData; opts: { jobId: string; lifo?: boolean } }[] = [];
    const replaced: string[] = [];
    const now = Date.now();
    decisions.forEach((decision, i) => {
      const row: CheckedRow = checked[i];
      progress.rows++;
      if (decision.kind === 'dup') {
        resumed = true;
        return;
      }
      if (decision.kind === 'rejected') progress.rejected++;
      else progress.accepted++;
      if (decision.kind === 'unchanged') progress.unchanged++;
      if (decision.kind === 'superseded') progress.superseded++;
      if (decision.kind === 'queued' || decision.kind === 'requeue') {
        const generation = decision.kind === 'requeue' ? decision.generation : 0;
        const version = decision.kind === 'requeue' ? decision.version : row.version;
        if (decision.kind === 'requeue') resumed = true;
        else progress.enqueued++;
        if (decision.kind === 'queued' && decision.replaced) {
          replaced.push(jobIdFor(decision.replaced.runId, decision.replaced.line, decision.replaced.generation));
        }
        const jobId = jobIdFor(options.runId, row.line, generation);
        jobs.push({
          name: 'patch',
          data: { runId: options.runId, line: row.line, key: row.key, record: row.record!, fingerprint: row.fingerprint, version, enqueuedAt: now, generation, origin: options.origin ?? 'bulk' },
          opts: { jobId, ...(options.origin === 'event' ? { lifo: true } : {}) },
        });
      }
    });
    if (jobs.length > 0) {
      await queue.addBulk(jobs);
      options.onJobsQueued?.(jobs.map((j) => j.opts.jobId));
    }
    // The replaced rows are already recorded as superseded; removing their jobs just spares a worker the visit.
    await Promise.all(replaced.map((id) => queue.remove(id).catch(() => 0)));
    options.onProgress?.({ ...progress });
  };

  let importError: Error | undefined;
  try {
    for await (const raw of options.rows) {
      pending.push(raw);
      if (pending.length >= chunkSize) await flush();
    }
    await flush();
  } catch (err) {
    importError = err as Error;
  }
  if (importError && !runCreated) throw importError;
  // A broken input still leaves a finished run: what was admitted is processed, and the error is kept with it.
  await ensureRun();
  const finished = await store.finishImport(options.runId, importError?.message);
  if (importError) throw importError;
  return { runId: options.runId, ...progress, resumed, completed: finished === 'completed' };
}
