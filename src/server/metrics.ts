import type { Redis } from 'ioredis';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RateLimit } from '../config.js';
import { ROW_STATES, type RunState, type RunStatus } from '../interfaces.js';
import type { PermissionBreaker } from '../pacing/breaker.js';
import { queueDepth, type PatchQueue } from '../queue/queues.js';
import { redisKeys } from '../redis-layout.js';
import type { ResultStore } from '../results/store.js';

export interface ServerMetricsOptions {
  store: ResultStore;
  queue: PatchQueue;
  breaker: PermissionBreaker;
  redis: Redis;
  prefix: string;
  rateLimit: RateLimit;
  /** Row and run figures are summed over this many most recent runs (the same runs `GET /v1/runs?limit=` lists). */
  runLimit?: number;
}

const RUN_STATES: readonly RunState[] = ['running', 'completed', 'completed_with_errors', 'blocked'];
const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'paused', 'failed'] as const;
export const DEFAULT_METRICS_RUN_LIMIT = 1000;

/** Sums run figures the way `status` reports them, so a dashboard and the CLI never disagree. */
export function sumRuns(runs: readonly RunStatus[]) {
  const rows = Object.fromEntries(ROW_STATES.map((s) => [s, 0])) as Record<(typeof ROW_STATES)[number], number>;
  const byState = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
  let throttledCount = 0;
  let throttledMs = 0;
  for (const r of runs) {
    rows.rejected += r.rejected;
    rows.unchanged += r.unchanged;
    rows.queued += r.pending;
    rows.succeeded += r.succeeded;
    rows.failed += r.failed;
    rows.superseded += r.superseded;
    byState[r.state]++;
    throttledCount += r.throttledCount;
    throttledMs += r.throttledMs;
  }
  return { rows, byState, throttledCount, throttledMs };
}

/**
 * Prometheus metrics of the whole fleet, read from Redis at each scrape (so every server replica
 * reports the same figures): rows and runs by state, queue depth, throttling and the shared budget.
 * A worker's own request latencies are on its --metrics-port (jobs/metrics.ts).
 */
export function createServerMetrics(options: ServerMetricsOptions): { registry: Registry; render: () => Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'compliance_sync_server_' });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });

  const rows = gauge('compliance_sync_rows', 'Rows of the most recent runs by state (queued = still to send); the sums of `status` over those runs', ['state']);
  const runs = gauge('compliance_sync_runs', 'Most recent runs by state', ['state']);
  const runsCounted = gauge('compliance_sync_runs_counted', 'How many of the most recent runs the row and run figures cover');
  const jobs = gauge('compliance_sync_queue_jobs', 'Jobs of the patch-user-status queue by BullMQ state', ['state']);
  const throttled = gauge('compliance_sync_throttled_responses', '429 answers from Graph, summed over the most recent runs');
  const throttledSeconds = gauge('compliance_sync_throttled_seconds', 'Seconds the fleet paused for Retry-After, summed over the most recent runs');
  const configuredRate = gauge('compliance_sync_budget_configured_rate', 'Configured fleet-wide send rate (SYNC_RATE_LIMIT), requests per second');
  const effectiveRate = gauge('compliance_sync_budget_effective_rate', 'Current fleet-wide send rate after 429 slow-downs, requests per second');
  const paused = gauge('compliance_sync_budget_paused', '1 while the fleet waits out a Retry-After, else 0');
  const pauseRemaining = gauge('compliance_sync_budget_pause_remaining_seconds', 'Seconds left of the current Retry-After pause');
  const reservedAhead = gauge('compliance_sync_budget_reserved_ahead_seconds', 'How far ahead send slots are already handed out (budget in use)');
  const breakerTripped = gauge('compliance_sync_breaker_tripped', '1 while the permission breaker holds the fleet (missing Graph permission), else 0');

  const budgetKey = redisKeys(options.prefix).budget;
  const configuredIntervalUs = (options.rateLimit.windowMs * 1000) / options.rateLimit.limit;

  const refresh = async () => {
    const [recent, depth, budget, breaker] = await Promise.all([
      options.store.listRuns(options.runLimit ?? DEFAULT_METRICS_RUN_LIMIT),
      queueDepth(options.queue),
      options.redis.hmget(budgetKey, 'tat', 'intervalUs', 'pauseUntil'),
      options.breaker.state(),
    ]);
    const sums = sumRuns(recent);
    for (const state of ROW_STATES) rows.set({ state }, sums.rows[state]);
    for (const state of RUN_STATES) runs.set({ state }, sums.byState[state]);
    runsCounted.set(recent.length);
    for (const state of QUEUE_STATES) jobs.set({ state }, depth[state]);
    throttled.set(sums.throttledCount);
    throttledSeconds.set(sums.throttledMs / 1000);

    // Budget times are µs; the hash is written by src/scripts/reserveSendSlot-1.lua and registerThrottle-1.lua (fields in src/redis-layout.ts).
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
