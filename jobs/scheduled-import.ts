import type { Job } from 'bullmq';
import { CsvError } from 'csv-parse';
import { basename, extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ColumnError } from '../src/domain/columns.js';
import { importRun, type ImportSummary } from '../src/producer/import-run.js';
import { dropFileIdentity, postgresIdentity } from '../src/producer/run-input.js';
import type { GraphStates } from '../src/producer/reconcile.js';
import { RowChecker, type TenantDirectory } from '../src/producer/validate-rows.js';
import type { PatchQueue } from '../src/queue/queues.js';
import { acquireScheduleLock, type HeldLock } from '../src/queue/schedule-lock.js';
import type { ImportFailure } from './alerts.js';
import { DEFAULT_SETTLE_MS, type ScheduledImportJobData, type ScheduleQueue } from '../src/queue/schedules.js';
import { redisKeys } from '../src/redis-layout.js';
import type { ResultStore } from '../src/results/store.js';
import { MemoryGuard } from '../src/queue/memory.js';
import { claimFile, finishFile, listInterrupted, listNewFiles, prepareDropFolder, type ClaimedFile } from '../src/sources/drop-folder.js';
import { detectFormat, openInput, readRows, SourceError } from '../src/sources/index.js';
import { readPostgres, redactPostgresUrl } from '../src/sources/postgres.js';
import type { RedisClient } from '../src/interfaces.js';

export interface ScheduledImportDeps {
  redis: RedisClient;
  prefix: string;
  store: ResultStore;
  patchQueue: PatchQueue;
  scheduleQueue: ScheduleQueue;
  logger: Logger;
  lockTtlMs?: number;
  chunkSize?: number;
  /** True once the worker is shutting down: a drop folder stops between files and leaves the rest for the next firing. */
  stopRequested?: () => boolean;
  /** Called when an import finished its run by itself (every row unchanged, rejected or superseded), for alerts. */
  onRunCompleted?: (runId: string) => void;
  /** Largest row in bytes (SYNC_MAX_ROW_BYTES). */
  maxRowBytes?: number;
  /** Called when a dropped file was moved to failed/, for alerts (event failed_import). */
  onImportFailed?: (failure: ImportFailure) => void;
  /** Graph's state for one run, for schedules with --reconcile; without it such a schedule fails its firing. */
  createGraphStates?: () => GraphStates;
  /** GRAPH_API_VERSION, so v1.0 refuses iosLobAppProvisioningConfiguration rows as import does. */
  apiVersion?: 'beta' | 'v1.0';
  /** SYNC_REDIS_MEMORY_HIGH_WATER: scheduled imports stop queueing where `import` and events do. */
  memoryHighWaterPercent?: number;
  /** The tenants rows may name (tenantDirectory(config)). */
  tenants?: TenantDirectory;
}

/** The import options a schedule adds: reconcile, and marking the run to be verified once it completes. */
function graphOptions(
  deps: ScheduledImportDeps,
  data: ScheduledImportJobData,
): { reconcile?: GraphStates; apiVersion?: 'beta' | 'v1.0'; tenants?: TenantDirectory; runFields?: Record<string, string> } {
  if (data.reconcile && !deps.createGraphStates) throw new Error('this worker cannot read Graph for --reconcile');
  return {
    reconcile: data.reconcile ? deps.createGraphStates!() : undefined,
    apiVersion: deps.apiVersion,
    tenants: deps.tenants,
    ...(data.verify ? { runFields: { verifyWhenDone: '1' } } : {}),
  };
}

/** An empty export is nearly always a broken one (a failed query, a truncated transfer): it goes to failed/. */
export const EMPTY_FILE_REASON = 'the file holds no data rows (an empty export is nearly always a broken one)';

export interface ScheduledRun {
  runId: string;
  file?: string;
  outcome: 'imported' | 'failed';
  rows?: number;
  error?: string;
}

export interface ScheduledImportResult {
  skipped?: string;
  runs: ScheduledRun[];
}

const RUN_ID_MAX = 100;

