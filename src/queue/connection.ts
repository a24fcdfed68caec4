import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisNode, SyncConfig } from '../config.js';
import type { RedisClient } from '../interfaces.js';
import { redactUrl } from '../redact-url.js';
import { OperatorError } from '../errors.js';
import { keyPatterns } from '../redis-layout.js';

export class RedisUnavailableError extends OperatorError {
  override name = 'RedisUnavailableError';
}

/** Never print a password that is part of REDIS_URL. */
export const redactRedisUrl = (url: string): string => redactUrl(url, '<invalid REDIS_URL>');

/** Where Redis is: a URL (one Redis, REDIS_URL) or the seed nodes of a Redis Cluster (SYNC_REDIS_CLUSTER). */
export type RedisTarget = string | readonly RedisNode[];

export function redisTargetOf(config: Pick<SyncConfig, 'redisUrl' | 'redisCluster'>): RedisTarget {
  return config.redisCluster ?? config.redisUrl;
}

/** The target as operators name it in messages (a URL without its password, or the cluster's seed nodes). */
export function describeRedisTarget(target: RedisTarget): string {
  if (typeof target === 'string') return `Redis at ${redactRedisUrl(target)}`;
  return `Redis Cluster at ${target.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',')}`;
}

/** Whether a connection is to a Redis Cluster (ioredis sets `isCluster` on its Cluster client). */
export function isCluster(redis: RedisClient): redis is Cluster {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/**
 * The servers that hold data: the one Redis, or each master of a cluster. SCAN and INFO answer for one server, so
 * anything that scans keys or reads memory asks each of these.
 */
export function dataNodes(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}

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

/**
 * The same three modes on a cluster. ioredis sends each command over the connection of the node that holds its slot,
 * with that connection's `commandTimeout` and `maxRetriesPerRequest` (redisOptions); the offline queue and
 * reconnecting are the cluster's own (`enableOfflineQueue`, `clusterRetryStrategy`), so they are set there.
 */
export function clusterOptionsFor(mode: RedisMode, options: RedisConnectOptions): ClusterOptions {
  const { retryStrategy, enableOfflineQueue, ...redisOptions } = optionsFor(mode, options);
  return {
    lazyConnect: true,
    enableOfflineQueue: enableOfflineQueue ?? true,
    clusterRetryStrategy: retryStrategy,
    // A command for a slot whose master just failed waits for the failover this long between tries, not forever.
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 300,
    redisOptions: { connectTimeout: 3000, ...redisOptions },
  };
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

export async function connectRedis(
  target: RedisTarget,
  mode: RedisMode,
  extra: RedisOptions = {},
  options: RedisConnectOptions = {},
): Promise<RedisClient> {
  let redis: RedisClient;
  if (typeof target === 'string') {
    redis = new Redis(target, { lazyConnect: true, connectTimeout: 3000, ...optionsFor(mode, options), ...extra });
  } else {
    const clusterOptions = clusterOptionsFor(mode, options);
    redis = new Cluster([...target], { ...clusterOptions, redisOptions: { ...clusterOptions.redisOptions, ...extra } });
  }
  const where = describeRedisTarget(target);
  const credentialsIn = typeof target === 'string' ? 'REDIS_URL' : 'the Redis configuration';
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => {
    // Reported through the failing command or the connect below; ioredis would otherwise print raw errors.
    lastError = err;
  });
  const fail = (err: Error | undefined): never => {
    redis.disconnect();
    const cause = lastError ?? err;
    if (isCredentialsError(cause))
      throw new RedisUnavailableError(
        `${where} refused the credentials (check the user and password in ${credentialsIn}): ${cause?.message}`,
      );
    // The ready check (INFO) timed out: the port accepts connections but Redis does not answer (SIGSTOP, overload).
    if (isCommandTimeout(cause) || isCommandTimeout(err)) {
      throw new RedisUnavailableError(
        `${where} did not answer ` +
          `within ${options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS} ms ` +
          `(SYNC_REDIS_COMMAND_TIMEOUT_MS); it may be stalled or overloaded`,
      );
    }
    throw new RedisUnavailableError(`${where} is unreachable: ${cause?.message ?? 'no answer'}`);
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

/** ioredis's messages for a connection that is gone (closed, refused, reset, or out of retries). */
const CONNECTION_LOST = new RegExp(
  [
    'Connection is closed',
    "Stream isn't writeable",
    'MaxRetriesPerRequestError',
    'Reached the max retries per request',
    'ECONNREFUSED',
    'ECONNRESET',
  ].join('|'),
);

/** The operator's message for a Redis failure during a command, or undefined when the error is something else. */
export function describeRedisFailure(err: unknown, timeoutMs: number): string | undefined {
  const message = (err as Error)?.message ?? '';
  if (isCommandTimeout(err))
    return `Redis did not answer within ${timeoutMs} ms (SYNC_REDIS_COMMAND_TIMEOUT_MS); it may be stalled or overloaded`;
  if (isCredentialsError(err)) return `Redis refused the credentials: ${message}`;
  if (CONNECTION_LOST.test(message) || (err as Error)?.name === 'MaxRetriesPerRequestError') {
    return `Redis connection lost: ${message}`;
  }
  return undefined;
}

/**
 * Every key of a deployment (keyPatterns(): on a cluster, our slot's and each queue's), read with SCAN on every data
 * node, never KEYS, so a busy Redis is not blocked. Yields batches as SCAN returns them.
 */
export async function* scanKeysWithPrefix(redis: RedisClient, prefix: string): AsyncGenerator<string[]> {
  for (const node of dataNodes(redis)) {
    for (const pattern of keyPatterns(prefix)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) yield keys;
      } while (cursor !== '0');
    }
  }
}

/** The hash tag that picks a key's cluster slot (the text in its first `{...}`, if not empty), or the whole key. */
export function slotTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** Removes every key under a prefix. A cluster refuses UNLINK of keys in different slots, so keys go per hash tag there. */
export async function deleteKeysWithPrefix(redis: RedisClient, prefix: string): Promise<void> {
  for await (const keys of scanKeysWithPrefix(redis, prefix)) {
    if (!isCluster(redis)) {
      await redis.unlink(...keys);
      continue;
    }
    const bySlot = new Map<string, string[]>();
    for (const key of keys) {
      const tag = slotTagOf(key);
      const group = bySlot.get(tag);
      if (group) group.push(key);
      else bySlot.set(tag, [key]);
    }
    await Promise.all([...bySlot.values()].map((group) => redis.unlink(...group)));
  }
}
