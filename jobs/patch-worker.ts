import { randomUUID } from 'node:crypto';
import { Worker, type WorkerOptions } from 'bullmq';
import { isConnectionLoss } from '../src/console-routing.js';
import type { PatchWorkerHooks } from './hooks.js';
import { closeWithin } from './shutdown.js';
import { createPatchUserStatusProcessor } from './patch-user-status.js';
import type { SyncConfig } from '../src/config.js';
import type { PatchJobData, RedisClient } from '../src/interfaces.js';
import type { Logger } from '../src/logger.js';
import { queuePrefix } from '../src/redis-layout.js';
import { ResultStore } from '../src/results/store.js';
import { MissingStatuses } from '../src/results/missing-statuses.js';
import type { PermissionBreaker } from '../src/pacing/breaker.js';
import { queueDepth, type PatchQueue } from '../src/queue/queues.js';
import { MarkerWatch } from '../src/queue/marker-watch.js';
import { IDLE_FETCH_SEC, markerWatchedBackends } from '../src/queue/watched-backend.js';
import { isCluster } from '../src/queue/connection.js';
import { tenantsOf, type Tenant, type TokenOverrides } from '../src/tenants/tenant.js';

/** `tokens` and `tenantTokens` (TokenOverrides), for tests: token sources instead of the tenants' own credentials. */
export interface PatchWorkerOptions extends TokenOverrides {
  /** Jobs in flight at once per tenant: each tenant's worker has its own, so no tenant's backlog takes another's. */
  concurrency: number;
  /** How long a job's lock lives without renewal: a killed worker's jobs are picked up again after this. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  hooks?: PatchWorkerHooks;
  /** For tests: the jitter source (Math.random otherwise). */
  random?: () => number;
}

/** One tenant's share of a worker process: its queue, its BullMQ worker, its breaker (its budget is in Redis). */
export interface TenantWorker {
  /** '' for the default tenant, else the tenant's GUID. */
  tenant: string;
  worker: Worker<PatchJobData>;
  queue: PatchQueue;
  breaker: PermissionBreaker;
}

/** What the fleet's queues hold, for `worker --until-idle`: work left, nothing left, or only blocked tenants' work. */
export type FleetProgress = { kind: 'busy' } | { kind: 'idle' } | { kind: 'blocked'; reasons: Array<{ tenant: string; reason: string }> };

