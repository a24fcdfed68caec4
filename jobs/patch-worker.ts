import { Worker, type WorkerOptions } from 'bullmq';
import type { PatchWorkerHooks } from './hooks.js';
import { closeWithin } from './shutdown.js';
import { createPatchUserStatusProcessor } from './patch-user-status.js';
import type { SyncConfig } from '../src/config.js';
import { createTokenSource, type TokenSource } from '../src/graph/auth.js';
import { UserStatusWriter } from '../src/graph/client.js';
import type { PatchJobData, RedisClient } from '../src/interfaces.js';
import type { Logger } from '../src/logger.js';
import { QUEUE_NAMES, queuePrefix } from '../src/redis-layout.js';
import { ResultStore } from '../src/results/store.js';
import { PermissionBreaker } from '../src/pacing/breaker.js';
import { RateBudget } from '../src/pacing/budget.js';
import { createPatchQueue, queueDepth, type PatchQueue } from '../src/queue/queues.js';

export interface PatchWorkerOptions {
  concurrency: number;
  /** How long a job's lock lives without renewal: a killed worker's jobs are picked up again after this. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  tokens?: TokenSource;
  hooks?: PatchWorkerHooks;
  /** For tests: the jitter source (Math.random otherwise). */
  random?: () => number;
}


export interface PatchWorker {
  worker: Worker<PatchJobData>;
  queue: PatchQueue;
  store: ResultStore;
  breaker: PermissionBreaker;
  /** True when no job is waiting, delayed or active. */
  isIdle(): Promise<boolean>;
  /** Finishes in-flight jobs, waiting at most `deadlineMs` before abandoning them to stalled-job recovery. */
  close(deadlineMs?: number): Promise<void>;
}

export async function startPatchWorker(config: SyncConfig, redis: RedisClient, logger: Logger, options: PatchWorkerOptions): Promise<PatchWorker> {
  const store = new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs });
  const queue = createPatchQueue(redis, config.prefix);
  const breaker = new PermissionBreaker(redis, config.prefix);
  const writer = new UserStatusWriter(config, options.tokens ?? createTokenSource(config));
  const processor = createPatchUserStatusProcessor({
    store,
    budget: new RateBudget(redis, config.prefix, config.rateLimit),
    breaker,
    writer,
    logger,
    requestTimeoutMs: config.requestTimeoutMs,
    maxRowAgeMs: config.maxRowAgeMs,
    pauseFleet: async () => queue.pause(),
    random: options.random,
    ...options.hooks,
  });
  const workerOptions: WorkerOptions = {
    connection: redis,
    prefix: queuePrefix(config.prefix, QUEUE_NAMES.patch),
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? options.lockDurationMs ?? 30_000,
    // A row must never be dropped because its worker died more than once: BullMQ's default of 1 would fail it.
    maxStalledCount: 1000,
  };
  const worker = new Worker<PatchJobData>(QUEUE_NAMES.patch, processor, workerOptions);
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  await worker.waitUntilReady();

  return {
    worker,
    queue,
    store,
    breaker,
    async isIdle() {
      const d = await queueDepth(queue);
      return d.waiting + d.prioritized + d.delayed + d.active + d.paused === 0;
    },
    async close(deadlineMs = 30_000) {
      if ((await closeWithin(worker, deadlineMs)) === 'timeout') {
        logger.warn({ deadlineMs }, 'in-flight jobs did not finish before the deadline; leaving them to stalled-job recovery');
      }
      await queue.close();
    },
  };
}
