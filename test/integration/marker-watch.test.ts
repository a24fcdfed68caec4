/**
 * The shared wait for BullMQ markers (src/queue/marker-watch.ts) against a real Redis, or the test cluster when
 * cluster.test.ts loads this file: each marker key has a hash tag of its own, as each queue's has on a cluster.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../../src/interfaces.js';
import { MarkerWatch, MarkerWaitInterrupted } from '../../src/queue/marker-watch.js';
import { deletePrefix, REDIS_URL, testCluster, uniquePrefix } from '../support/harness.js';

/** Longer than any test here may take: a wake that came only when a BZPOPMIN timed out would fail the test. */
const BLOCK_SEC = 600;

async function withWatch(body: (watch: MarkerWatch, redis: RedisClient, key: (queue: string) => string) => Promise<void>): Promise<void> {
  const prefix = uniquePrefix('markers');
  const seeds = testCluster();
  const redis: RedisClient = seeds
    ? new Cluster(
        seeds.split(',').map((s) => ({ host: s.split(':')[0], port: Number(s.split(':')[1]) })),
        { redisOptions: { maxRetriesPerRequest: null } },
      )
    : new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const watch = new MarkerWatch(redis, {
    doorbellKey: `${prefix}:worker-doorbell:test`,
    blockTimeoutSec: BLOCK_SEC,
    connectionName: `${prefix}:markers`,
  });
  try {
    await body(watch, redis, (queue) => `{${prefix}:${queue}}:${queue}:marker`);
  } finally {
    await watch.close();
    if (!seeds) await deletePrefix(redis, prefix);
    else await Promise.all(['a', 'b', 'c', 'd'].map((q) => redis.unlink(`{${prefix}:${q}}:${q}:marker`)));
    redis.disconnect();
  }
}

describe('marker watch: one wait for many queues', () => {
  it('wakes the waiting queue a marker is set for, with its member and score, and only that one', async () => {
    await withWatch(async (watch, redis, key) => {
      const a = watch.wait(key('a'), Infinity);
      const b = watch.wait(key('b'), Infinity);
      let bSettled = false;
      void b.then(
        () => (bSettled = true),
        () => (bSettled = true),
      );
      await redis.zadd(key('a'), 0, '0');
      assert.deepEqual(await a, { member: '0', score: 0 });
      assert.equal(bSettled, false, 'b has no marker');
      assert.equal(watch.waitingCount, 1);
      await redis.zadd(key('b'), 1_700_000_000_000, '1');
      assert.deepEqual(await b, { member: '1', score: 1_700_000_000_000 }, 'a delayed job’s marker carries its time');
      assert.deepEqual([await redis.exists(key('a')), await redis.exists(key('b'))], [0, 0], 'both markers were taken');
    });
  });

  it('a queue that starts to wait while the wait is in flight for others is watched at once (its marker set before)', async () => {
    await withWatch(async (watch, redis, key) => {
      const a = watch.wait(key('a'), Infinity);
      // c's marker is there before c waits: the wait for a alone does not name it, and blocks for BLOCK_SEC.
      await redis.zadd(key('c'), 0, '0');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(await watch.wait(key('c'), Infinity), { member: '0', score: 0 });
      watch.interrupt(key('a'));
      await assert.rejects(a, MarkerWaitInterrupted);
    });
  });

  it('a wait runs out after its time with null; an interrupted one rejects; close ends every wait', async () => {
    await withWatch(async (watch, _redis, key) => {
      assert.equal(await watch.wait(key('a'), 20), null);
      const b = watch.wait(key('b'), Infinity);
      watch.interrupt(key('b'));
      await assert.rejects(b, MarkerWaitInterrupted);
      const d = assert.rejects(watch.wait(key('d'), Infinity), MarkerWaitInterrupted);
      await watch.close();
      await d;
      await assert.rejects(watch.wait(key('d'), Infinity), MarkerWaitInterrupted, 'a closed watch takes no wait');
      assert.equal(watch.waitingCount, 0);
    });
  });
});
