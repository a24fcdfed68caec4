import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
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

export interface WorkerMetrics {
  registry: Registry;
  hooks: PatchWorkerHooks;
}

/**
 * What only a worker process can see: how long its rows took and how they ended. Fleet-wide figures
 * (rows by state across runs, queue depth, budget) are on the server's /metrics.
 */
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'compliance_sync_worker_' });
  const duration = new Histogram({
    name: 'compliance_sync_worker_row_duration_seconds',
    help: 'From a worker taking a row to its final outcome: the PATCH, plus any budget wait and retries, by final state',
    labelNames: ['state'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  });
  const finished = new Counter({ name: 'compliance_sync_worker_rows_finished_total', help: 'Rows this worker finished, by final state', labelNames: ['state'], registers: [registry] });
  const throttled = new Counter({ name: 'compliance_sync_worker_throttled_total', help: '429 answers this worker got from Graph', registers: [registry] });
  const pausedSeconds = new Counter({ name: 'compliance_sync_worker_throttled_seconds_total', help: 'Seconds by which this worker\'s 429s extended the fleet\'s pause', registers: [registry] });
  const completed = new Counter({ name: 'compliance_sync_worker_runs_completed_total', help: 'Runs whose last row this worker finished', registers: [registry] });
  // Zero series exist from the start, so rate() works before the first failure.
  for (const state of ['succeeded', 'failed']) finished.labels(state).inc(0);

  return {
    registry,
    hooks: {
      onRowFinished: (row, latencyMs) => {
        duration.labels(row.state).observe(latencyMs / 1000);
        finished.labels(row.state).inc();
      },
      onThrottled: (pausedMs) => {
        throttled.inc();
        pausedSeconds.inc(pausedMs / 1000);
      },
      onRunCompleted: () => completed.inc(),
    },
  };
}

/** Serves a registry at GET /metrics (no auth: counters only, no row data) and GET /healthz on its own port. */
export async function serveMetrics(registry: Registry, options: WorkerMetricsServerOptions): Promise<{ port: number; close: () => Promise<void> }> {
  // Loaded only for --metrics-port: a worker without it starts sending sooner.
  // LogController is read off the default export: the bundle's lazily loaded fastify chunk exports only `default`.
  const { default: Fastify } = await import('fastify');
  const { LogController } = Fastify;
  // Request logging is off through the LogController: Fastify 5.12 deprecates the top-level disableRequestLogging
  // (FSTDEP023) and printed a FastifyDeprecation line at every worker start.
  const app = Fastify({ loggerInstance: options.logger.child({ component: 'metrics' }), logController: new LogController({ disableRequestLogging: true }), forceCloseConnections: true });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/healthz', async (_request, reply) => {
    const ok = options.healthy?.() ?? true;
    return reply.code(ok ? 200 : 503).send({ ok, redis: ok ? 'ok' : 'not connected' });
  });
  await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
}
