import { Queue, type JobsOptions, type QueueOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PatchJobData } from '../interfaces.js';
import { QUEUE_NAMES } from '../redis-layout.js';

/**
 * BullMQ-level retries are the slow outer loop (minutes) for long outages; the job itself retries
 * quickly first. Completed jobs are dropped: every row's outcome lives in the result store.
 */
export const PATCH_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 10_000 },
};

export type PatchQueue = Queue<PatchJobData, unknown, string>;

export function createPatchQueue(connection: Redis, prefix: string, options: Partial<QueueOptions> = {}): PatchQueue {
  return new Queue<PatchJobData, unknown, string>(QUEUE_NAMES.patch, { connection, prefix, defaultJobOptions: PATCH_JOB_OPTIONS, ...options });
}

/** Jobs not yet finished, by BullMQ state; `paused` counts jobs held back while the breaker has the queue paused. */
export async function queueDepth(queue: Queue): Promise<Record<'waiting' | 'prioritized' | 'delayed' | 'active' | 'paused' | 'failed', number>> {
  const c = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'paused', 'failed');
  return { waiting: c.waiting ?? 0, prioritized: c.prioritized ?? 0, delayed: c.delayed ?? 0, active: c.active ?? 0, paused: c.paused ?? 0, failed: c.failed ?? 0 };
}
