/**
 * The fleet budget's Lua scripts against the real Redis (its clock is the one the scripts use).
 * Elapsed time after a cut is simulated by moving the cut's timestamp back, not by sleeping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { BudgetBlockedError, RateBudget } from '../../src/pacing/budget.js';
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

function budgetFor(limit: number, windowMs: number, prefix = uniquePrefix('budget')) {
  prefixes.push(prefix);
  return { budget: new RateBudget(redis, prefix, { limit, windowMs }), key: redisKeys(prefix).budget, prefix };
}

const redisNowUs = async () => {
  const [s, us] = await redis.time();
  return Number(s) * 1_000_000 + Number(us);
};
const rateOf = async (key: string) => 1_000_000 / Number(await redis.hget(key, 'intervalUs'));

describe('RateBudget', () => {
  it('hands out evenly spaced slots, shared by every instance on the same prefix', async () => {
    const { budget, prefix } = budgetFor(10, 1000);
    const otherConnection = redis.duplicate();
    const other = new RateBudget(otherConnection, prefix, { limit: 10, windowMs: 1000 });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) waits.push((await (i % 2 ? other : budget).reserve()).waitUs / 1000);
    otherConnection.disconnect();
    // Slots 100 ms apart; reserving takes a little time, so each wait is up to a few ms shorter.
    waits.forEach((w, i) => assert.ok(w <= i * 100 && w > i * 100 - 30, `slot ${i} waits ${w} ms`));
  });

  it('parses the configured window: 100/20s is one slot every 200 ms', async () => {
    const { budget } = budgetFor(100, 20_000);
    await budget.reserve();
    const second = (await budget.reserve()).waitUs / 1000;
    assert.ok(second > 170 && second <= 200, `second slot after ${second} ms`);
  });

  it('a 429 pauses everyone for Retry-After and voids slots handed out before it', async () => {
    const { budget } = budgetFor(5, 1000); // slots 200 ms apart
    const started = Date.now();
    const first = await budget.acquire();
    assert.ok(first);
    const waiting = [budget.acquire(), budget.acquire()].map((p) => p.then(() => Date.now() - started));
    await new Promise((r) => setTimeout(r, 50));
    const pausedMs = await budget.throttled(1000, first);
    assert.ok(pausedMs > 900 && pausedMs <= 1000, `paused ${pausedMs} ms`);
    const [a, b] = await Promise.all(waiting);
    // Without voiding they would have gone at 200 and 400 ms, straight into the server's refusal.
    assert.ok(a >= 1040, `second request sent after ${a} ms`);
    assert.ok(b >= a + 150, `third request ${b - a} ms after the second: spaced at the (cut) rate`);
  });

  it('cuts the rate once per epoch: 429s for requests sent before the last cut do not compound', async () => {
    const { budget, key } = budgetFor(100, 1000);
    const slots = [await budget.acquire(), await budget.acquire(), await budget.acquire()];
    for (const slot of slots) await budget.throttled(1, slot!);
    await new Promise((r) => setTimeout(r, 5));
    const next = await budget.acquire();
    assert.ok(Math.abs((await rateOf(key)) - 75) < 1, `one cut: 100/s -> 75/s, got ${await rateOf(key)}`);
    await budget.throttled(1, next!);
    await new Promise((r) => setTimeout(r, 5));
    await budget.acquire();
    assert.ok(Math.abs((await rateOf(key)) - 56.25) < 1, `a 429 in the new epoch cuts again, got ${await rateOf(key)}`);
  });

  it('recovers quickly up to just below the refused rate, slowly above it, and never beyond the configured rate', async () => {
    const { budget, key } = budgetFor(100, 1000);
    const slot = await budget.acquire();
    await budget.throttled(1, slot!); // refused at 100/s: cut to 75/s, ceiling 100/s
    await new Promise((r) => setTimeout(r, 5));
    const ageCut = async (seconds: number) => {
      await redis.hset(key, 'lastCutUs', (await redisNowUs()) - seconds * 1_000_000, 'pauseUntil', 0, 'tat', 0);
      await budget.reserve();
      return rateOf(key);
    };
    // 10 % of the cut rate per second: 75 -> 82.5 after 1 s.
    assert.ok(Math.abs((await ageCut(1)) - 82.5) < 0.5);
    // The knee is 90 % of the refused rate (90/s), reached after 2 s; above it the climb is 8x slower.
    assert.ok(Math.abs((await ageCut(2)) - 90) < 0.5);
    assert.ok(Math.abs((await ageCut(4)) - (90 + 15 / 8)) < 0.5);
    assert.equal(await ageCut(3600), 100);
  });

  it('the permission breaker stops every reservation until it is reset', async () => {
    const { budget, key } = budgetFor(10, 1000);
    await redis.hset(key, 'blocked', '1');
    await assert.rejects(budget.reserve(), BudgetBlockedError);
    await assert.rejects(budget.acquire(), BudgetBlockedError);
    await redis.hdel(key, 'blocked');
    assert.ok(await budget.acquire());
  });

  it('gives up on a slot beyond the deadline', async () => {
    const { budget } = budgetFor(1, 10_000);
    assert.ok(await budget.acquire(Date.now() + 1000));
    assert.equal(await budget.acquire(Date.now() + 1000), undefined);
  });
});
