import { Queue, type JobsOptions, type QueueOptions } from 'bullmq';
import type { PatchJobData, RedisClient } from '../interfaces.js';
import { QUEUE_NAMES, jobIdFor, queuePrefix } from '../redis-layout.js';

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
export type PatchJob = Parameters<PatchQueue['addBulk']>[0][number] & { opts: { jobId: string } };

/** The one shape of a `patch-user-status` job; its id comes from the row, so adding it twice adds it once. */
export function patchJob(data: PatchJobData): PatchJob {
  const jobId = jobIdFor(data.runId, data.line, data.generation);
  // Event-driven rows go to the front of the wait list, ahead of any bulk backlog.
  return { name: 'patch', data, opts: data.origin === 'event' ? { jobId, lifo: true } : { jobId } };
}

export function createPatchQueue(connection: RedisClient, prefix: string, options: Partial<QueueOptions> = {}): PatchQueue {
  return new Queue<PatchJobData, unknown, string>(QUEUE_NAMES.patch, { connection, prefix: queuePrefix(prefix, QUEUE_NAMES.patch), defaultJobOptions: PATCH_JOB_OPTIONS, ...options });
}

/**
 * Jobs not yet finished, by BullMQ state; `paused` counts jobs held back while the breaker has the queue paused.
 * BullMQ 6 has no `paused` job state (a paused queue's jobs count as waiting), so they are moved to `paused` here.
 */
export async function queueDepth(queue: Queue): Promise<Record<'waiting' | 'prioritized' | 'delayed' | 'active' | 'paused' | 'failed', number>> {
  const [c, isPaused] = await Promise.all([queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'), queue.isPaused()]);
  const waiting = c.waiting ?? 0;
  return { waiting: isPaused ? 0 : waiting, prioritized: c.prioritized ?? 0, delayed: c.delayed ?? 0, active: c.active ?? 0, paused: isPaused ? waiting : 0, failed: c.failed ?? 0 };
}
