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
    const keys = ['mobileAppConfiguration/cfg-1/user-1', '0f4b1c6e-2a3d-4e5f-8a9b-0c1d2e3f4a5b/iosLobAppProvisioningConfiguration/c/u', 'a/ü/✓'];
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
      const forgotten = await runScript(redis, 'forgetFingerprints', [fingerprints], ['a/b/old', 'fp|1', 'a/b/kept', 'other|2', 'a/b/new', 'fp|']);
      assert.equal(forgotten, 2);
      assert.deepEqual(await redis.hgetall(fingerprints), { [keyDigest('a/b/kept')]: 'fp|2' });
    } finally {
      await deletePrefix(redis, prefix);
    }
  });

  it('requeueRow (retry) decides on a full-key P:latest entry as on a digest one, and moves it', async () => {
    const prefix = uniquePrefix('requeue-fields');
    const keys = redisKeys(prefix);
    const failed = (key: string, version: string) => JSON.stringify({ state: 'failed', key, version, generation: 0, attempts: 1, httpStatus: 503, reason: 'x' });
    try {
      // Line 2's key has an older update in the earlier release's layout, line 3's a newer one.
      await redis.hset(keys.run('r1'), 'failed', 2);
      await redis.hset(keys.rows('r1'), '2', failed('t/c/older', '0005:1'), '3', failed('t/c/newer', '0005:2'));
      await redis.hset(keys.latest, 't/c/older', '0004:9|r0|7', 't/c/newer', '0006:9|r0|8');
      const store = new ResultStore(redis, prefix);
      assert.deepEqual(await store.requeueRow('r1', 2, 'failed'), { kind: 'requeued', generation: 1 });
      assert.deepEqual(await store.requeueRow('r1', 3, 'failed'), { kind: 'superseded' });
      assert.deepEqual(await redis.hgetall(keys.latest), { [keyDigest('t/c/older')]: '0005:1|r1|2', [keyDigest('t/c/newer')]: '0006:9|r0|8' });
      assert.deepEqual((JSON.parse((await redis.hget(keys.rows('r1'), '3'))!) as { supersededBy: unknown }).supersededBy, { runId: 'r0', line: 8 });
    } finally {
      await deletePrefix(redis, prefix);
    }
  });
});
