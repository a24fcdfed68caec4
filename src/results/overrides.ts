import type { OverrideMemory } from '../domain/override.js';
import type { RedisClient } from '../interfaces.js';
import { keyDigest, redisKeys } from '../redis-layout.js';

/**
 * What `verify` remembers per key about properties Graph sets back itself (P:overrides, see src/redis-layout.ts and
 * judgeOverrides in src/domain/override.ts); read by verify and by import --reconcile.
 */
export class OverrideStore {
  private readonly key: string;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = redisKeys(prefix).overrides;
  }

  /** Whether anything is remembered at all: most deployments never see an overridden property. */
  async any(): Promise<boolean> {
    return (await this.redis.exists(this.key)) === 1;
  }

  /** The memory of each key, in order (undefined when there is none), one round trip. */
  async readMany(keys: readonly string[]): Promise<(OverrideMemory | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.redis.hmget(this.key, ...keys.map(keyDigest));
    return values.map((json) => (json ? (JSON.parse(json) as OverrideMemory) : undefined));
  }

  /** Stores each key's new memory; undefined forgets the key. */
  async write(updates: readonly [key: string, memory: OverrideMemory | undefined][]): Promise<void> {
    const set = updates.filter(([, m]) => m !== undefined).flatMap(([key, m]) => [keyDigest(key), JSON.stringify(m)]);
    const forget = updates.filter(([, m]) => m === undefined).map(([key]) => keyDigest(key));
    await Promise.all([
      set.length > 0 ? this.redis.hset(this.key, ...set) : undefined,
      forget.length > 0 ? this.redis.hdel(this.key, ...forget) : undefined,
    ]);
  }
}
