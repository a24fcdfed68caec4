import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { redactUrlPassword } from '../redact-url.js';
import { OperatorError } from '../errors.js';

// ioredis is CommonJS: required, not imported, because Node 20's ESM loader takes ~70 ms more CPU to load it, at every CLI start.
const ioredis = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

export class RedisUnavailableError extends OperatorError {
  override name = 'RedisUnavailableError';
}

/** Never print a password that is part of REDIS_URL. */
export const redactRedisUrl = (url: string): string => redactUrlPassword(url, '<invalid REDIS_URL>');

/**
 * Long-lived connections (workers, server) retry forever so a Redis restart is survived;
 * short-lived CLI commands fail within seconds with a clear message instead of hanging.
 */
export async function connectRedis(url: string, mode: 'command' | 'service', extra: RedisOptions = {}): Promise<Redis> {
  const redis = new ioredis.Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: mode === 'service' ? null : 2,
    enableOfflineQueue: true,
    retryStrategy: mode === 'service' ? (times) => Math.min(times * 200, 2000) : (times) => (times > 2 ? null : 300),
    ...extra,
  });
  redis.on('error', () => {
    // Reported through the failing command or the connect() below; ioredis would otherwise print raw errors.
  });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new RedisUnavailableError(`Redis at ${redactRedisUrl(url)} is unreachable: ${(err as Error).message}`);
  }
  return redis;
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
