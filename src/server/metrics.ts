import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RateLimit } from '../config.js';
import { ROW_STATES, type RunState, type RedisClient } from '../interfaces.js';
import type { PermissionBreaker } from '../pacing/breaker.js';
import { readRedisMemory } from '../queue/memory.js';
import { queueDepth, type PatchQueue } from '../queue/queues.js';
import { redisKeys } from '../redis-layout.js';
import type { FleetStats, ResultStore } from '../results/store.js';

export interface ServerMetricsOptions {
  store: ResultStore;
  queue: PatchQueue;
  breaker: PermissionBreaker;
  redis: RedisClient;
  prefix: string;
  rateLimit: RateLimit;
  /** SYNC_REDIS_MEMORY_HIGH_WATER: the percent of maxmemory at which imports and events stop queueing. */
  memoryHighWaterPercent: number;
}

const RUN_STATES: readonly RunState[] = ['running', 'completed', 'completed_with_errors', 'blocked', 'cancelled'];
const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'paused', 'failed'] as const;

/** The run figures of the fleet's counters, by the states `status` uses. */
export function runsByState(stats: FleetStats): Record<RunState, number> {
  return {
    running: Math.max(0, stats.runsOpen - stats.runsBlocked),
    blocked: stats.runsBlocked,
    completed: stats.runsCompleted,
    completed_with_errors: stats.runsCompletedWithErrors,
    cancelled: stats.runsCancelled,
  };
}

/**
 * Prometheus metrics of the whole fleet, read from Redis at each scrape (so every server replica reports the same
 * figures): rows and runs by state, queue depth, throttling and the shared budget. Row, run and throttle figures
 * are the fleet's counters (P:stats), which the scripts that move rows keep up to date: a scrape reads one hash and
 * never goes through runs, however many there are. A worker's own request latencies are on its --metrics-port (jobs/metrics.ts).
 */
export function createServerMetrics(options: ServerMetricsOptions): { registry: Registry; render: () => Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'compliance_sync_server_' });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });

  const rows = gauge(
    'compliance_sync_rows',
    'Rows by state: queued = waiting to be sent now; the other states count every row that reached them since the counters began (pruned runs included)',
    ['state'],
  );
  const runs = gauge('compliance_sync_runs', 'Runs by state: running and blocked now; completed, completed_with_errors and cancelled count every finish since the counters began', ['state']);
  const runsCounted = gauge('compliance_sync_runs_counted', 'Runs kept (within SYNC_RUN_RETENTION, or not finished): the length of the run list');
  const jobs = gauge('compliance_sync_queue_jobs', 'Jobs of the patch-user-status queue by BullMQ state', ['state']);
  const throttled = gauge('compliance_sync_throttled_responses', '429 answers from Graph since the counters began');
  const throttledSeconds = gauge('compliance_sync_throttled_seconds', 'Seconds the fleet paused for Retry-After since the counters began');
  const configuredRate = gauge('compliance_sync_budget_configured_rate', 'Configured fleet-wide send rate (SYNC_RATE_LIMIT), requests per second');
  const effectiveRate = gauge('compliance_sync_budget_effective_rate', 'Current fleet-wide send rate after 429 slow-downs, requests per second');
  const paused = gauge('compliance_sync_budget_paused', '1 while the fleet waits out a Retry-After, else 0');
  const pauseRemaining = gauge('compliance_sync_budget_pause_remaining_seconds', 'Seconds left of the current Retry-After pause');
  const reservedAhead = gauge('compliance_sync_budget_reserved_ahead_seconds', 'How far ahead send slots are already handed out (budget in use)');
  const breakerTripped = gauge('compliance_sync_breaker_tripped', '1 while the permission breaker holds the fleet (missing Graph permission), else 0');
  const redisUsed = gauge('compliance_sync_redis_used_memory_bytes', "Redis's used_memory (on a cluster, of the fullest master)");
  const redisMax = gauge('compliance_sync_redis_maxmemory_bytes', "Redis's maxmemory (on a cluster, of the fullest master); 0 = no limit");
  const highWater = gauge('compliance_sync_redis_memory_high_water_ratio', 'SYNC_REDIS_MEMORY_HIGH_WATER as a ratio of maxmemory: at or above it, imports and events stop queueing');
  highWater.set(options.memoryHighWaterPercent / 100);

  const budgetKey = redisKeys(options.prefix).budget;
  const configuredIntervalUs = (options.rateLimit.windowMs * 1000) / options.rateLimit.limit;

  const refresh = async () => {
    const [stats, kept, depth, budget, breaker, memory] = await Promise.all([
      options.store.stats(),
      options.redis.zcard(redisKeys(options.prefix).runs),
      queueDepth(options.queue),
      options.redis.hmget(budgetKey, 'tat', 'intervalUs', 'pauseUntil'),
      options.breaker.state(),
      readRedisMemory(options.redis),
    ]);
    redisUsed.set(memory.usedBytes);
    redisMax.set(memory.maxBytes);
    for (const state of ROW_STATES) rows.set({ state }, stats.rows[state]);
    const byState = runsByState(stats);
    for (const state of RUN_STATES) runs.set({ state }, byState[state]);
    runsCounted.set(kept);
    for (const state of QUEUE_STATES) jobs.set({ state }, depth[state]);
    throttled.set(stats.throttledCount);
    throttledSeconds.set(stats.throttledMs / 1000);

    // Budget times are µs; the hash is written by src/scripts/reserveSendSlot-1.lua and registerThrottle-2.lua (fields in src/redis-layout.ts).
    const nowUs = Date.now() * 1000;
    const [tat, intervalUs, pauseUntil] = budget.map((v) => (v === null ? undefined : Number(v)));
    configuredRate.set(1e6 / configuredIntervalUs);
    effectiveRate.set(1e6 / Math.max(intervalUs ?? configuredIntervalUs, configuredIntervalUs));
    const pauseLeftUs = Math.max(0, (pauseUntil ?? 0) - nowUs);
    paused.set(pauseLeftUs > 0 ? 1 : 0);
    pauseRemaining.set(pauseLeftUs / 1e6);
    reservedAhead.set(Math.max(0, (tat ?? 0) - nowUs) / 1e6);
    breakerTripped.set(breaker.tripped ? 1 : 0);
  };

  return {
    registry,
    render: async () => {
      await refresh();
      return registry.metrics();
    },
  };
}
