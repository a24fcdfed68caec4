import type { RateLimit } from '../config.js';
import { MAX_TIMER_MS } from '../graph/errors.js';
import { redisKeys } from '../redis-layout.js';
import { runScript } from '../scripts/index.js';
import type { RedisClient } from '../interfaces.js';

/**
 * The adaptive rate (AIMD). Tuned with test/integration/fleet-pacing.test.ts against the simulator's buckets:
 * a 429 cuts the rate to DECREASE_FACTOR of what was refused; it then climbs back by RECOVERY_PER_SECOND of
 * the cut rate per second up to PROBE_KNEE of the refused rate, and PROBE_SLOWDOWN times slower above it.
 * Relative to the cut rate rather than the configured one, so a budget configured far above what the server
 * allows does not make the recovery, and the 429s it provokes, any steeper.
 */
const DECREASE_FACTOR = 0.75;
const RECOVERY_PER_SECOND = 0.1;
const PROBE_KNEE = 0.9;
const PROBE_SLOWDOWN = 8;
const SLOWEST_INTERVAL_US = 60_000_000;

export class BudgetBlockedError extends Error {
  override name = 'BudgetBlockedError';
}

/** A send slot, valid for the throttle epoch it was handed out in. */
export interface SendSlot {
  epoch: number;
  /** Whether the caller slept for it: a caller that checked something just before need not check it again if not. */
  waited: boolean;
}

/**
 * Time as the budget sees it. In production the scripts read Redis's TIME, the one clock every machine of the
 * fleet shares, and waiting is a real sleep; tests inject a clock that moves only when they say so.
 */
export interface BudgetClock {
  /** µs for the scripts, or undefined to use Redis's TIME. */
  nowUs(): number | undefined;
  /** ms epoch, for deadlines. */
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}

export const REDIS_CLOCK: BudgetClock = {
  nowUs: () => undefined,
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * One write budget shared by the whole fleet through Redis: every worker, in every process,
 * takes its send slot here, and a 429 anywhere pauses and slows everyone.
 */
export class RateBudget {
  private readonly key: string;
  private readonly intervalUs: number;

  private readonly clock: BudgetClock;

  /** `key` picks which budget: the write budget by default, `redisKeys(prefix).readBudget` for reads (see readBudget()). */
  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    readonly rate: RateLimit,
    options: { key?: string; clock?: BudgetClock } = {},
  ) {
    this.key = options.key ?? redisKeys(prefix).budget;
    this.clock = options.clock ?? REDIS_CLOCK;
    this.intervalUs = Math.max(1, Math.floor((rate.windowMs * 1000) / rate.limit));
  }

  /**
   * Takes the next send slot: µs until it comes, and the throttle epoch it belongs to.
   * Throws BudgetBlockedError while the 403 breaker holds the fleet.
   */
  async reserve(): Promise<{ waitUs: number; epoch: number }> {
    const [waitUs, epoch] = (
      (await runScript(
        this.redis,
        'reserveSendSlot',
        [this.key],
        [this.intervalUs, RECOVERY_PER_SECOND, PROBE_KNEE, PROBE_SLOWDOWN, this.clock.nowUs() ?? ''],
      )) as [number, number]
    ).map(Number);
    if (waitUs < 0) throw new BudgetBlockedError('the fleet is paused by the permission breaker');
    return { waitUs, epoch };
  }

  /**
   * Waits for this caller's slot. A 429 anywhere in the fleet while it waited voids the slot
   * (it was spaced for a rate the server just refused), so it queues again behind the pause.
   * `deadline` (ms epoch, or asked anew each round for the slot's time: a pause may move it) bounds the wait;
   * returns undefined if the slot lies beyond it.
   */
  async acquire(deadline: number | ((slotAtMs: number) => Promise<number>) = Infinity): Promise<SendSlot | undefined> {
    for (;;) {
      const { waitUs, epoch } = await this.reserve();
      const waitMs = waitUs / 1000;
      const slotAtMs = this.clock.nowMs() + waitMs;
      const limit = typeof deadline === 'function' ? await deadline(slotAtMs) : deadline;
      if (slotAtMs > limit) return undefined;
      if (waitMs < 1) return { epoch, waited: false };
      await this.clock.sleep(waitMs);
      if (Number((await this.redis.hget(this.key, 'epoch')) ?? 0) === epoch) return { epoch, waited: true };
    }
  }

  /**
   * How long the fleet has been (or is yet to be, for a pause in force) paused by Retry-After since `sinceMs`: the
   * time a row queued then has spent held by pauses, which does not count against its age (SYNC_MAX_ROW_AGE_MS).
   */
  async pausedSince(sinceMs: number): Promise<number> {
    const sinceUs = sinceMs * 1000;
    const stretches = await this.redis.zrangebyscore(`${this.key}:pauses`, sinceUs, '+inf');
    return pausedWithin(stretches, sinceUs) / 1000;
  }

  /** Records a 429 for a request sent in `slot`; returns how many ms it added to the fleet's pause. */
  async throttled(retryAfterMs: number, slot: Pick<SendSlot, 'epoch'>): Promise<number> {
    const extendedUs = Number(
      // Capped again here (SYNC_MAX_RETRY_AFTER caps it first): a pause no timer can wait is never stored.
      await runScript(
        this.redis,
        'registerThrottle',
        [this.key, `${this.key}:pauses`],
        [
          Math.round(Math.min(retryAfterMs, MAX_TIMER_MS) * 1000),
          this.intervalUs,
          DECREASE_FACTOR,
          SLOWEST_INTERVAL_US,
          slot.epoch,
          this.clock.nowUs() ?? '',
        ],
      ),
    );
    return extendedUs / 1000;
  }
}

/** µs of the ledger's stretches ("<startUs>:<endUs>", disjoint) that lie after `sinceUs`. Pure. */
export function pausedWithin(stretches: readonly string[], sinceUs: number): number {
  let total = 0;
  for (const s of stretches) {
    const [start, end] = s.split(':').map(Number);
    if (Number.isFinite(start) && Number.isFinite(end) && end > sinceUs) total += end - Math.max(start, sinceUs);
  }
  return total;
}

/**
 * A tenant's read budget (its readRateLimit, SYNC_READ_RATE_LIMIT for the default tenant): the same pacing, its own key,
 * so reads and writes never wait for each other.
 */
export function readBudget(redis: RedisClient, prefix: string, rate: RateLimit, tenant: string): RateBudget {
  return new RateBudget(redis, prefix, rate, { key: redisKeys(prefix).readBudgetOf(tenant) });
}

/** A tenant's write budget (its rateLimit): the default tenant's is P:budget, every other tenant has its own. */
export function writeBudget(redis: RedisClient, prefix: string, rate: RateLimit, tenant: string, clock?: BudgetClock): RateBudget {
  return new RateBudget(redis, prefix, rate, { key: redisKeys(prefix).budgetOf(tenant), ...(clock ? { clock } : {}) });
}
