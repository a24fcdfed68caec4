import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { RateLimit } from '../config.js';
import { redisKeys } from '../redis-layout.js';

const RESERVE = readFileSync(new URL('./scripts/reserve-send-slot.lua', import.meta.url), 'utf8');
const THROTTLE = readFileSync(new URL('./scripts/register-throttle.lua', import.meta.url), 'utf8');

/** After a cut, the rate climbs back by this share of the configured rate per second. */
const RECOVERY_PER_SECOND = 0.02;
const DECREASE_FACTOR = 0.75;
const SLOWEST_INTERVAL_US = 60_000_000;

type BudgetCommands = {
  reserveSendSlot(key: string, intervalUs: number, recovery: number, knee: number, slowdown: number): Promise<[number, number]>;
  registerThrottle(key: string, retryAfterUs: number, intervalUs: number, factor: number, slowestUs: number): Promise<number>;
};

export class BudgetBlockedError extends Error {
  override name = 'BudgetBlockedError';
}

/**
 * One write budget shared by the whole fleet through Redis: every worker, in every process,
 * takes its send slot here, and a 429 anywhere pauses and slows everyone.
 */
export class RateBudget {
  private readonly key: string;
  private readonly intervalUs: number;
  private readonly commands: BudgetCommands;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly rate: RateLimit,
  ) {
    this.key = redisKeys(prefix).budget;
    this.intervalUs = Math.max(1, Math.floor((rate.windowMs * 1000) / rate.limit));
    if (typeof (redis as unknown as Partial<BudgetCommands>).reserveSendSlot !== 'function') {
      redis.defineCommand('reserveSendSlot', { numberOfKeys: 1, lua: RESERVE });
      redis.defineCommand('registerThrottle', { numberOfKeys: 1, lua: THROTTLE });
    }
    this.commands = redis as unknown as BudgetCommands;
  }

  /**
   * Takes the next send slot: µs until it comes, and the throttle epoch it belongs to.
   * Throws BudgetBlockedError while the 403 breaker holds the fleet.
   */
  async reserve(): Promise<{ waitUs: number; epoch: number }> {
    const [waitUs, epoch] = (await this.commands.reserveSendSlot(this.key, this.intervalUs, RECOVERY_PER_SECOND, Number(process.env.KNEE ?? 0.95), Number(process.env.SLOWDOWN ?? 4))).map(Number);
    if (waitUs < 0) throw new BudgetBlockedError('the fleet is paused by the permission breaker');
    return { waitUs, epoch };
  }

  /**
   * Waits for this caller's slot. A 429 anywhere in the fleet while it waited voids the slot
   * (it was spaced for a rate the server just refused), so it queues again behind the pause.
   * `deadline` (ms epoch) bounds the wait; returns false if the slot lies beyond it.
   */
  async acquire(deadline = Infinity): Promise<boolean> {
    for (;;) {
      const { waitUs, epoch } = await this.reserve();
      const waitMs = waitUs / 1000;
      if (Date.now() + waitMs > deadline) return false;
      if (waitMs < 1) return true;
      await new Promise((r) => setTimeout(r, waitMs));
      if (Number((await this.redis.hget(this.key, 'epoch')) ?? 0) === epoch) return true;
    }
  }

  /** Records a 429; returns how many ms it added to the fleet's pause. */
  async throttled(retryAfterMs: number): Promise<number> {
    const extendedUs = Number(await this.commands.registerThrottle(this.key, Math.round(retryAfterMs * 1000), this.intervalUs, DECREASE_FACTOR, SLOWEST_INTERVAL_US));
    return extendedUs / 1000;
  }
}
