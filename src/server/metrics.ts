import { Counter, Gauge, Registry } from 'prom-client';
import type { RateLimit } from '../config.js';
import { tenantLabeller, tenantLabels, type TenantLabelOptions } from '../domain/tenant-label.js';
import { FINAL_ROW_STATES, ROW_STATES, type RowState, type RunState, type RedisClient } from '../interfaces.js';
import { PermissionBreaker } from '../pacing/breaker.js';
import { readRedisMemory } from '../queue/memory.js';
import { PatchQueues, queueDepth, type PatchQueue } from '../queue/queues.js';
import { DEFAULT_TENANT, redisKeys } from '../redis-layout.js';
import type { FleetStats, ResultStore } from '../results/store.js';
import { registerProcessMetrics } from '../../jobs/process-metrics.js';

export interface ServerMetricsOptions {
  store: ResultStore;
  /** The default tenant's queue, or every tenant's (the server's PatchQueues, which then opens the other tenants' queues). */
  queue: PatchQueue | PatchQueues;
  breaker: PermissionBreaker;
  redis: RedisClient;
  prefix: string;
  rateLimit: RateLimit;
  /** SYNC_REDIS_MEMORY_HIGH_WATER: the percent of maxmemory at which imports and events stop queueing. */
  memoryHighWaterPercent: number;
  /** The tenants file's tenants and SYNC_METRICS_TENANTS: whose per-tenant series are read (none: the default tenant only). */
  tenants?: TenantLabelOptions;
}

const RUN_STATES: readonly RunState[] = ['running', 'completed', 'completed_with_errors', 'blocked', 'cancelled'];
/** Run states a run ends in: compliance_sync_runs_total counts each finish. */
const FINISHED_RUN_STATES = ['completed', 'completed_with_errors', 'cancelled'] as const;
/** Run states a run is in now: compliance_sync_runs_open. */
const OPEN_RUN_STATES = ['running', 'blocked'] as const;
const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'paused', 'failed'] as const;
type QueueState = (typeof QUEUE_STATES)[number];
const noJobs = (): Record<QueueState, number> => ({ waiting: 0, prioritized: 0, delayed: 0, active: 0, paused: 0, failed: 0 });

/**
 * Metric names that earlier releases exported and this one still does, for one release, as duplicates whose HELP says
 * "Deprecated: use <replacement>" (README, Metrics). The Grafana dashboard test counts one as covered when its
 * replacement has a panel. The prefixed process metrics (compliance_sync_server_*, compliance_sync_worker_* of
 * prom-client's defaults) are deprecated the same way, for process_* and nodejs_*.
 */
export const DEPRECATED_METRICS: Readonly<Record<string, readonly string[]>> = {
  compliance_sync_rows: ['compliance_sync_rows_total', 'compliance_sync_rows_queued'],
  compliance_sync_runs: ['compliance_sync_runs_total', 'compliance_sync_runs_open'],
  compliance_sync_throttled_responses: ['compliance_sync_throttled_responses_total'],
  compliance_sync_throttled_seconds: ['compliance_sync_throttled_seconds_total'],
};
const deprecatedHelp = (name: string, help: string) => `Deprecated: use ${DEPRECATED_METRICS[name].join(' and ')}. ${help}`;

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
 * Rows that ever reached each final state: the rows in it now plus the rows that left it again (a retried failed row
 * is still one that failed). This only grows, as a Prometheus counter must: rows:failed alone drops at each `retry`,
 * which rate() would read as a counter reset and turn into a spike.
 */
export function rowsReached(stats: Pick<FleetStats, 'rows' | 'rowsLeft'>): Record<Exclude<RowState, 'queued'>, number> {
  const reached = FINAL_ROW_STATES.map((s) => [s, Math.max(0, stats.rows[s] + stats.rowsLeft[s])]);
  return Object.fromEntries(reached) as Record<Exclude<RowState, 'queued'>, number>;
}

/**
 * Sets a counter to a running total kept elsewhere. The fleet's totals live in Redis (P:stats), moved by the scripts
 * that move rows, so the scrape exposes Redis's figure itself rather than counting in this process (inc by the delta
 * since the last scrape): then a server restart does not reset the series, and every server replica reports the same
 * value (a `max` across replicas is the fleet's figure, where per-process deltas would each start at 0 and disagree).
 * rate() stays right because the figure only grows (rowsReached). prom-client has no set() on a Counter: reset, then inc.
 */
function setCounter(counter: Counter, value: number, labels: Record<string, string> = {}): void {
  counter.remove(labels);
  counter.inc(labels, Math.max(0, value));
}

/**
 * Prometheus metrics of the whole fleet, read from Redis at each scrape (so every server replica reports the same
 * figures): rows and runs by state, queue depth, throttling and the shared budget. Row, run and throttle figures
 * are the fleet's counters (P:stats), which the scripts that move rows keep up to date: a scrape reads one hash and
 * never goes through runs, however many there are. A worker's own request latencies are on its --metrics-port (jobs/metrics.ts).
 * Per-tenant series (queue depth, Retry-After pause, breaker) are labelled by tenantLabeller: bounded by SYNC_METRICS_TENANTS.
 */
