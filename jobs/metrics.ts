import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { tenantLabeller, tenantLabels, type TenantLabelOptions } from '../src/domain/tenant-label.js';
import { DEFAULT_TENANT, tenantOfRecordKey } from '../src/redis-layout.js';
import { registerProcessMetrics } from './process-metrics.js';
import type { Logger } from '../src/logger.js';
import type { PatchWorkerHooks } from './hooks.js';

export interface WorkerMetricsServerOptions {
  port: number;
  /** 127.0.0.1 by default (`worker --metrics-host 0.0.0.0` to let another host or container scrape it). */
  host?: string;
  logger: Logger;
  /** Whether this worker can do its work (its Redis connection is up): GET /healthz answers 200 or 503, for a container healthcheck. */
  healthy?: () => boolean;
}

/** What GET /metrics serves: a Registry, or a registry's text with more appended. */
export type MetricsSource = Pick<Registry, 'contentType' | 'metrics'>;

export interface WorkerMetrics {
  registry: Registry;
  /** What the worker's --metrics-port serves: the registry, then the deprecated process metrics. */
  scrape: MetricsSource;
  hooks: PatchWorkerHooks;
}

/**
 * What only a worker process can see: how long its rows took and how they ended, per tenant. Fleet-wide figures
 * (rows by state across runs, queue depth, budget) are on the server's /metrics. `tenants` bounds the `tenant` label
 * (SYNC_METRICS_TENANTS, src/domain/tenant-label.ts); without it every row counts under tenant="default" or "other".
 */
export function createWorkerMetrics(tenants: TenantLabelOptions = { configured: [], limit: 0 }): WorkerMetrics {
  const registry = new Registry();
  const renderDeprecatedProcessMetrics = registerProcessMetrics(registry, 'compliance_sync_worker_');
  const duration = new Histogram({
    name: 'compliance_sync_worker_row_duration_seconds',
    help: 'From a worker taking a row to its final outcome: the PATCH, plus any budget wait and retries, by final state',
    labelNames: ['state'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  });
  const finished = new Counter({
    name: 'compliance_sync_worker_rows_finished_total',
    help: 'Rows this worker finished, by final state and tenant (GUID, default or other)',
    labelNames: ['state', 'tenant'],
    registers: [registry],
  });
  const throttled = new Counter({
    name: 'compliance_sync_worker_throttled_total',
    help: '429 answers this worker got from Graph, by tenant',
    labelNames: ['tenant'],
    registers: [registry],
  });
  const pausedSeconds = new Counter({
    name: 'compliance_sync_worker_throttled_seconds_total',
    help: "Seconds by which this worker's 429s extended the pause of the tenant's budget, by tenant",
    labelNames: ['tenant'],
    registers: [registry],
  });
  const completed = new Counter({
    name: 'compliance_sync_worker_runs_completed_total',
    help: 'Runs whose last row this worker finished',
    registers: [registry],
  });
  const labelOf = tenantLabeller(tenants);
  // Zero series exist from the start, so rate() works before the first failure or 429.
  for (const tenant of tenantLabels(tenants)) {
    for (const state of ['succeeded', 'failed']) finished.labels(state, tenant).inc(0);
    throttled.labels(tenant).inc(0);
    pausedSeconds.labels(tenant).inc(0);
  }

  return {
    registry,
    // The prefixed process metrics of earlier releases, deprecated (jobs/process-metrics.ts), follow ours in a scrape.
    scrape: {
      contentType: registry.contentType,
      metrics: async () => (await registry.metrics()) + (await renderDeprecatedProcessMetrics()),
    },
    hooks: {
      onRowFinished: (row, latencyMs) => {
        duration.labels(row.state).observe(latencyMs / 1000);
        finished.labels(row.state, labelOf(row.tenantId ?? tenantOfRecordKey(row.key))).inc();
      },
      onThrottled: (pausedMs, tenant = DEFAULT_TENANT) => {
        throttled.labels(labelOf(tenant)).inc();
        pausedSeconds.labels(labelOf(tenant)).inc(pausedMs / 1000);
      },
      onRunCompleted: () => completed.inc(),
    },
  };
}

/** Serves a registry at GET /metrics (no auth: counters only, no row data) and GET /healthz on its own port. */
export async function serveMetrics(
  registry: MetricsSource,
  options: WorkerMetricsServerOptions,
): Promise<{ port: number; close: () => Promise<void> }> {
  // Loaded only for --metrics-port: a worker without it starts sending sooner.
  // LogController is read off the default export: the bundle's lazily loaded fastify chunk exports only `default`.
  const { default: Fastify } = await import('fastify');
  const { LogController } = Fastify;
  // Request logging is off through the LogController: Fastify 5.12 deprecates the top-level disableRequestLogging
  // (FSTDEP023) and printed a FastifyDeprecation line at every worker start.
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'metrics' }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/healthz', async (_request, reply) => {
    const ok = options.healthy?.() ?? true;
    return reply.code(ok ? 200 : 503).send({ ok, redis: ok ? 'ok' : 'not connected' });
  });
  await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}