/** `sched-<name>-<utc stamp with ms>[-<file stem, sanitised>]`, cut to the 100 characters a run id may have. */
export function scheduledRunId(scheduleName: string, now: Date, fileName?: string): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  const head = `sched-${scheduleName}-${stamp}`;
  if (fileName === undefined) return head.slice(0, RUN_ID_MAX);
  const stem =
    basename(fileName, extname(fileName))
      .replace(/[^A-Za-z0-9_.-]+/g, '_')
      .replace(/^[._]+/, '') || 'file';
  return `${head}-${stem}`.slice(0, RUN_ID_MAX);
}

/** A problem with the input itself (moves the file to failed/), as opposed to a Redis or program failure (retried next firing). */
function isInputError(err: unknown): boolean {
  if (err instanceof ColumnError || err instanceof SourceError || err instanceof CsvError) return true;
  const e = err as NodeJS.ErrnoException;
  return typeof e?.syscall === 'string' && typeof e.code === 'string';
}

async function uniqueRunId(store: ResultStore, scheduleName: string, fileName?: string): Promise<string> {
  const base = scheduledRunId(scheduleName, new Date(), fileName);
  let runId = base;
  for (let n = 2; await store.runExists(runId); n++) runId = `${base.slice(0, RUN_ID_MAX - String(n).length - 1)}-${n}`;
  return runId;
}

/**
 * Processes one firing of a schedule, holding the schedule's Redis lock throughout: BullMQ adds the next
 * firing as soon as this one starts, so with several worker processes two firings could otherwise overlap.
 */
export function createScheduledImportProcessor(deps: ScheduledImportDeps) {
  const keys = redisKeys(deps.prefix);

  return async function processScheduledImport(job: Job<ScheduledImportJobData>): Promise<ScheduledImportResult> {
    const data = job.data;
    const log = deps.logger.child({ schedule: data.scheduleName, jobId: job.id });
    // A firing already promoted when its schedule was removed must not run.
    if (!(await deps.scheduleQueue.getJobScheduler(data.scheduleName))) return { skipped: 'the schedule was removed', runs: [] };
    const lock = await acquireScheduleLock(deps.redis, keys.scheduleLock(data.scheduleName), {
      ttlMs: deps.lockTtlMs,
      onLost: () => log.warn('schedule lock lost (Redis unreachable or the lock expired): stopping after the current import'),
    });
    if (!lock) {
      log.info('the previous firing of this schedule is still running: skipping this one');
      return { skipped: 'the previous firing of this schedule is still running', runs: [] };
    }
    try {
      if (data.source.kind === 'dir') return { runs: await importDropFolder(deps, data, data.source.dir, lock, log) };
      return { runs: [await importPostgres(deps, data, data.source.url, data.source.query, log)] };
    } finally {
      await lock.release().catch(() => undefined);
    }
  };
}

async function importPostgres(
  deps: ScheduledImportDeps,
  data: ScheduledImportJobData,
  url: string,
  query: string,
  log: Logger,
): Promise<ScheduledRun> {
  const runId = await uniqueRunId(deps.store, data.scheduleName);
  const summary = await importRun(deps.store, deps.patchQueue, {
    runId,
    rows: readPostgres(url, query),
    sourceLabel: `schedule ${data.scheduleName}: postgres ${redactPostgresUrl(url)}`,
    input: postgresIdentity(redactPostgresUrl(url), query),
    full: data.full,
    ...graphOptions(deps, data),
    renames: data.renames,
    chunkSize: deps.chunkSize,
    onUnknownColumn: warnUnknownColumn(log),
    memoryGuard: new MemoryGuard(deps.redis, deps.memoryHighWaterPercent),
    logger: log,
  });
  log.info({ runId, rows: summary.rows, enqueued: summary.enqueued }, 'scheduled import finished');
  if (summary.completed) deps.onRunCompleted?.(runId);
  return { runId, outcome: 'imported', rows: summary.rows };
}

