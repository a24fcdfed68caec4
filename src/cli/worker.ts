import { Command } from 'commander';
import { connectRedis, describeRedisTarget, redisTargetOf } from '../queue/connection.js';
import { watchRedisConnection } from '../queue/redis-drop.js';
import { routeConsoleThroughLogger } from '../console-routing.js';
import { startPatchWorker } from '../../jobs/patch-worker.js';
import { createLogger } from '../logger.js';
import { startWorkerObservers } from '../../jobs/observers.js';
import { EXIT } from '../errors.js';
import { redactUrl } from '../redact-url.js';
import { loadCliConfig, parseMillisecondsFlag, parsePositiveInt, redisOptionsOf } from './shared.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const workerCommand = new Command('worker')
  .description('Process queued rows: paced, retried PATCHes to Graph, with every outcome recorded in Redis')
  .option(
    '--concurrency <n>',
    'requests in flight in this process, per tenant (each tenant of SYNC_TENANTS_FILE has its own; the fleet-wide budgets still apply)',
    parsePositiveInt('--concurrency'),
    10,
  )
  .option('--until-idle', 'exit 0 once no job is waiting, delayed or active (for cron-style batch runs)')
  .option(
    '--shutdown-timeout <ms>',
    'on SIGTERM/SIGINT, how long in-flight requests may take to finish (ms, or a duration such as 45s)',
    parseMillisecondsFlag('--shutdown-timeout'),
    30_000,
  )
  .option(
    '--lock-duration <ms>',
    "how soon a killed worker's jobs are picked up again (ms, or a duration such as 30s)",
    parseMillisecondsFlag('--lock-duration'),
    30_000,
  )
  .option(
    '--metrics-port <n>',
    "serve this worker's Prometheus metrics (row latency, outcomes, 429s) at http://<metrics-host>:<n>/metrics",
    parsePositiveInt('--metrics-port'),
  )
  .option(
    '--metrics-host <address>',
    'address the metrics endpoint listens on; 0.0.0.0 for every interface (e.g. for a Prometheus in another container)',
    '127.0.0.1',
  )
  .option('--no-scheduled-imports', 'do not run scheduled imports (`schedule add`) in this process, e.g. on a host without the drop folder')
  .addHelpText(
    'after',
    '\nExit codes: 0 stopped by a signal or idle, 3 (--until-idle) the fleet is ' +
      'blocked (missing permissions, or Graph refusing every write with the same 400), ' +
      '1 Redis unreachable or bad credentials.',
  )
  .action(
    async (flags: {
      concurrency: number;
      untilIdle?: boolean;
      shutdownTimeout: number;
      lockDuration: number;
      scheduledImports: boolean;
      metricsPort?: number;
      metricsHost: string;
    }) => {
      const config = loadCliConfig();
      const logger = createLogger(config.logLevel, { role: 'worker', pid: process.pid }, config.logFormat);
      routeConsoleThroughLogger(logger);
      // Named, so CLIENT LIST shows which connections are this worker's (the marker watch's is `<name>:markers`).
      const named = { connectionName: `compliance-sync:worker:${process.pid}` };
      const redis = await connectRedis(redisTargetOf(config), 'service', named, redisOptionsOf(config));
      watchRedisConnection(redis, logger, describeRedisTarget(redisTargetOf(config)));
      // Signals are handled from here on, before anything starts: a SIGTERM during start-up still stops whatever has
      // started so far in order, instead of killing the process with rows in flight.
      const started: {
        observers?: Awaited<ReturnType<typeof startWorkerObservers>>;
        running?: Awaited<ReturnType<typeof startPatchWorker>>;
        imports?: { close(deadlineMs?: number): Promise<void>; isIdle(): Promise<boolean> };
      } = {};
      let stopping: Promise<void> | undefined;
      const stop = (why: string) =>
        (stopping ??= (async () => {
          logger.info({ why }, 'worker stopping: finishing in-flight requests');
          await Promise.all([started.running?.close(flags.shutdownTimeout), started.imports?.close(flags.shutdownTimeout)]);
          await started.observers?.close();
          redis.disconnect();
        })());
      process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(EXIT.ok)));
      process.once('SIGINT', () => void stop('SIGINT').then(() => process.exit(EXIT.ok)));

      // Metrics (--metrics-port) and alerts (SYNC_ALERT_WEBHOOK_URL) observe rows through the processor's hooks.
      const observers = (started.observers = await startWorkerObservers(config, redis, logger, {
        metricsPort: flags.metricsPort,
        metricsHost: flags.metricsHost,
      }));
      if (stopping) return stopping;
      const running = (started.running = await startPatchWorker(config, redis, logger, {
        concurrency: flags.concurrency,
        lockDurationMs: flags.lockDuration,
        hooks: observers.hooks,
      }));
      // Scheduled imports (producer, sources, parsers) load once sending has started: rows go out sooner after a start.
      if (flags.scheduledImports && !stopping) {
        const alerts = observers.alerts;
        const { startScheduledImportWorker } = await import('../../jobs/scheduled-import-worker.js');
        const importer = await startScheduledImportWorker(config, redis, logger, {
          lockDurationMs: flags.lockDuration,
          onRunCompleted: observers.hooks.onRunCompleted,
          onImportFailed: alerts ? (failure) => alerts.importFailed(failure) : undefined,
        });
        // A signal that came while it started has already closed the rest: close this one too.
        if (stopping) await importer.close(flags.shutdownTimeout);
        else started.imports = importer;
      }
      if (stopping) return stopping;
      logger.info(
        {
          concurrency: flags.concurrency,
          rate: config.rateLimit,
          graph: redactUrl(config.graphBaseUrl),
          tenants: config.tenants.length + 1,
        },
        'worker started',
      );

      if (!flags.untilIdle) return new Promise<void>(() => undefined);

      // Two idle readings in a row, so a job between "completed" and its successor's "waiting" is not missed.
      let idleReadings = 0;
      while (!stopping) {
        await sleep(250);
        // Only running scheduled imports count: a schedule's next firing is always waiting as a delayed job.
        if ((await running.isIdle()) && ((await started.imports?.isIdle()) ?? true)) idleReadings++;
        else idleReadings = 0;
        if (idleReadings >= 2) break;
        // Blocked: every tenant with rows left is held by its breaker, 403s or refused writes (the others are done).
        const progress = await running.progress();
        if (progress.kind === 'blocked') {
          const lines = progress.reasons.map((r) => `blocked: ${r.tenant === '' ? '' : `tenant ${r.tenant}: `}${r.reason}\n`).join('');
          process.stderr.write(
            `${lines}Grant the permission, or fix what Graph refuses (doctor --probe-write ` +
              `proves it), then run: compliance-sync resume <runId>\n`,
          );
          await stop('blocked');
          process.exit(EXIT.blocked);
        }
      }
      await stop('idle');
      logger.info('queue idle: worker exiting');
    },
  );
