import { graphIdKey } from '../domain/judging.js';
import type { RedisClient } from '../interfaces.js';
import { redisKeys } from '../redis-layout.js';

/** The field of a configuration's memory that says Graph has no such configuration at all. "/" cannot start an id. */
const CONFIGURATION = '/configuration';

/** What is remembered of one configuration for the rows looked up. */
export interface RememberedMissing {
  /** Why the whole configuration is missing, if it is. */
  configuration?: string;
  /** Per id looked up: why Graph does not hold that user status, or undefined. */
  statuses: (string | undefined)[];
}

/**
 * What Graph does not hold, per tenant and configuration (P:missing:..., see src/redis-layout.ts): user statuses a
 * complete listing lacked or a PATCH found missing (404), and configurations Graph answered 404 for. PATCH cannot
 * create them, so a plain import fails such rows without sending them; a listing that holds them forgets them.
 */
export class MissingStatuses {
  private readonly keyOf: (tenant: string, configKey: string) => string;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keyOf = redisKeys(prefix).missingOf;
  }

  async rememberStatuses(tenant: string, configKey: string, entries: [userStatusId: string, reason: string][]): Promise<void> {
    if (entries.length === 0) return;
    await this.redis.hset(this.keyOf(tenant, configKey), ...entries.flatMap(([id, reason]) => [graphIdKey(id), reason]));
  }

  async rememberConfiguration(tenant: string, configKey: string, reason: string): Promise<void> {
    await this.redis.hset(this.keyOf(tenant, configKey), CONFIGURATION, reason);
  }

  /** Everything remembered of one configuration: the ids (as graphIdKey keeps them) and whether the configuration itself is. */
  async of(tenant: string, configKey: string): Promise<{ configuration?: string; userStatusIds: string[] }> {
    const all = await this.redis.hgetall(this.keyOf(tenant, configKey));
    const { [CONFIGURATION]: configuration, ...statuses } = all;
    return { ...(configuration !== undefined ? { configuration } : {}), userStatusIds: Object.keys(statuses) };
  }

  /** Forgets what a complete listing of the configuration proved Graph holds: the configuration, and the listed ids. */
  async forgetListed(tenant: string, configKey: string, listedIds: string[]): Promise<void> {
    await this.redis.hdel(this.keyOf(tenant, configKey), CONFIGURATION, ...listedIds.map(graphIdKey));
  }

  /** Which of these configurations have anything remembered (one round trip). */
  async exist(lookups: { tenant: string; configKey: string }[]): Promise<boolean[]> {
    if (lookups.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const l of lookups) pipeline.exists(this.keyOf(l.tenant, l.configKey));
    return ((await pipeline.exec()) ?? []).map(([err, n]) => {
      if (err) throw err;
      return n === 1;
    });
  }

  /** Per configuration, what is remembered of the given ids (one round trip). */
  async lookup(lookups: { tenant: string; configKey: string; userStatusIds: string[] }[]): Promise<RememberedMissing[]> {
    if (lookups.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const l of lookups) pipeline.hmget(this.keyOf(l.tenant, l.configKey), CONFIGURATION, ...l.userStatusIds.map(graphIdKey));
    return ((await pipeline.exec()) ?? []).map(([err, found]) => {
      if (err) throw err;
      const [configuration, ...statuses] = found as (string | null)[];
      return { ...(configuration !== null ? { configuration } : {}), statuses: statuses.map((s) => s ?? undefined) };
    });
  }
}
