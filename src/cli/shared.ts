import { randomBytes } from 'node:crypto';
import { loadConfig, parseMilliseconds, type SyncConfig } from '../config.js';
import { EXIT, OperatorError } from '../errors.js';
import { describeRunId, MAX_RUN_ID_LENGTH, runIdProblem } from '../domain/run-id.js';
import type { Logger } from '../logger.js';
import { routeConsoleThroughLogger } from '../console-routing.js';
import { connectRedis, describeRedisFailure, redisTargetOf, type RedisConnectOptions } from '../queue/connection.js';
import type { PatchQueue } from '../queue/queues.js';
import { ResultStore } from '../results/store.js';
import type { RedisClient } from '../interfaces.js';

export interface Services {
  config: SyncConfig;
  redis: RedisClient;
  store: ResultStore;
  queue: PatchQueue;
  logger: Logger;
}

export function loadCliConfig(overrides: Partial<Record<string, string>> = {}): SyncConfig {
  return loadConfig({ ...process.env, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) });
}

/** Connects to Redis for a short-lived command and always disconnects, whatever the command does. */
export async function withServices<T>(fn: (services: Services) => Promise<T>, mode: 'command' | 'service' = 'command'): Promise<T> {
  const config = loadCliConfig();
  // Loaded here, not at the top: read-only commands (withStore) start without BullMQ and pino.
  const [{ createLogger }, { defaultTenantOf }] = await Promise.all([import('../logger.js'), import('../tenants/tenant.js')]);
  const logger = createLogger(config.logLevel, {}, config.logFormat);
  routeConsoleThroughLogger(logger);
  const redis = await connectRedis(redisTargetOf(config), mode, {}, redisOptionsOf(config));
  const store = new ResultStore(redis, config.prefix, { runRetentionMs: config.runRetentionMs });
  const queue = defaultTenantOf(config).queue(redis);
  try {
    return await fn({ config, redis, store, queue, logger });
  } catch (err) {
    throw asOperatorError(err, config);
  } finally {
    await queue.close().catch(() => undefined);
    redis.disconnect();
  }
}

/** For read-only commands (`status`): the config, Redis and the result store, without a queue or a logger. */
export async function withStore<T>(fn: (services: Pick<Services, 'config' | 'redis' | 'store'>) => Promise<T>): Promise<T> {
  const config = loadCliConfig();
  const redis = await connectRedis(redisTargetOf(config), 'command', {}, redisOptionsOf(config));
  try {
    return await fn({ config, redis, store: new ResultStore(redis, config.prefix) });
  } catch (err) {
    throw asOperatorError(err, config);
  } finally {
    redis.disconnect();
  }
}

/** A stalled or lost Redis is an expected failure (exit 1) with a message that says so, not a bare "Command timed out". */
function asOperatorError(err: unknown, config: SyncConfig): unknown {
  if (err instanceof OperatorError) return err;
  const redisFailure = describeRedisFailure(err, config.redisCommandTimeoutMs);
  return redisFailure ? new OperatorError(redisFailure, EXIT.failure) : err;
}

export function redisOptionsOf(config: SyncConfig): RedisConnectOptions {
  return { commandTimeoutMs: config.redisCommandTimeoutMs, connectTimeoutMs: config.redisConnectTimeoutMs };
}

export function newRunId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Every run id given on the command line goes through here (exit 2), so no argument can name another key. */
export function checkRunId(runId: string): string {
  const problem = runIdProblem(runId);
  if (problem)
    throw new OperatorError(
      `run id ${describeRunId(runId)} ${problem} (1-${MAX_RUN_ID_LENGTH} characters of A-Z a-z 0-9 _ . -, not only dots)`,
      EXIT.usage,
    );
  return runId;
}

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new OperatorError(`${name} must be a positive integer, got "${value}"`, EXIT.usage);
    return n;
  };
}

/** A flag in milliseconds: a plain number of ms, or a duration (`90s`, `1h30m`), as the `_MS` settings take. */
export function parseMillisecondsFlag(name: string, options: { allowZero?: boolean } = {}) {
  return (value: string): number => {
    const ms = parseMilliseconds(value);
    if (ms === undefined || ms < (options.allowZero ? 0 : 1)) {
      throw new OperatorError(
        `${name} must be ${options.allowZero ? '0 or more' : 'a positive number of'} ` +
          `milliseconds or a duration such as 90s or 1h30m, got "${value}"`,
        EXIT.usage,
      );
    }
    return ms;
  };
}

/** `--map target=source`, repeatable. */
export function collectMapping(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new OperatorError(`--map expects target=sourceColumn, got "${value}"`, EXIT.usage);
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1).trim() };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
