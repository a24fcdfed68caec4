import { DEFAULT_TENANT, redisKeys } from '../redis-layout.js';
import type { RedisClient } from '../interfaces.js';
import { runScript } from '../scripts/index.js';
import { REFUSAL_THRESHOLD, type RefusalView } from './refusal.js';
import type { SuccessBreakerKeys } from '../results/store.js';

/** The counting sets outlive any held row (which removes itself), and then expire. */
const SET_TTL_MS = 24 * 3600_000;

export type RefusalCount = { outcome: 'held' | 'tripped' | 'counting'; rows: number };

/** The keys of a tenant's refusal breaker: its trip lives in the 403 breaker's hash, so everything that reads that hash sees it. */
export function refusalKeys(prefix: string, tenant: string) {
  const keys = redisKeys(prefix);
  const breaker = keys.breakerOf(tenant);
  return { breaker, counting: `${breaker}:refused`, own: `${breaker}:refused-own`, budget: keys.budgetOf(tenant) };
}

/**
 * A tenant's breaker for refused writes (the decisions are in refusal.ts). Counting is in Redis (Lua scripts), so every
 * worker's 400s count toward one run; a trip writes `trippedAt` and `reason` into the tenant's breaker hash and sets
 * `blocked` on its budget exactly as the 403 breaker does: `status`, the alerts, `worker --until-idle` and `resume`
 * (PermissionBreaker.reset also clears the count) treat both alike.
 */
export class RefusalBreaker {
  private readonly keys: ReturnType<typeof refusalKeys>;
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    readonly tenant: string = DEFAULT_TENANT,
    readonly threshold = REFUSAL_THRESHOLD,
  ) {
    this.keys = refusalKeys(prefix, tenant);
  }

  /** Counts `row`'s 400 of this shape; `reason` is what the run and the tenant show if this row trips the breaker. */
  async record(shape: string, row: string, reason: string, now = Date.now()): Promise<RefusalCount> {
    const { breaker, counting, own, budget } = this.keys;
    const [outcome, rows] = (await runScript(
      this.redis,
      'recordRefusal',
      [breaker, counting, own, budget],
      [shape, row, this.threshold, reason, now, SET_TTL_MS],
    )) as [RefusalCount['outcome'], number];
    return { outcome, rows: Number(rows) };
  }

  /** What a recorded success touches of this tenant's breakers (store.recordOutcome does it in the same call). */
  get successKeys(): SuccessBreakerKeys {
    return { breaker: this.keys.breaker, counting: this.keys.counting, own: this.keys.own, ownTtlMs: SET_TTL_MS };
  }

  /**
   * Graph answered a write other than with a 400 (it succeeded, or failed as the route exists: 404, 409, 422 ...): the rows
   * counted so far were refused for their own reasons.
   */
  async breakRun(): Promise<void> {
    await runScript(this.redis, 'breakRefusalRun', [this.keys.breaker, this.keys.counting, this.keys.own], [SET_TTL_MS]);
  }

  async view(row: string): Promise<RefusalView> {
    const result = await this.redis
      .multi()
      .hexists(this.keys.breaker, 'trippedAt')
      .sismember(this.keys.counting, row)
      .sismember(this.keys.own, row)
      .exec();
    const [tripped, counting, own] = (result ?? []).map(([err, value]) => {
      if (err) throw err;
      return value === 1;
    });
    return { tripped: tripped ?? false, counting: counting ?? false, own: own ?? false };
  }

  /** The row ended (failed with its own 400): it counts no more. */
  async forget(row: string): Promise<void> {
    await this.redis.multi().srem(this.keys.counting, row).srem(this.keys.own, row).exec();
  }
}
