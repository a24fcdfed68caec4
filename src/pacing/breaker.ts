import { DEFAULT_TENANT, redisKeys } from '../redis-layout.js';
import type { RedisClient } from '../interfaces.js';

export const PERMISSION_HINT =
  'the app lacks DeviceManagementConfiguration.ReadWrite.All or ' +
  'DeviceManagementApps.ReadWrite.All (application permission, with admin consent)';

/**
 * A 403 means the app itself lacks permission, so every later row would fail the same way.
 * After a few in a row the fleet stops sending (the budget hash's `blocked` flag, read by every slot
 * reservation, and checked again by requests already holding a slot) instead of burning through the backlog.
 */
export class PermissionBreaker {
  private readonly keys: { breaker: string; budget: string };
  /** `tenant`: whose breaker (each tenant's 403s block only that tenant's budget and queue); the default tenant's is P:breaker. */
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    readonly threshold = 3,
    readonly tenant: string = DEFAULT_TENANT,
  ) {
    const keys = redisKeys(prefix);
    this.keys = { breaker: keys.breakerOf(tenant), budget: keys.budgetOf(tenant) };
  }

  /** Returns true when this 403 tripped the breaker. */
  async recordForbidden(reason: string): Promise<boolean> {
    const count = await this.redis.hincrby(this.keys.breaker, 'consecutive403', 1);
    if (count < this.threshold) return false;
    const tripped = await this.redis.hsetnx(this.keys.breaker, 'trippedAt', String(Date.now()));
    if (tripped === 1) {
      // Moving the budget's epoch on voids the send slots already handed out, so waiting requests stop too. The budget
      // hash expires when idle (see registerThrottle-2.lua); a tripped breaker's flag must stay until `resume`.
      await this.redis
        .multi()
        .hset(this.keys.breaker, 'reason', reason)
        .hset(this.keys.budget, 'blocked', '1')
        .hincrby(this.keys.budget, 'epoch', 1)
        .persist(this.keys.budget)
        .exec();
    }
    return tripped === 1;
  }

  /**
   * Ends a run of 403s; a missing count reads as 0, so this writes only when there was one. The worker does the same
   * inside recordOutcome-5.lua, in the call that records the success.
   */
  async recordSuccess(): Promise<void> {
    await this.redis.hdel(this.keys.breaker, 'consecutive403');
  }

  async state(): Promise<{ tripped: boolean; reason?: string; consecutive403: number; trippedAt?: number }> {
    const h = await this.redis.hgetall(this.keys.breaker);
    return {
      tripped: Boolean(h.trippedAt),
      reason: h.reason || undefined,
      consecutive403: Number(h.consecutive403 ?? 0),
      ...(h.trippedAt ? { trippedAt: Number(h.trippedAt) } : {}),
    };
  }

  /**
   * Releases the tenant, whichever breaker tripped: this hash also holds the refusal breaker's trip (refusal-breaker.ts),
   * whose count (`<breaker>:refused`) goes with it, so the rows it held are sent again.
   */
  async reset(): Promise<void> {
    // Without `expiresAtUs` the next slot sets the budget hash's expiry again (the trip made it persistent).
    await this.redis.multi().del(this.keys.breaker, `${this.keys.breaker}:refused`).hdel(this.keys.budget, 'blocked', 'expiresAtUs').exec();
  }
}
