/**
 * The Lua scripts as Redis runs them: one file per name, includes expanded, and each one compiles on a real Redis.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { keyDigest, redisKeys } from '../../src/redis-layout.js';
import { SCRIPT_NAMES, runScript, scriptSource } from '../../src/scripts/index.js';
import { ResultStore } from '../../src/results/store.js';
import { timelineBucket } from '../../src/results/timeline.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../support/harness.js';

let redis: Redis;
before(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
after(() => redis.disconnect());

describe('Lua scripts', () => {
  it('every script file is a named script, and every named script has its file', () => {
    const files = readdirSync(new URL('../../src/scripts/', import.meta.url)).filter((f) => f.endsWith('.lua'));
    assert.deepEqual(files.map((f) => f.replace(/-\d+\.lua$/, '')).sort(), [...SCRIPT_NAMES].sort());
  });

  it('expands every include and compiles on Redis (SCRIPT LOAD)', async () => {
    for (const name of SCRIPT_NAMES) {
      const { lua, numberOfKeys } = scriptSource(name);
      assert.ok(!lua.includes('@include'), `${name} still has an @include`);
      assert.ok(numberOfKeys >= 1, name);
      const sha = (await redis.script('LOAD', lua)) as string;
      assert.match(sha, /^[0-9a-f]{40}$/, name);
    }
  });

  it('the shared run-ending block is written once and used by every script that can end a run', () => {
    for (const name of ['admitRows', 'claimRow', 'recordOutcome', 'finishImport', 'cancelRun'] as const) {
      const { lua } = scriptSource(name);
      assert.equal(lua.split('local function finishRunIfDone').length - 1, 1, name);
    }
  });

  it('the key digest of the scripts is keyDigest() of src/redis-layout.ts', async () => {
    const include = readFileSync(new URL('../../src/scripts/includes/keyDigest.lua', import.meta.url), 'utf8');
    const keys = [
      'mobileAppConfiguration/cfg-1/user-1',
      '0f4b1c6e-2a3d-4e5f-8a9b-0c1d2e3f4a5b/iosLobAppProvisioningConfiguration/c/u',
      'a/ü/✓',
    ];
    for (const key of keys) {
      const digest = keyDigest(key);
      assert.match(digest, /^[0-9a-f]{32}$/);
      assert.equal(await redis.eval(`${include}\nreturn keyDigest(ARGV[1])`, 0, key), digest, key);
    }
  });

  it('forgetFingerprints deletes an entry under its digest or its full key, and moves a full-key entry it keeps', async () => {
    const prefix = uniquePrefix('forget-fields');
    const fingerprints = redisKeys(prefix).fingerprints;
    try {
      await redis.hset(fingerprints, 'a/b/old', 'fp|1', 'a/b/kept', 'fp|2', keyDigest('a/b/new'), 'fp|3');
      const forgotten = await runScript(
        redis,
        'forgetFingerprints',
        [fingerprints],
        ['a/b/old', 'fp|1', 'a/b/kept', 'other|2', 'a/b/new', 'fp|'],
      );
      assert.equal(forgotten, 2);
      assert.deepEqual(await redis.hgetall(fingerprints), { [keyDigest('a/b/kept')]: 'fp|2' });
    } finally {
      await deletePrefix(redis, prefix);
    }
  });

  it('requeueRow (retry) decides on a full-key P:latest entry as on a digest one, and moves it', async () => {
    const prefix = uniquePrefix('requeue-fields');
    const keys = redisKeys(prefix);
    const failed = (key: string, version: string) =>
      JSON.stringify({ state: 'failed', key, version, generation: 0, attempts: 1, httpStatus: 503, reason: 'x' });
    try {
      // Line 2's key has an older update in the earlier release's layout, line 3's a newer one.
      await redis.hset(keys.run('r1'), 'failed', 2);
      await redis.hset(keys.rows('r1'), '2', failed('t/c/older', '0005:1'), '3', failed('t/c/newer', '0005:2'));
      await redis.hset(keys.latest, 't/c/older', '0004:9|r0|7', 't/c/newer', '0006:9|r0|8');
      const store = new ResultStore(redis, prefix);
      assert.deepEqual(await store.requeueRow('r1', 2, 'failed'), { kind: 'requeued', generation: 1 });
      assert.deepEqual(await store.requeueRow('r1', 3, 'failed'), { kind: 'superseded' });
      assert.deepEqual(await redis.hgetall(keys.latest), {
        [keyDigest('t/c/older')]: '0005:1|r1|2',
        [keyDigest('t/c/newer')]: '0006:9|r0|8',
      });
      assert.deepEqual((JSON.parse((await redis.hget(keys.rows('r1'), '3'))!) as { supersededBy: unknown }).supersededBy, {
        runId: 'r0',
        line: 8,
      });
    } finally {
      await deletePrefix(redis, prefix);
    }
  });

  it("recordOutcomes records each row of a batch as alone, moves its runs' counters once, ends the run it finished", async () => {
    const prefix = uniquePrefix('record-batch');
    const keys = redisKeys(prefix);
    const breakers = { breaker: keys.breaker, counting: `${keys.breaker}:refused`, own: `${keys.breaker}:refused-own`, ownTtlMs: 60_000 };
    const finishedAt = Date.UTC(2026, 10, 20, 10, 0, 5);
    const row = (line: number, key: string, state: 'succeeded' | 'failed', version: string) => ({
      line,
      key,
      state,
      fingerprint: `fp-${line}`,
      version,
      generation: 0,
      attempts: 1,
      finishedAt,
    });
    try {
      // r1: two rows queued, its input read; r2: two rows queued, one of them not in this batch.
      await redis.hset(keys.run('r1'), 'importFinished', '1', 'queued', 2);
      await redis.hset(keys.run('r2'), 'importFinished', '1', 'queued', 2);
      await redis.hset(keys.stats, 'runs:open', 2, 'rows:queued', 4);
      await redis.hset(keys.rows('r1'), '2', 'q|0', '3', 'q|0');
      await redis.hset(keys.rows('r2'), '2', 'q|0', '3', 'q|0');
      await redis.hset(keys.latest, keyDigest('t/c/a'), 'v1|r1|2', keyDigest('t/c/b'), 'v2|r1|3', keyDigest('t/c/c'), 'newer|r9|1');
      await redis.set(keys.lock('t/c/a'), 'job-a');
      await redis.set(keys.lock('t/c/c'), 'someone-else');
      await redis.hset(keys.breaker, 'consecutive403', 2);

      const store = new ResultStore(redis, prefix);
      const answers = await store.recordOutcomes(
        [
          { runId: 'r1', row: row(2, 't/c/a', 'succeeded', 'v1'), owner: 'job-a' },
          { runId: 'r2', row: row(2, 't/c/c', 'succeeded', 'v0'), owner: 'job-c' },
          { runId: 'r1', row: row(3, 't/c/b', 'failed', 'v2'), owner: 'job-b' },
          // The same row again (a duplicate delivery), and a row its run never had.
          { runId: 'r2', row: row(2, 't/c/c', 'succeeded', 'v0'), owner: 'job-c' },
          { runId: 'r2', row: row(9, 't/c/d', 'succeeded', 'v0'), owner: 'job-d' },
        ],
        breakers,
      );
      assert.deepEqual(answers, ['recorded', 'recorded', 'completed', 'already|succeeded', 'already|missing']);

      const r1 = await redis.hgetall(keys.run('r1'));
      assert.deepEqual([r1.queued, r1.succeeded, r1.failed, Boolean(r1.finishedAt)], ['0', '1', '1', true]);
      const r2 = await redis.hgetall(keys.run('r2'));
      assert.deepEqual([r2.queued, r2.succeeded, r2.finishedAt], ['1', '1', undefined]);
      const stats = await redis.hgetall(keys.stats);
      assert.deepEqual(
        [stats['rows:queued'], stats['rows:succeeded'], stats['rows:failed'], stats['runs:open'], stats['runs:completed_with_errors']],
        ['1', '2', '1', '1', '1'],
      );
      const bucket = timelineBucket(finishedAt);
      assert.deepEqual(await redis.hgetall(keys.timeline('r1')), { [`${bucket}:succeeded`]: '1', [`${bucket}:failed`]: '1' });
      // Only the newest update of a key defines what Graph holds; a lock is released only by its holder.
      assert.deepEqual(await redis.hgetall(keys.fingerprints), { [keyDigest('t/c/a')]: 'fp-2|v1' });
      assert.deepEqual([await redis.exists(keys.lock('t/c/a')), await redis.get(keys.lock('t/c/c'))], [0, 'someone-else']);
      assert.equal(await redis.hget(keys.breaker, 'consecutive403'), null, 'a success ends the run of 403s');
      assert.equal(JSON.parse((await redis.hget(keys.rows('r1'), '3'))!).state, 'failed');
    } finally {
      await deletePrefix(redis, prefix);
    }
  });
});
