/**
 * The fleet budget's Lua scripts against the real Redis, on an injected clock: time moves only when a test
 * (or the budget's own sleep) moves it, so every slot, pause and rate is checked exactly, without sleeping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { BudgetBlockedError, RateBudget, type BudgetClock } from '../../src/pacing/budget.js';
import { redisKeys } from '../../src/redis-layout.js';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/harness.js';

let redis: Redis;
const prefixes: string[] = [];

before(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
after(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  redis.disconnect();
});

const START_US = 1_800_000_000_000_000;

/** A clock that starts at START_US; `sleep` advances it, after running `beforeWake` (to make things happen meanwhile). */
class FakeClock implements BudgetClock {
  us = START_US;
  beforeWake?: () => Promise<void>;
  nowUs = () => this.us;
  nowMs = () => this.us / 1000;
  elapsedMs = () => (this.us - START_US) / 1000;
  async sleep(ms: number) {
    const hook = this.beforeWake;
    this.beforeWake = undefined;
    await hook?.();
    this.us += Math.round(ms * 1000);
  }
  advance(ms: number) {
    this.us += Math.round(ms * 1000);
  }
}

function budgetFor(limit: number, windowMs: number) {
  const prefix = uniquePrefix('budget');
  prefixes.push(prefix);
  const clock = new FakeClock();
  return { budget: new RateBudget(redis, prefix, { limit, windowMs }, { clock }), clock, key: redisKeys(prefix).budget, prefix };
}

const rateOf = async (key: string, field: 'intervalUs' | 'cutIntervalUs' = 'intervalUs') =>
  Math.round((1_000_000 / Number(await redis.hget(key, field))) * 100) / 100;

describe('RateBudget', () => {
  it('hands out evenly spaced slots, shared by every instance on the same prefix', async () => {
    const { budget, clock, prefix } = budgetFor(10, 1000);
    const otherConnection = redis.duplicate();
    const other = new RateBudget(otherConnection, prefix, { limit: 10, windowMs: 1000 }, { clock });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) waits.push((await (i % 2 ? other : budget).reserve()).waitUs / 1000);
    otherConnection.disconnect();
    assert.deepEqual(waits, [0, 100, 200, 300, 400, 500]);
  });

  it('parses the configured window: 100/20s is one slot every 200 ms', async () => {
    const { budget } = budgetFor(100, 20_000);
    await budget.reserve();
    assert.equal((await budget.reserve()).waitUs, 200_000);
  });

  it('a slot that has come is sent at once; acquire() sleeps exactly until a later one', async () => {
    const { budget, clock } = budgetFor(5, 1000);
    await budget.acquire();
    assert.equal(clock.elapsedMs(), 0);
    await budget.acquire();
    assert.equal(clock.elapsedMs(), 200);
    clock.advance(1000);
    await budget.acquire();
    assert.equal(clock.elapsedMs(), 1200, 'an idle budget does not bank slots for a burst');
  });

  it('a 429 pauses everyone for Retry-After and voids slots handed out before it', async () => {
    const { budget, clock } = budgetFor(5, 1000); // slots 200 ms apart
    const first = await budget.acquire();
    assert.ok(first);
    let pausedMs = 0;
    // While the second request waits for its slot (due at 200 ms), the first is refused with Retry-After: 1.
    clock.beforeWake = async () => {
      pausedMs = await budget.throttled(1000, first);
    };
    await budget.acquire();
    assert.equal(pausedMs, 1000);
    // Without voiding it would have gone at 200 ms, straight into the server's refusal.
    assert.equal(clock.elapsedMs(), 1000, 'the second request goes when the pause ends');
    await budget.acquire();
    // The cut rate is 5/s x 0.75 = 3.75/s; the second request's reservation, 0.2 s after the cut, had already
    // recovered 10 %/s of it: 3.825/s, so the third slot is 261.4 ms after the pause.
    assert.equal(Math.round(clock.elapsedMs()), 1261);
  });

  it('a 429 already covered by the pause adds nothing to it', async () => {
    const { budget } = budgetFor(5, 1000);
    const slot = await budget.acquire();
    assert.equal(await budget.throttled(1000, slot!), 1000);
    assert.equal(await budget.throttled(400, slot!), 0);
    assert.equal(await budget.throttled(1500, slot!), 500);
  });

  it('cuts the rate once per epoch: 429s for requests sent before the last cut do not compound', async () => {
    const { budget, key } = budgetFor(100, 1000);
    const slots = [await budget.acquire(), await budget.acquire(), await budget.acquire()];
    for (const slot of slots) await budget.throttled(1, slot!);
    // No time passes, so no recovery blurs the figures.
    const next = await budget.acquire();
    assert.equal(await rateOf(key, 'cutIntervalUs'), 75, 'one cut: 100/s -> 75/s');
    await budget.throttled(1, next!);
    await budget.acquire();
    assert.equal(await rateOf(key, 'cutIntervalUs'), 56.25, 'a 429 in the new epoch cuts again');
  });

  it('recovers quickly up to just below the refused rate, slowly above it, and never beyond the configured rate', async () => {
    const { budget, clock, key } = budgetFor(100, 1000);
    const slot = await budget.acquire();
    await budget.throttled(1, slot!); // refused at 100/s: cut to 75/s, ceiling 100/s
    const rateAfter = async (secondsSinceCut: number) => {
      clock.us = START_US + secondsSinceCut * 1_000_000;
      await budget.reserve();
      return rateOf(key);
    };
    // 10 % of the cut rate per second: 75 -> 82.5 after 1 s.
    assert.equal(await rateAfter(1), 82.5);
    // The knee is 90 % of the refused rate (90/s), reached after 2 s; above it the climb is 8x slower.
    assert.equal(await rateAfter(2), 90);
    assert.equal(await rateAfter(4), 91.88); // 90 + 15/8, to two decimals
    assert.equal(await rateAfter(3600), 100);
  });

  it('the permission breaker stops every reservation until it is reset', async () => {
    const { budget, key } = budgetFor(10, 1000);
    await redis.hset(key, 'blocked', '1');
    await assert.rejects(budget.reserve(), BudgetBlockedError);
    await assert.rejects(budget.acquire(), BudgetBlockedError);
    await redis.hdel(key, 'blocked');
    assert.ok(await budget.acquire());
  });

  it('gives up on a slot beyond the deadline, without waiting for it', async () => {
    const { budget, clock } = budgetFor(1, 10_000);
    assert.ok(await budget.acquire(clock.nowMs() + 1000));
    assert.equal(await budget.acquire(clock.nowMs() + 1000), undefined);
    assert.equal(clock.elapsedMs(), 0);
  });

  it('without an injected clock, uses Redis TIME and real sleeps', async () => {
    const prefix = uniquePrefix('budget-real');
    prefixes.push(prefix);
    const budget = new RateBudget(redis, prefix, { limit: 10, windowMs: 1000 });
    const first = await budget.reserve();
    const second = await budget.reserve();
    assert.equal(first.waitUs, 0);
    // 100 ms apart on Redis's clock, less whatever passed between the two calls.
    assert.ok(second.waitUs > 50_000 && second.waitUs <= 100_000, `second slot in ${second.waitUs} µs`);
  });
});
