import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseClusterNodes } from '../../src/config.js';
import { clusterOptionsFor, slotTagOf } from '../../src/queue/connection.js';
import { fullestNode } from '../../src/queue/memory.js';
import {
  clusterFactsFromInfo,
  judgeCluster,
  judgeRedisCluster,
  parseInfo,
  worstPerCheck,
  type RedisFacts,
} from '../../src/queue/redis-health.js';
import {
  DEFAULT_TENANT,
  basePrefix,
  patchQueueName,
  isClusterPrefix,
  keyPatterns,
  keyPrefix,
  queuePrefix,
  redisKeys,
} from '../../src/redis-layout.js';

describe('SYNC_REDIS_CLUSTER', () => {
  it('parses comma-separated host:port seed nodes, IPv6 in brackets, skipping empty entries', () => {
    assert.deepEqual(parseClusterNodes(' redis-1:6379, 10.0.0.2:7000,[::1]:7001,'), [
      { host: 'redis-1', port: 6379 },
      { host: '10.0.0.2', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
  });

  it('names the bad entry, and says the list is empty when it is', () => {
    for (const bad of ['redis-1', 'redis-1:', 'redis-1:0', 'redis-1:65536', 'redis://a:1', 'a b:1', '::1:7000', ':6379']) {
      assert.throws(
        () => parseClusterNodes(`ok:1,${bad}`),
        (err: Error) => err instanceof ConfigError && err.message.includes(`"${bad}" is not a host:port seed node`),
        bad,
      );
    }
    assert.throws(() => parseClusterNodes(' , '), /names no node/);
  });

  it('selects a cluster and makes the key prefix a hash tag; without it the prefix is SYNC_PREFIX as before', () => {
    const single = loadConfig({ SYNC_PREFIX: 'acme' });
    assert.equal(single.prefix, 'acme');
    assert.equal(single.redisCluster, undefined);
    const cluster = loadConfig({ SYNC_PREFIX: 'acme', SYNC_REDIS_CLUSTER: 'r1:7000,r2:7000' });
    assert.equal(cluster.prefix, '{acme}');
    assert.deepEqual(cluster.redisCluster, [
      { host: 'r1', port: 7000 },
      { host: 'r2', port: 7000 },
    ]);
    assert.equal(loadConfig({ SYNC_REDIS_CLUSTER: '  ' }).redisCluster, undefined, 'empty is unset');
    assert.throws(
      () => loadConfig({ SYNC_REDIS_CLUSTER: 'r1:7000,r2' }),
      (err: ConfigError) => err.exitCode === 2 && /"r2"/.test(err.message),
    );
  });
});

describe('key layout on a cluster', () => {
  it('puts every key of ours in the slot of {P}, and each queue in a slot of its own', () => {
    const p = keyPrefix('csync', true);
    assert.equal(p, '{csync}');
    assert.ok(isClusterPrefix(p) && !isClusterPrefix('csync'));
    assert.equal(basePrefix(p), 'csync');
    const keys = redisKeys(p);
    const tenant = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
    for (const key of [
      keys.runs,
      keys.run('r1'),
      keys.rows('r1'),
      keys.stats,
      keys.latest,
      keys.fingerprints,
      keys.seq,
      keys.lock('a/b/c'),
      keys.budget,
      keys.snapshot('x/y'),
      keys.scheduleLock('s'),
      keys.budgetOf(tenant),
      keys.breakerOf(tenant),
      keys.readBudgetOf(tenant),
    ]) {
      assert.equal(slotTagOf(key), 'csync', key);
    }
    assert.equal(queuePrefix(p, 'patch-user-status'), '{csync:patch-user-status}');
    assert.equal(keys.patchJob(DEFAULT_TENANT, 'r1:2:0'), '{csync:patch-user-status}:patch-user-status:r1:2:0');
    assert.equal(slotTagOf(keys.patchJob(DEFAULT_TENANT, 'r1:2:0')), 'csync:patch-user-status');
    // Each tenant's queue has a slot of its own, so tenants' backlogs spread over the masters.
    assert.equal(slotTagOf(keys.patchJob(tenant, 'r1:2:0')), `csync:${patchQueueName(tenant)}`);
    assert.deepEqual(keyPatterns(p), ['{csync}:*', '{csync:*}:*']);
  });

  it('leaves a single Redis exactly as it was', () => {
    assert.equal(keyPrefix('csync', false), 'csync');
    assert.equal(queuePrefix('csync', 'patch-user-status'), 'csync');
    assert.equal(redisKeys('csync').patchJob(DEFAULT_TENANT, 'r1:2:0'), 'csync:patch-user-status:r1:2:0');
    assert.deepEqual(keyPatterns('csync'), ['csync:*']);
  });

  it('reads a hash tag as Redis does: the first {...} if not empty', () => {
    assert.equal(slotTagOf('{a}:b{c}'), 'a');
    assert.equal(slotTagOf('{}:b'), '{}:b');
    assert.equal(slotTagOf('x{y'), 'x{y');
    assert.equal(slotTagOf('plain'), 'plain');
  });
});

describe('doctor on a cluster', () => {
  const facts = (over: Partial<RedisFacts> = {}): RedisFacts => ({
    version: '7.2.4',
    maxmemoryPolicy: 'noeviction',
    aofEnabled: true,
    usedMemory: 1,
    maxmemory: 0,
    clusterEnabled: true,
    ...over,
  });
  const healthy = clusterFactsFromInfo(
    parseInfo('cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_size:3\r\n'),
  );

  it('passes a cluster whose slots are all served, and fails one that is down or missing slots', () => {
    assert.equal(judgeCluster(true, healthy).result, 'ok');
    assert.match(judgeCluster(true, healthy).detail, /16384 of 16384 slots served by 3 masters/);
    const down = clusterFactsFromInfo(
      parseInfo('cluster_state:fail\ncluster_slots_assigned:10923\ncluster_slots_ok:10923\ncluster_size:2\n'),
    );
    assert.equal(judgeCluster(true, down).result, 'fail');
    assert.match(
      judgeCluster(true, down).detail,
      /cluster_state is fail, 10923 of 16384 slots served by 2 masters \(5461 slots assigned to no node\)/,
    );
  });

  it('fails a cluster node named by REDIS_URL, and SYNC_REDIS_CLUSTER naming a Redis not in cluster mode', () => {
    assert.equal(judgeCluster(false).result, 'ok');
    assert.equal(judgeCluster(true).result, 'fail');
    assert.match(judgeCluster(true).fix, /SYNC_REDIS_CLUSTER/);
    assert.equal(judgeCluster(false, healthy).result, 'fail');
  });

  it('folds the masters into one line per check, naming the worst master', () => {
    const checks = judgeRedisCluster(
      [
        { node: 'a:1', facts: facts() },
        { node: 'b:2', facts: facts({ maxmemoryPolicy: 'allkeys-lru' }) },
        { node: 'c:3', facts: facts({ aofEnabled: false }) },
      ],
      healthy,
    );
    const by = new Map(checks.map((c) => [c.name, c]));
    assert.deepEqual([...by.keys()], ['redis.version', 'redis.maxmemory-policy', 'redis.aof', 'redis.memory', 'redis.cluster']);
    assert.equal(by.get('redis.maxmemory-policy')?.result, 'fail');
    assert.match(by.get('redis.maxmemory-policy')!.detail, /^master b:2: maxmemory-policy is allkeys-lru/);
    assert.equal(by.get('redis.aof')?.result, 'warn');
    assert.match(by.get('redis.aof')!.detail, /^master c:3:/);
    assert.match(by.get('redis.version')!.detail, /^3 masters; a:1: Redis 7\.2\.4/);
    assert.deepEqual(worstPerCheck([{ node: 'x', checks: [{ name: 'n', result: 'warn', detail: 'd', fix: 'f' }] }]), [
      { name: 'n', result: 'warn', detail: 'd', fix: 'f' },
    ]);
  });

  it('judges memory by the fullest master', () => {
    assert.deepEqual(
      fullestNode([
        { usedBytes: 50, maxBytes: 100 },
        { usedBytes: 95, maxBytes: 100 },
        { usedBytes: 10, maxBytes: 0 },
      ]),
      { usedBytes: 95, maxBytes: 100 },
    );
    assert.deepEqual(fullestNode([{ usedBytes: 10, maxBytes: 0 }]), { usedBytes: 10, maxBytes: 0 });
  });
});

describe('cluster connection modes', () => {
  it('a command gives up within seconds and times out stalled commands', () => {
    const o = clusterOptionsFor('command', { commandTimeoutMs: 1234 });
    assert.equal(o.redisOptions?.commandTimeout, 1234);
    assert.equal(o.redisOptions?.maxRetriesPerRequest, 2);
    assert.equal(o.enableOfflineQueue, true);
    assert.equal(o.clusterRetryStrategy?.(3, new Error('down')), null, 'stops reconnecting after 3 tries');
    assert.equal(o.lazyConnect, true);
  });

  it('serve never queues offline nor resends after a reconnect, and reconnects for ever', () => {
    const o = clusterOptionsFor('server', {});
    assert.equal(o.enableOfflineQueue, false);
    assert.equal(o.redisOptions?.autoResendUnfulfilledCommands, false);
    assert.equal(o.redisOptions?.maxRetriesPerRequest, 0);
    assert.equal(o.redisOptions?.commandTimeout, 10_000);
    assert.equal(o.clusterRetryStrategy?.(1000, new Error('down')), 2000);
  });

  it('a worker waits out outages: no command timeout, no retry limit (BullMQ requires it), reconnects for ever', () => {
    const o = clusterOptionsFor('service', { commandTimeoutMs: 1234 });
    assert.equal(o.redisOptions?.commandTimeout, undefined);
    assert.equal(o.redisOptions?.maxRetriesPerRequest, null);
    assert.equal(o.enableOfflineQueue, true);
    assert.equal(o.clusterRetryStrategy?.(1000, new Error('down')), 2000);
  });
});