export interface PatchWorker {
  /** The default tenant's worker, queue and breaker (those of a single-tenant deployment). */
  worker: Worker<PatchJobData>;
  queue: PatchQueue;
  store: ResultStore;
  breaker: PermissionBreaker;
  /** Every tenant's, the default tenant's first. */
  tenants: TenantWorker[];
  /** True when no job of any tenant is waiting, delayed or active. */
  isIdle(): Promise<boolean>;
  progress(): Promise<FleetProgress>;
  /** Finishes in-flight jobs, waiting at most `deadlineMs` before abandoning them to stalled-job recovery. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * One BullMQ Worker per tenant (tenantsOf(config): the default tenant and each of SYNC_TENANTS_FILE), each on its
 * tenant's own queue with its own concurrency, budget, breaker and token source. A worker whose tenant's budget is spent
 * waits for its next slot (a sleep, not a poll) holding at most `concurrency` jobs; the other tenants' workers are not
 * behind it, so a tenant with a million rows queued never delays one with ten.
 *
 * The Workers open no connection of their own: they fetch, lock, renew and recover stalled jobs over the process's
 * connection, and wait for jobs through one MarkerWatch (src/queue/marker-watch.ts): one connection blocked in one
 * BZPOPMIN over every waiting tenant's marker on one Redis, none on a cluster. A worker process holds the same few
 * Redis connections whatever its tenant count.
 */
export async function startPatchWorker(
  config: SyncConfig,
  redis: RedisClient,
  logger: Logger,
  options: PatchWorkerOptions,
): Promise<PatchWorker> {
  const store = new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs });
  const missing = new MissingStatuses(redis, config.prefix);
  const watch = new MarkerWatch(redis, {
    // This process's own key: rung to make the shared wait include a tenant that starts to wait (one Redis only).
    doorbellKey: `${config.prefix}:worker-doorbell:${randomUUID()}`,
    connectionName: `${connectionNameOf(redis) ?? 'compliance-sync:worker'}:markers`,
    onError: (err) => logger.warn({ err: err.message }, 'waiting for jobs failed; every tenant fetches once'),
  });
  const backends = markerWatchedBackends(watch);
  const workerOptions: WorkerOptions = {
    connection: redis,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? options.lockDurationMs ?? 30_000,
    // A row must never be dropped because its worker died more than once: BullMQ's default of 1 would fail it.
    maxStalledCount: 1000,
    // A marker wakes a waiting worker at once (the watch); this is only how often an idle tenant fetches without one.
    drainDelay: IDLE_FETCH_SEC,
  };

  const start = (tenant: Tenant): TenantWorker => {
    const queue = tenant.queue(redis);
    const breaker = tenant.breaker(redis);
    const log = tenant.isDefault ? logger : logger.child({ tenant: tenant.id });
    const processor = createPatchUserStatusProcessor({
      store,
      budget: tenant.writeBudget(redis),
      breaker,
      refusals: tenant.refusals(redis),
      writer: tenant.writer(tenant.tokens(options)),
      missing,
      logger: log,
      requestTimeoutMs: config.requestTimeoutMs,
      maxRowAgeMs: config.maxRowAgeMs,
      maxRetryAfterMs: config.maxRetryAfterMs,
      // Only this tenant's queue: the other tenants keep sending.
      pauseFleet: async () => queue.pause(),
      random: options.random,
      ...options.hooks,
    });
    const name = tenant.queueName;
    const worker = new Worker<PatchJobData>(name, processor, { ...workerOptions, prefix: queuePrefix(config.prefix, name) }, backends);
    // A lost connection is reported once by the connection's watcher (watchRedisConnection), not at every retry.
    worker.on('error', (err) => log[isConnectionLoss(err) ? 'debug' : 'error']({ err: err.message }, 'worker error'));
    return { tenant: tenant.id, worker, queue, breaker };
  };

  const tenants = tenantsOf(config).map(start);
  await Promise.all(tenants.map((t) => t.worker.waitUntilReady()));
  const [main] = tenants;

  /** Jobs of a tenant's queue not finished yet, in any state. */
  const unfinished = (d: Awaited<ReturnType<typeof queueDepth>>) => d.waiting + d.prioritized + d.delayed + d.active + d.paused;

  const progress = async (): Promise<FleetProgress> => {
    const reasons: Array<{ tenant: string; reason: string }> = [];
    for (const t of tenants) {
      const d = await queueDepth(t.queue);
      if (unfinished(d) === 0) continue;
      const breaker = await t.breaker.state();
      // A blocked tenant's rows wait for `resume`; they are not work this process can finish.
      if (breaker.tripped && d.active === 0 && (await t.queue.isPaused()))
        reasons.push({ tenant: t.tenant, reason: breaker.reason ?? 'blocked' });
      else return { kind: 'busy' };
    }
    return reasons.length > 0 ? { kind: 'blocked', reasons } : { kind: 'idle' };
  };

  return {
    worker: main.worker,
    queue: main.queue,
    store,
    breaker: main.breaker,
    tenants,
    async isIdle() {
      for (const t of tenants) {
        if (unfinished(await queueDepth(t.queue)) > 0) return false;
      }
      return true;
    },
    progress,
    async close(deadlineMs = 30_000) {
      const outcomes = await Promise.all(tenants.map((t) => closeWithin(t.worker, deadlineMs)));
      if (outcomes.includes('timeout')) {
        logger.warn({ deadlineMs }, 'in-flight jobs did not finish before the deadline; leaving them to stalled-job recovery');
      }
      await watch.close();
      await Promise.all(tenants.map((t) => t.queue.close()));
    },
  };
}

/** The name the process's connection gives itself in CLIENT LIST (ioredis `connectionName`), if any. */
function connectionNameOf(redis: RedisClient): string | undefined {
  return isCluster(redis) ? redis.options.redisOptions?.connectionName : redis.options.connectionName;
}
