import { Worker } from 'bullmq';
import { isConnectionLoss } from '../src/console-routing.js';
import type { ImportFailure } from './alerts.js';
import { closeWithin } from './shutdown.js';
import { createScheduledImportProcessor, type ScheduledImportResult } from './scheduled-import.js';
import { tenantDirectory, type SyncConfig } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import { QUEUE_NAMES, queuePrefix } from '../src/redis-layout.js';
import { ResultStore } from '../src/results/store.js';
import { createGraphStates } from '../src/producer/reconcile.js';
import { defaultTenantOf } from '../src/tenants/tenant.js';
import { createScheduleQueue, type ScheduledImportJobData, type ScheduleQueue } from '../src/queue/schedules.js';
import type { RedisClient } from '../src/interfaces.js';

export interface ScheduledImportWorkerOptions {
  /** How long the per-schedule lock outlives a dead worker. */
  scheduleLockTtlMs?: number;
  /** How soon a killed worker's firing is handed to another worker. */
  lockDurationMs?: number;
  onRunCompleted?: (runId: string) => void;
  onImportFailed?: (failure: ImportFailure) => void;
}

export interface ScheduledImportWorker {
  worker: Worker<ScheduledImportJobData, ScheduledImportResult>;
  queue: ScheduleQueue;
  /**
   * True when no scheduled import is running. Waiting and delayed firings are not counted:
   * a schedule always has its next firing delayed, so counting it would keep `--until-idle` from ever exiting.
   */
  isIdle(): Promise<boolean>;
  /** Lets the running firing finish its current file, waiting at most `deadlineMs`. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * Runs the `scheduled-import` queue, one firing at a time per process: imports are streamed and
 * paced by the patch workers anyway, and the per-schedule lock keeps firings of one schedule apart across processes.
 */
export async function startScheduledImportWorker(
  config: SyncConfig,
  redis: RedisClient,
  logger: Logger,
  options: ScheduledImportWorkerOptions = {},
): Promise<ScheduledImportWorker> {
  const store = new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs });
  const patchQueue = defaultTenantOf(config).queue(redis);
  const queue = createScheduleQueue(redis, config.prefix);
  let stopping = false;
  const log = logger.child({ queue: QUEUE_NAMES.scheduledImport });
  const processor = createScheduledImportProcessor({
    redis,
    prefix: config.prefix,
    store,
    patchQueue,
    scheduleQueue: queue,
    logger: log,
    lockTtlMs: options.scheduleLockTtlMs,
    stopRequested: () => stopping,
    onRunCompleted: options.onRunCompleted,
    onImportFailed: options.onImportFailed,
    maxRowBytes: config.maxRowBytes,
    createGraphStates: () => createGraphStates(config, redis),
    apiVersion: config.apiVersion,
    memoryHighWaterPercent: config.memoryHighWaterPercent,
    tenants: tenantDirectory(config),
  });
  const lockDuration = options.lockDurationMs ?? 30_000;
  const worker = new Worker<ScheduledImportJobData, ScheduledImportResult>(QUEUE_NAMES.scheduledImport, processor, {
    connection: redis,
    prefix: queuePrefix(config.prefix, QUEUE_NAMES.scheduledImport),
    concurrency: 1,
    lockDuration,
    stalledInterval: lockDuration,
  });
  // A lost connection is reported once by the connection's watcher (watchRedisConnection), not at every retry.
  worker.on('error', (err) => log[isConnectionLoss(err) ? 'debug' : 'error']({ err: err.message }, 'scheduled-import worker error'));
  worker.on('failed', (job, err) =>
    log.error({ schedule: job?.data.scheduleName, jobId: job?.id, err: err.message }, 'scheduled import failed'),
  );
  await worker.waitUntilReady();

  return {
    worker,
    queue,
    async isIdle() {
      return ((await queue.getJobCounts('active')).active ?? 0) === 0;
    },
    async close(deadlineMs = 30_000) {
      stopping = true;
      if ((await closeWithin(worker, deadlineMs)) === 'timeout') {
        log.warn(
          { deadlineMs },
          'scheduled import did not finish before the deadline; its file stays in processing/ and is resumed by the next firing',
        );
      }
      await Promise.all([queue.close(), patchQueue.close()]);
    },
  };
}
