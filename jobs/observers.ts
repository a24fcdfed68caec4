import type { SyncConfig } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import type { PatchWorkerHooks } from './hooks.js';
import type { RunAlerts } from './alerts.js';
import type { serveMetrics } from './metrics.js';
import { RunVerifier } from './verify-after-run.js';
import { tenantLabelOptions } from '../src/domain/tenant-label.js';
import type { RedisClient } from '../src/interfaces.js';
import { ResultStore } from '../src/results/store.js';
import { createRunLog, type RunLogOptions } from './run-log.js';

export interface WorkerObserversOptions {
  /** Serve this worker's metrics on this port; undefined: no metrics endpoint. */
  metricsPort?: number;
  metricsHost?: string;
  /** For tests: the intervals of the progress lines and failure-reason lines (a minute each otherwise). */
  runLog?: RunLogOptions;
}

export interface WorkerObservers {
  hooks: PatchWorkerHooks;
  alerts?: RunAlerts;
  metricsPort?: number;
  /** Waits for alerts still being delivered, then stops the metrics endpoint. */
  close(): Promise<void>;
}

/** Calls each observer in turn; one that throws is logged and never fails the row that triggered it. */
function combineHooks(list: PatchWorkerHooks[], logger: Logger): PatchWorkerHooks {
  const each =
    <K extends keyof PatchWorkerHooks>(name: K) =>
    (...args: Parameters<NonNullable<PatchWorkerHooks[K]>>) => {
      for (const hooks of list) {
        try {
          (hooks[name] as ((...a: typeof args) => void) | undefined)?.(...args);
        } catch (err) {
          logger.error({ hook: name, err: (err as Error).message }, 'worker hook failed');
        }
      }
    };
  return {
    onRowFinished: each('onRowFinished'),
    onThrottled: each('onThrottled'),
    onRunCompleted: each('onRunCompleted'),
    onRunBlocked: each('onRunBlocked'),
  };
}

/** The worker's run log, metrics endpoint (--metrics-port) and run alerts (SYNC_ALERT_WEBHOOK_URL), as processor hooks. */
export async function startWorkerObservers(
  config: SyncConfig,
  redis: RedisClient,
  logger: Logger,
  options: WorkerObserversOptions = {},
): Promise<WorkerObservers> {
  const list: PatchWorkerHooks[] = [];
  // Progress lines per active run, a summary per finished run, failure reasons at warn (rate-limited).
  const runLog = createRunLog(new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs }), logger, options.runLog);
  list.push(runLog.hooks);
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  // Metrics (prom-client) and alerts (p-retry) are loaded only when asked for: a worker reaches its first PATCH sooner.
  if (options.metricsPort !== undefined) {
    const { createWorkerMetrics, serveMetrics } = await import('./metrics.js');
    const metrics = createWorkerMetrics(tenantLabelOptions(config));
    // Healthy while the Redis connection is ready: a worker that cannot reach Redis takes no row
    // (a status read, never a command that could hang).
    const healthy = () => redis.status === 'ready';
    metricsServer = await serveMetrics(metrics.scrape, { port: options.metricsPort, host: options.metricsHost, logger, healthy });
    list.push(metrics.hooks);
  }
  const alerts = config.alertWebhookUrl ? (await import('./alerts.js')).createRunAlerts(config, redis, logger) : undefined;
  if (alerts) list.push(alerts.hooks());
  // Runs of schedules with --verify are verified when they complete, alerts or not.
  const verifier = new RunVerifier(config, redis, logger, alerts);
  list.push(verifier.hooks());
  return {
    hooks: combineHooks(list, logger),
    alerts,
    metricsPort: metricsServer?.port,
    async close() {
      await verifier.settled();
      await alerts?.settled();
      await runLog.close();
      await metricsServer?.close();
    },
  };
}
