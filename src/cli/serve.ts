import { Command } from 'commander';
import { createLogger } from '../logger.js';
import { connectRedis, describeRedisTarget, redisTargetOf } from '../queue/connection.js';
import { watchRedisConnection } from '../queue/redis-drop.js';
import { routeConsoleThroughLogger } from '../console-routing.js';
import { createRunAlerts } from '../../jobs/alerts.js';
import { buildServer } from '../server/app.js';
import { ApiTokenError, ApiTokens } from '../server/auth.js';
import { OperatorError, EXIT } from '../errors.js';
import { loadCliConfig, redisOptionsOf } from './shared.js';

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new OperatorError(`--port must be a whole number from 0 to 65535, got "${value}"`, EXIT.usage);
  return n;
}

export const serveCommand = new Command('serve')
  .description('Run the HTTP API (POST /v1/user-statuses events, GET /v1/runs), /metrics, and the dashboard (/admin/runs, /admin/queues)')
  .option('--port <n>', 'port to listen on (0 picks a free one)', parsePort, 8080)
  .option('--host <address>', 'address to listen on; 0.0.0.0 for every interface (e.g. in a container)', '127.0.0.1')
  .addHelpText(
    'after',
    `
Environment: SYNC_API_TOKENS (required) comma-separated bearer tokens of at least 16 characters;
SYNC_API_BODY_LIMIT_BYTES (default 1048576); SYNC_ALERT_WEBHOOK_URL, SYNC_ALERT_FAILED_PERCENT (optional);
plus REDIS_URL (or SYNC_REDIS_CLUSTER), SYNC_PREFIX, SYNC_RATE_LIMIT, SYNC_LOG_LEVEL as for the other commands.
The server only queues and reads: run \`compliance-sync worker\` to send.
Exit codes: 0 stopped by SIGTERM/SIGINT, 2 missing or weak SYNC_API_TOKENS or bad usage, 1 Redis unreachable or the port cannot be used.`,
  )
  .action(async (flags: { port: number; host: string }) => {
    const config = loadCliConfig();
    let tokens: ApiTokens;
    try {
      tokens = new ApiTokens(config.apiTokens);
    } catch (err) {
      if (err instanceof ApiTokenError) throw new OperatorError(err.message, EXIT.usage);
      throw err;
    }
    const logger = createLogger(config.logLevel, { role: 'server', pid: process.pid }, config.logFormat);
    routeConsoleThroughLogger(logger);
    const redis = await connectRedis(redisTargetOf(config), 'server', {}, redisOptionsOf(config));
    watchRedisConnection(redis, logger, describeRedisTarget(redisTargetOf(config)));
    const alerts = createRunAlerts(config, redis, logger);
    const app = await buildServer({ config, redis, logger, tokens, alerts });
    try {
      await app.listen({ port: flags.port, host: flags.host });
    } catch (err) {
      await app.close().catch(() => undefined);
      redis.disconnect();
      throw new OperatorError(`cannot listen on ${flags.host}:${flags.port}: ${(err as Error).message}`);
    }

    let stopping: Promise<void> | undefined;
    const stop = (why: string) =>
      (stopping ??= (async () => {
        logger.info({ why }, 'server stopping: finishing requests in progress');
        await app.close();
        await alerts?.settled();
        redis.disconnect();
      })());
    process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(EXIT.ok)));
    process.once('SIGINT', () => void stop('SIGINT').then(() => process.exit(EXIT.ok)));
    return new Promise<void>(() => undefined);
  });
