import { Queue, type JobsOptions, type QueueOptions } from 'bullmq';
import { isConnectionLoss } from '../console-routing.js';
import type { PatchJobData, RedisClient } from '../interfaces.js';
import { DEFAULT_TENANT, jobIdFor, patchQueueName, queuePrefix, tenantIdOf } from '../redis-layout.js';

/**
 * BullMQ-level retries are the slow outer loop (minutes) for long outages; the job itself retries
 * quickly first. Completed jobs are dropped as they complete: every row's outcome lives in the result store, and
 * nothing reads a completed patch job (keeping the last 1,000 cost BullMQ six more Redis commands per job to trim them).
 */
export const PATCH_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: true,
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

/** The default tenant's queue (`patch-user-status`); `tenant` picks another tenant's own queue (patchQueueName). */
export function createPatchQueue(
  connection: RedisClient,
  prefix: string,
  options: Partial<QueueOptions> = {},
  tenant: string = DEFAULT_TENANT,
): PatchQueue {
  const name = patchQueueName(tenant);
  const queueOptions = { connection, prefix: queuePrefix(prefix, name), defaultJobOptions: PATCH_JOB_OPTIONS, ...options };
  const queue = new Queue<PatchJobData, unknown, string>(name, queueOptions);
  queue.on('error', onQueueError);
  return queue;
}

/**
 * A Queue's 'error' with no listener, BullMQ prints raw (console.error, stack and all) at every reconnect attempt. A
 * lost connection is the connection owner's to report (watchRedisConnection, or the failing command); anything else
 * goes to the console, which the commands route through the logger (routeConsoleThroughLogger).
 */
export function onQueueError(err: Error): void {
  if (!isConnectionLoss(err)) console.error(err);
}

/** The tenant whose queue takes a job: the one its record names, else the default tenant. */
export function tenantOfJob(data: Pick<PatchJobData, 'record'>): string {
  return tenantIdOf(data.record);
}

/**
 * Every tenant's patch queue, opened as jobs for it come. A job goes to its record's tenant's queue, so one tenant's
 * backlog never sits in front of another tenant's rows (each tenant's worker takes from its own queue).
 */
export class PatchQueues {
  private readonly byTenant = new Map<string, PatchQueue>();
  private readonly owned = new Set<PatchQueue>();

  /** `defaultQueue`: the default tenant's queue when the caller already has one (it then stays the caller's to close). */
  constructor(
    private readonly connection: RedisClient,
    private readonly prefix: string,
    defaultQueue?: PatchQueue,
  ) {
    if (defaultQueue) this.byTenant.set(DEFAULT_TENANT, defaultQueue);
  }

  /**
   * Wraps a plain default queue (callers and tests that hold only that one); other tenants' queues share its
   * connection. `prefix` is our key prefix (the queue's own BullMQ prefix differs from it on a cluster).
   */
  static of(queue: PatchQueue | PatchQueues, prefix: string): PatchQueues {
    if (queue instanceof PatchQueues) return queue;
    return new PatchQueues(queue.opts.connection as RedisClient, prefix, queue);
  }

  for(tenant: string): PatchQueue {
    let queue = this.byTenant.get(tenant);
    if (!queue) {
      queue = createPatchQueue(this.connection, this.prefix, {}, tenant);
      this.byTenant.set(tenant, queue);
      this.owned.add(queue);
    }
    return queue;
  }

  /** The queues opened so far, default tenant first when open. */
  opened(): Array<{ tenant: string; queue: PatchQueue }> {
    return [...this.byTenant].map(([tenant, queue]) => ({ tenant, queue }));
  }

  async addBulk(jobs: PatchJob[]): Promise<void> {
    const groups = new Map<string, PatchJob[]>();
    for (const job of jobs) {
      const tenant = tenantOfJob(job.data);
      let group = groups.get(tenant);
      if (!group) groups.set(tenant, (group = []));
      group.push(job);
    }
    await Promise.all([...groups].map(([tenant, group]) => this.for(tenant).addBulk(group)));
  }

  /** Closes the queues this object opened (not a default queue it was given). */
  async close(): Promise<void> {
    await Promise.all([...this.owned].map((q) => q.close()));
  }
}

/**
 * Jobs not yet finished, by BullMQ state; `paused` counts jobs held back while the breaker has the queue paused.
 * BullMQ 6 has no `paused` job state (a paused queue's jobs count as waiting), so they are moved to `paused` here.
 */
export async function queueDepth(
  queue: Queue,
): Promise<Record<'waiting' | 'prioritized' | 'delayed' | 'active' | 'paused' | 'failed', number>> {
  const [c, isPaused] = await Promise.all([queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'), queue.isPaused()]);
  const waiting = c.waiting ?? 0;
  return {
    waiting: isPaused ? 0 : waiting,
    prioritized: c.prioritized ?? 0,
    delayed: c.delayed ?? 0,
    active: c.active ?? 0,
    paused: isPaused ? waiting : 0,
    failed: c.failed ?? 0,
  };
}