async function importDropFolder(
  deps: ScheduledImportDeps,
  data: ScheduledImportJobData,
  dir: string,
  lock: HeldLock,
  log: Logger,
): Promise<ScheduledRun[]> {
  await prepareDropFolder(dir, data.scheduleName);
  const runs: ScheduledRun[] = [];
  const stop = () => lock.lost || deps.stopRequested?.() === true;

  // First what a crashed worker left half done, under its original run id, so its rows are not counted twice.
  for (const claimed of await listInterrupted(dir, data.scheduleName)) {
    if (stop()) return runs;
    log.info({ runId: claimed.runId, file: claimed.name }, 'resuming a file an earlier firing did not finish');
    runs.push(await importClaimedFile(deps, data, dir, claimed, log));
  }
  for (const file of await listNewFiles(dir, data.settleMs ?? DEFAULT_SETTLE_MS)) {
    if (stop()) return runs;
    const claimed = await claimFile(dir, data.scheduleName, file, await uniqueRunId(deps.store, data.scheduleName, file.name));
    if (claimed) runs.push(await importClaimedFile(deps, data, dir, claimed, log));
  }
  return runs;
}

async function importClaimedFile(
  deps: ScheduledImportDeps,
  data: ScheduledImportJobData,
  dir: string,
  claimed: ClaimedFile,
  log: Logger,
): Promise<ScheduledRun> {
  const { runId } = claimed;
  const format = detectFormat(claimed.name, data.format);
  const label = `schedule ${data.scheduleName}: ${join(dir, claimed.name)} (${format})`;
  let summary: ImportSummary;
  let input: Readable | undefined;
  const moveToFailed = async (message: string, hasRun: boolean) => {
    const text = [
      `file: ${claimed.name}`,
      `schedule: ${data.scheduleName}`,
      `failed at: ${new Date().toISOString()}`,
      `error: ${message}`,
      hasRun ? `rows read before the error are in run ${runId} (compliance-sync status ${runId})` : 'no rows were imported',
      'fix the file and drop it into the folder again',
      '',
    ].join('\n');
    const target = await finishFile(dir, claimed, 'failed', text);
    log.warn({ runId, file: claimed.name, movedTo: target, err: message }, 'scheduled file could not be imported');
    deps.onImportFailed?.({ runId, schedule: data.scheduleName, file: claimed.name, reason: message });
    return { runId, file: claimed.name, outcome: 'failed' as const, error: message };
  };
  try {
    input = await openInput(claimed.path);
    const graph = graphOptions(deps, data);
    const checker = new RowChecker(data.renames, warnUnknownColumn(log), { apiVersion: graph.apiVersion, tenants: graph.tenants });
    summary = await importRun(deps.store, deps.patchQueue, {
      runId,
      rows: readRows(input, format, checker.mapColumn, { encoding: data.encoding, maxRowBytes: deps.maxRowBytes }),
      sourceLabel: label,
      input: dropFileIdentity(data.scheduleName, claimed.name),
      full: data.full,
      ...graph,
      checker,
      chunkSize: deps.chunkSize,
      memoryGuard: new MemoryGuard(deps.redis, deps.memoryHighWaterPercent),
      logger: log,
    });
  } catch (err) {
    // A file refused at its header is never read to the end: close it now rather than at garbage collection.
    input?.destroy();
    // Anything else (Redis, a bug) leaves the file in processing/: the next firing resumes it under the same run id.
    if (!isInputError(err)) throw err;
    return moveToFailed((err as Error).message, await deps.store.runExists(runId));
  }
  if (summary.rows === 0 && !summary.resumed) {
    // The run stays, empty, with the reason as its import error, so `status` tells the same story as failed/.
    await deps.store.finishImport(runId, EMPTY_FILE_REASON);
    return moveToFailed(EMPTY_FILE_REASON, false);
  }
  const target = await finishFile(dir, claimed, 'processed');
  log.info(
    { runId, file: claimed.name, movedTo: target, rows: summary.rows, rejected: summary.rejected, enqueued: summary.enqueued },
    'scheduled file imported',
  );
  if (summary.completed) deps.onRunCompleted?.(runId);
  return { runId, file: claimed.name, outcome: 'imported', rows: summary.rows };
}

/** The row checker reports each unknown column once per run. */
function warnUnknownColumn(log: Logger): (column: string) => void {
  return (column) => log.warn({ column }, 'column is not a known column and is ignored');
}
