import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { redactUrl } from '../redact-url.js';
import { OperatorError } from '../errors.js';

// ioredis is CommonJS: required, not imported, because Node 20's ESM loader takes ~70 ms more CPU to load it, at every CLI start.
const ioredis = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

export class RedisUnavailableError extends OperatorError {
  override name = 'RedisUnavailableError';
}

/** Never print a password that is part of REDIS_URL. */
export const redactRedisUrl = (url: string): string => redactUrl(url, '<invalid REDIS_URL>');

/**
 * How a process uses Redis:
 * - `command`: a one-shot CLI command. Fails within seconds when Redis cannot be reached, and every command must be
 *   answered within the command timeout, so a stalled Redis ends the command (exit 1) instead of hanging it.
 * - `server`: `serve`. Waits for Redis at start-up (up to the connect timeout), then reconnects forever. Commands
 *   have the command timeout, and nothing is ever queued offline or re-sent after a reconnect: a request the server
 *   answered with an error must not take effect later (see cancelTimedOutRun in src/server/ingest.ts for writes that
 *   were already on the wire).
 * - `service`: a worker. Waits for Redis at start-up (up to the connect timeout) and rides out any outage or stall
 *   after that: its commands wait (BullMQ's locks and stalled-job recovery keep rows safe), so no command timeout.
 */
export type RedisMode = 'command' | 'server' | 'service';

export interface RedisConnectOptions {
  /** SYNC_REDIS_COMMAND_TIMEOUT_MS; not applied in `service` mode. */
  commandTimeoutMs?: number;
  /** SYNC_REDIS_CONNECT_TIMEOUT_MS: how long `server` and `service` wait for Redis at start-up. */
  connectTimeoutMs?: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
/** Long enough for Redis to restart, or a container to be rescheduled, under a worker that is starting. */
export const DEFAULT_SERVICE_CONNECT_TIMEOUT_MS = 120_000;

/** Redis refusing our credentials is not an outage: waiting would not help, and the message must say so. */
export function isCredentialsError(err: unknown): boolean {
  return /\b(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i.test((err as Error)?.message ?? '');
}

function optionsFor(mode: RedisMode, options: RedisConnectOptions): RedisOptions {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (mode === 'command') {
    return { commandTimeout, maxRetriesPerRequest: 2, enableOfflineQueue: true, retryStrategy: (times) => (times > 2 ? null : 300) };
  }
  if (mode === 'server') {
    return {
      commandTimeout,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    };
  }
  return { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: (times) => Math.min(times * 200, 2000) };
}

export async function connectRedis(url: string, mode: RedisMode, extra: RedisOptions = {}, options: RedisConnectOptions = {}): Promise<Redis> {
  const redis = new ioredis.Redis(url, { lazyConnect: true, connectTimeout: 3000, ...optionsFor(mode, options), ...extra });
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    // Reported through the failing command or the connect below; ioredis would otherwise print raw errors.
    lastError = err;
  });
  const fail = (err: Error | undefined): never => {
    redis.disconnect();
    const cause = lastError ?? err;
    if (isCredentialsError(cause)) throw new RedisUnavailableError(`Redis at ${redactRedisUrl(url)} refused the credentials (check the user and password in REDIS_URL): ${cause?.message}`);
    // The ready check (INFO) timed out: the port accepts connections but Redis does not answer (SIGSTOP, overload).
    if (isCommandTimeout(cause) || isCommandTimeout(err)) {
      throw new RedisUnavailableError(`Redis at ${redactRedisUrl(url)} did not answer within ${options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS} ms (SYNC_REDIS_COMMAND_TIMEOUT_MS); it may be stalled or overloaded`);
    }
    throw new RedisUnavailableError(`Redis at ${redactRedisUrl(url)} is unreachable: ${cause?.message ?? 'no answer'}`);
  };
  try {
    await redis.connect();
    return redis;
  } catch (err) {
    if (mode === 'command' || isCredentialsError(lastError ?? err)) fail(err as Error);
  }
  // A long-lived process keeps trying: Redis may be restarting while this worker or server starts.
  const waitMs = options.connectTimeoutMs ?? DEFAULT_SERVICE_CONNECT_TIMEOUT_MS;
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => done(false), waitMs);
    const onReady = () => done(true);
    const onError = (err: Error) => {
      if (isCredentialsError(err)) done(false);
    };
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(ok);
    };
    redis.on('ready', onReady);
    redis.on('error', onError);
    if (redis.status === 'ready') done(true);
  });
  if (!ready) fail(new Error(`no connection within ${waitMs} ms (SYNC_REDIS_CONNECT_TIMEOUT_MS)`));
  return redis;
}

/** A command that hit the command timeout: Redis accepted the connection but did not answer (stalled, overloaded). */
export function isCommandTimeout(err: unknown): boolean {
  return (err as Error)?.message === 'Command timed out';
}

/** The operator's message for a Redis failure during a command, or undefined when the error is something else. */
export function describeRedisFailure(err: unknown, timeoutMs: number): string | undefined {
  const message = (err as Error)?.message ?? '';
  if (isCommandTimeout(err)) return `Redis did not answer within ${timeoutMs} ms (SYNC_REDIS_COMMAND_TIMEOUT_MS); it may be stalled or overloaded`;
  if (isCredentialsError(err)) return `Redis refused the credentials: ${message}`;
  if (/Connection is closed|Stream isn't writeable|MaxRetriesPerRequestError|Reached the max retries per request|ECONNREFUSED|ECONNRESET/.test(message) || (err as Error)?.name === 'MaxRetriesPerRequestError') {
    return `Redis connection lost: ${message}`;
  }
  return undefined;
}

/** Removes every key under a prefix (SCAN, never KEYS, so a busy Redis is not blocked). */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
