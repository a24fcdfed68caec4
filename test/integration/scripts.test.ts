/**
 * The Lua scripts as Redis runs them: one file per name, includes expanded, and each one compiles on a real Redis.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SCRIPT_NAMES, scriptSource } from '../../src/scripts/index.js';
import { REDIS_URL } from '../support/harness.js';

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
});
