import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/redis-layout.js';
import { REDIS_URL, deletePrefix, notOnCluster, runCli, uniquePrefix } from '../support/harness.js';

/** Every key under a prefix with its type, so "left intact" compares what is there, not only how much. */
async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}

describe('demo', notOnCluster("the demo's prefix is chosen before any Redis is reached"), () => {
  it("runs under <SYNC_PREFIX>-demo: two demos of different SYNC_PREFIXes on one Redis both pass and keep each other's keys", async () => {
    const redis = new Redis(REDIS_URL);
    const [a, b] = [uniquePrefix('demo-a'), uniquePrefix('demo-b')];
    try {
      const env = (syncPrefix: string) => ({ REDIS_URL, SYNC_PREFIX: syncPrefix });
      const demo = (syncPrefix: string) => runCli(['demo'], env(syncPrefix), undefined, 120_000);
      const [first, second] = await Promise.all([demo(a), demo(b)]);
      for (const result of [first, second]) {
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /demo OK/);
      }
      assert.deepEqual(await keysUnder(redis, a), [], 'nothing under SYNC_PREFIX itself');
      const keysOfB = await keysUnder(redis, `${b}-demo`);
      assert.equal(await redis.zcard(redisKeys(`${a}-demo`).runs), 2, 'demo a left its two runs');
      assert.equal(await redis.zcard(redisKeys(`${b}-demo`).runs), 2, 'demo b left its two runs');

      // A's demo again clears its own prefix (its two earlier runs are gone) and leaves b's as they were.
      const again = await runCli(['demo'], env(a), undefined, 120_000);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.match(again.stdout, /demo OK/);
      assert.equal(await redis.zcard(redisKeys(`${a}-demo`).runs), 2);
      assert.deepEqual(await keysUnder(redis, `${b}-demo`), keysOfB);
      assert.equal(await redis.zcard(redisKeys(`${b}-demo`).runs), 2);
    } finally {
      for (const prefix of [a, b, `${a}-demo`, `${b}-demo`]) await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });

  it("stops with exit 1 and keeps every key when <SYNC_PREFIX>-demo holds a deployment's runs, not a demo's", async () => {
    const redis = new Redis(REDIS_URL);
    const base = uniquePrefix('demo-foreign');
    const keys = redisKeys(`${base}-demo`);
    try {
      // Someone's real deployment runs with SYNC_PREFIX=<base>-demo: one run of its own.
      await redis.zadd(keys.runs, Date.now(), '20261207T101010Z-abcdef');
      await redis.hset(keys.run('20261207T101010Z-abcdef'), 'createdAt', Date.now());
      const before = await keysUnder(redis, `${base}-demo`);
      const result = await runCli(['demo'], { REDIS_URL, SYNC_PREFIX: base }, undefined, 60_000);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, new RegExp(`keys under the demo's prefix "${base}-demo" are not a demo's`));
      assert.doesNotMatch(result.stdout, /demo OK/);
      assert.deepEqual(await keysUnder(redis, `${base}-demo`), before);
    } finally {
      await deletePrefix(redis, `${base}-demo`);
      redis.disconnect();
    }
  });

  it('refuses a hostile or too long SYNC_PREFIX with exit 2, before touching Redis', async () => {
    for (const syncPrefix of ['*', 'a*b', 'x'.repeat(60)]) {
      const result = await runCli(['demo'], { REDIS_URL, SYNC_PREFIX: syncPrefix });
      assert.equal(result.code, 2, `${syncPrefix}: ${result.stderr}`);
      assert.match(result.stderr, /SYNC_PREFIX/);
    }
  });
});