export function createServerMetrics(options: ServerMetricsOptions): { registry: Registry; render: () => Promise<string> } {
  const registry = new Registry();
  const renderDeprecatedProcessMetrics = registerProcessMetrics(registry, 'compliance_sync_server_');
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers });
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });

  const rowsTotal = counter(
    'compliance_sync_rows_total',
    'Rows that reached each final state since the counters began, fleet-wide (pruned runs included; a retried row counts again)',
    ['state'],
  );
  const rowsQueued = gauge('compliance_sync_rows_queued', 'Rows waiting to be sent now, fleet-wide');
  const runsTotal = counter(
    'compliance_sync_runs_total',
    'Runs that finished since the counters began, by how they ended (a run resumed and finished again counts again)',
    ['state'],
  );
  const runsOpen = gauge('compliance_sync_runs_open', 'Runs not finished now: running, or blocked by a breaker', ['state']);
  const runsCounted = gauge(
    'compliance_sync_runs_counted',
    'Runs kept (within SYNC_RUN_RETENTION, or not finished): the length of the run list',
  );
  const jobs = gauge('compliance_sync_queue_jobs', "Jobs of the patch-user-status queues (every tenant's) by BullMQ state", ['state']);
  const throttledTotal = counter('compliance_sync_throttled_responses_total', '429 answers from Graph since the counters began');
  const throttledSecondsTotal = counter(
    'compliance_sync_throttled_seconds_total',
    'Seconds the fleet paused for Retry-After since the counters began',
  );
  const configuredRate = gauge(
    'compliance_sync_budget_configured_rate',
    'Configured fleet-wide send rate (SYNC_RATE_LIMIT), requests per second',
  );
  const effectiveRate = gauge(
    'compliance_sync_budget_effective_rate',
    'Current fleet-wide send rate after 429 slow-downs, requests per second',
  );
  const paused = gauge('compliance_sync_budget_paused', '1 while the fleet waits out a Retry-After, else 0');
  const pauseRemaining = gauge('compliance_sync_budget_pause_remaining_seconds', 'Seconds left of the current Retry-After pause');
  const reservedAhead = gauge(
    'compliance_sync_budget_reserved_ahead_seconds',
    'How far ahead send slots are already handed out (budget in use)',
  );
  const breakerTripped = gauge(
    'compliance_sync_breaker_tripped',
    '1 while the permission breaker holds the fleet (missing Graph permission), else 0',
  );
  const redisUsed = gauge('compliance_sync_redis_used_memory_bytes', "Redis's used_memory (on a cluster, of the fullest master)");
  const redisMax = gauge('compliance_sync_redis_maxmemory_bytes', "Redis's maxmemory (on a cluster, of the fullest master); 0 = no limit");
  const highWater = gauge(
    'compliance_sync_redis_memory_high_water_ratio',
    'SYNC_REDIS_MEMORY_HIGH_WATER as a ratio of maxmemory: at or above it, imports and events stop queueing',
  );
  highWater.set(options.memoryHighWaterPercent / 100);

  const tenantHelp = "Jobs of a tenant's patch queue by BullMQ state (tenant: GUID, default or other)";
  const tenantJobs = gauge('compliance_sync_tenant_queue_jobs', tenantHelp, ['tenant', 'state']);
  const tenantPaused = gauge('compliance_sync_tenant_budget_paused', "1 while a tenant's budget waits out Retry-After, else 0", ['tenant']);
  const tenantBreaker = gauge('compliance_sync_tenant_breaker_tripped', "1 while a breaker holds a tenant's rows, else 0", ['tenant']);

  // Deprecated duplicates of the names above (DEPRECATED_METRICS): gauges, as they always were.
  const deprecated = (name: string, help: string, labelNames: string[] = []) => gauge(name, deprecatedHelp(name, help), labelNames);
  const rowsHelp = 'Rows by state: queued = waiting now; the others count rows that reached them since the counters began';
  const oldRows = deprecated('compliance_sync_rows', rowsHelp, ['state']);
  const oldRuns = deprecated('compliance_sync_runs', 'Runs by state: running and blocked now; the others count finishes', ['state']);
  const oldThrottled = deprecated('compliance_sync_throttled_responses', '429 answers from Graph since the counters began');
  const oldThrottledSeconds = deprecated('compliance_sync_throttled_seconds', 'Seconds the fleet paused for Retry-After');

  const keys = redisKeys(options.prefix);
  const configuredIntervalUs = (options.rateLimit.windowMs * 1000) / options.rateLimit.limit;
  const queues = PatchQueues.of(options.queue, options.prefix);
  const tenantOptions: TenantLabelOptions = options.tenants ?? { configured: [], limit: 0 };
  const labelOf = tenantLabeller(tenantOptions);
  const labels = tenantLabels(tenantOptions);
  // Every tenant is read alike, each summed into its label: `other` then holds the tenants past the limit. The default
  // tenant (DEFAULT_TENANT, first) is also the fleet's figures: its budget and breaker are the keys of a single tenant.
  const tenants = [DEFAULT_TENANT, ...tenantOptions.configured.filter((t) => labelOf(t) !== labelOf(DEFAULT_TENANT))];
  const breakerOf = (t: string) =>
    t === options.breaker.tenant ? options.breaker : new PermissionBreaker(options.redis, options.prefix, undefined, t);
  const breakers = new Map(tenants.map((t) => [t, breakerOf(t)]));

  const readTenants = () =>
    Promise.all(
      tenants.map(async (tenant) => {
        const [depth, budget, breaker] = await Promise.all([
          queueDepth(queues.for(tenant)),
          options.redis.hmget(keys.budgetOf(tenant), 'tat', 'intervalUs', 'pauseUntil'),
          breakers.get(tenant)!.state(),
        ]);
        const [tat, intervalUs, pauseUntil] = budget.map((v) => (v === null ? undefined : Number(v)));
        return { tenant, depth, tat, intervalUs, pauseUntil, tripped: breaker.tripped };
      }),
    );

  const byLabel = (perTenant: Awaited<ReturnType<typeof readTenants>>, nowUs: number) => {
    const sums = new Map(labels.map((l) => [l, { depth: noJobs(), paused: 0, tripped: 0 }]));
    for (const { tenant, depth, pauseUntil, tripped } of perTenant) {
      const into = sums.get(labelOf(tenant))!;
      for (const state of QUEUE_STATES) into.depth[state] += depth[state];
      into.paused = Math.max(into.paused, (pauseUntil ?? 0) > nowUs ? 1 : 0);
      into.tripped = Math.max(into.tripped, tripped ? 1 : 0);
    }
    return sums;
  };

  const refresh = async () => {
    // Budget times are µs of Redis's TIME, the fleet's one clock (src/scripts/reserveSendSlot-1.lua and
    // registerThrottle-2.lua write them; fields in src/redis-layout.ts): this host's clock, in ms and maybe skewed,
    // would show a 60 s pause as a little more than 60 s left, or a pause as over while it still holds.
    const [[seconds, micros], stats, kept, perTenant, memory] = await Promise.all([
      options.redis.time(),
      options.store.stats(),
      options.redis.zcard(keys.runs),
      readTenants(),
      readRedisMemory(options.redis),
    ]);
    const nowUs = Number(seconds) * 1e6 + Number(micros);
    redisUsed.set(memory.usedBytes);
    redisMax.set(memory.maxBytes);

    const reached = rowsReached(stats);
    for (const state of FINAL_ROW_STATES) setCounter(rowsTotal, reached[state as keyof typeof reached], { state });
    rowsQueued.set(stats.rows.queued);
    const byState = runsByState(stats);
    for (const state of FINISHED_RUN_STATES) setCounter(runsTotal, byState[state], { state });
    for (const state of OPEN_RUN_STATES) runsOpen.set({ state }, byState[state]);
    runsCounted.set(kept);
    setCounter(throttledTotal, stats.throttledCount);
    setCounter(throttledSecondsTotal, stats.throttledMs / 1000);
    for (const state of ROW_STATES) oldRows.set({ state }, stats.rows[state]);
    for (const state of RUN_STATES) oldRuns.set({ state }, byState[state]);
    oldThrottled.set(stats.throttledCount);
    oldThrottledSeconds.set(stats.throttledMs / 1000);

    const fleetDepth = noJobs();
    for (const [tenant, figures] of byLabel(perTenant, nowUs)) {
      for (const state of QUEUE_STATES) {
        tenantJobs.set({ tenant, state }, figures.depth[state]);
        fleetDepth[state] += figures.depth[state];
      }
      tenantPaused.set({ tenant }, figures.paused);
      tenantBreaker.set({ tenant }, figures.tripped);
    }
    for (const state of QUEUE_STATES) jobs.set({ state }, fleetDepth[state]);

    // The fleet's budget and breaker gauges are the default tenant's (first), as before tenants existed.
    const [{ tat, intervalUs, pauseUntil, tripped }] = perTenant;
    configuredRate.set(1e6 / configuredIntervalUs);
    effectiveRate.set(1e6 / Math.max(intervalUs ?? configuredIntervalUs, configuredIntervalUs));
    const pauseLeftUs = Math.max(0, (pauseUntil ?? 0) - nowUs);
    paused.set(pauseLeftUs > 0 ? 1 : 0);
    pauseRemaining.set(pauseLeftUs / 1e6);
    reservedAhead.set(Math.max(0, (tat ?? 0) - nowUs) / 1e6);
    breakerTripped.set(tripped ? 1 : 0);
  };

  return {
    registry,
    render: async () => {
      await refresh();
      return (await registry.metrics()) + (await renderDeprecatedProcessMetrics());
    },
  };
}
