import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { Cluster } from 'ioredis';
import { queuePrefix, QUEUE_NAMES } from '../../src/redis-layout.js';
import { slotTagOf } from '../../src/queue/connection.js';
import {
  BIN,
  HEADER,
  keysOf,
  REPO_ROOT,
  lastJsonLine,
  runCli,
  seededValidRows,
  seedRecords,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
} from '../support/harness.js';
import { PrivateCluster } from '../support/private-cluster.js';
import { API_TOKEN, eventRecord, freePort, postEvents } from '../support/server-helpers.js';

/**
 * The core pipeline and change-detection scenarios, run unchanged on a real Redis Cluster of 3 masters: this file
 * starts the cluster, points startTestEnv at it (TEST_REDIS_CLUSTER, so every CLI and worker gets SYNC_REDIS_CLUSTER),
 * and then loads those test files, whose describe() blocks register here.
 */
const cluster = await PrivateCluster.start(3);
process.env.TEST_REDIS_CLUSTER = cluster.seeds;
after(async () => {
  delete process.env.TEST_REDIS_CLUSTER;
  await cluster.stop();
});

await import('./pipeline.test.js');
await import('./change-detection.test.js');
// 200 tenants' queues, each in a slot of its own: the worker waits for them with one sweep script per master.
await import('./connections.test.js');
await import('./marker-watch.test.js');

describe('Redis Cluster: where the keys go', () => {
  it(
    'the CLI worker sends every row; our keys share one slot, each queue has a slot ' + 'of its own, and queues spread over the masters',
    async () => {
      const t = await startTestEnv('cluster-slots');
      try {
        const path = await writeTemp(t, 'rows.csv', `${HEADER}\n${seededValidRows(t.sim, 30).join('\n')}\n`);
        const imported = await runCli(['import', path, '--json'], t.env);
        assert.equal(imported.code, 0, imported.stderr);
        const { runId } = lastJsonLine<{ runId: string }>(imported.stdout);
        // The CLI's worker: its `service` connection to the cluster; its patch workers wait through the marker sweep.
        const worked = await runCli(['worker', '--until-idle'], t.env, undefined, 60_000);
        assert.equal(worked.code, 0, worked.stderr);
        assert.equal((await waitForRun(t.redis, t.prefix, runId, 30_000)).succeeded, 30);
        const keys = await keysOf(t);
        const base = t.prefix.slice(1, -1);
        const ours = keys.filter((k) => k.startsWith(`${t.prefix}:`));
        const queued = keys.filter((k) => k.startsWith(`${queuePrefix(t.prefix, QUEUE_NAMES.patch)}:`));
        assert.ok(ours.includes(`${t.prefix}:run:${runId}:rows`) && ours.includes(`${t.prefix}:stats`), ours.join(' '));
        assert.ok(queued.length > 0, keys.join(' '));
        assert.deepEqual(new Set(ours.map(slotTagOf)), new Set([base]));
        assert.deepEqual(new Set(queued.map(slotTagOf)), new Set([`${base}:${QUEUE_NAMES.patch}`]));
        // The CLI worker also runs the scheduled-import queue: a third hash tag, so every key is in one of three slots.
        const scheduled = keys.filter((k) => k.startsWith(`${queuePrefix(t.prefix, QUEUE_NAMES.scheduledImport)}:`));
        assert.deepEqual(new Set(scheduled.map(slotTagOf)), new Set([`${base}:${QUEUE_NAMES.scheduledImport}`]));
        assert.equal(ours.length + queued.length + scheduled.length, keys.length, `every key is ours or a queue's: ${keys.join(' ')}`);

        // Spread: with this many queues (as per-tenant queues would be), CLUSTER KEYSLOT puts them on every master.
        const redis = t.redis as Cluster;
        const slots = await Promise.all(
          Array.from({ length: 30 }, (_, i) => redis.call('CLUSTER', 'KEYSLOT', queuePrefix(t.prefix, `q${i}`)) as Promise<number>),
        );
        const masters = new Set(slots.map((slot) => masterOf(redis, slot)));
        assert.equal(masters.size, 3, `30 queues over ${masters.size} masters`);
      } finally {
        await t.close();
      }
      assert.deepEqual(await keysOf(t), [], 'cleanup scans every master');
    },
  );

  it('serve (its `server` connection to the cluster) is ready, takes events, and the workers send them', async () => {
    const t = await startTestEnv('cluster-serve');
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...t.env, SYNC_API_TOKENS: API_TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    const url = `http://127.0.0.1:${port}`;
    try {
      const deadline = Date.now() + 20_000;
      while (
        (await fetch(`${url}/readyz`).then(
          (r) => r.status,
          () => 0,
        )) !== 200
      ) {
        assert.ok(Date.now() < deadline, `serve did not become ready: ${stderr}`);
        await sleep(200);
      }
      seedRecords(t.sim, [eventRecord(1), eventRecord(2), eventRecord(3)]);
      const posted = await postEvents(url, [eventRecord(1), eventRecord(2), eventRecord(3)]);
      assert.equal(posted.status, 202, JSON.stringify(posted.json));
      const runId = (posted.json as { runId: string }).runId;
      const worker = await startInProcessWorker(t);
      try {
        const status = await waitForRun(t.redis, t.prefix, runId, 30_000, (s) => s.succeeded === 3);
        assert.equal(status.failed, 0);
      } finally {
        await worker.close();
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
      await t.close();
    }
  });

  it('doctor checks every master and the cluster state', async () => {
    const t = await startTestEnv('cluster-doctor');
    try {
      const res = await runCli(['doctor', '--json'], t.env);
      const { checks } = lastJsonLine<{ checks: { name: string; result: string; detail: string }[] }>(res.stdout);
      const check = (name: string) => checks.find((c) => c.name === name);
      assert.match(check('config')!.detail, /Redis Cluster \(3 seed nodes, keys under the hash tag \{test-cluster-doctor-[0-9a-f]+\}\)/);
      assert.equal(check('redis.connection')?.result, 'ok', res.stdout);
      assert.match(check('redis.connection')!.detail, /Redis Cluster at 127\.0\.0\.1:\d+,.* answers \(3 masters reached\)/);
      assert.equal(check('redis.cluster')?.result, 'ok', res.stdout);
      assert.match(check('redis.cluster')!.detail, /cluster_state ok, 16384 of 16384 slots served by 3 masters/);
      // The test cluster runs without AOF: each master's verdict is folded into one line naming the master.
      assert.equal(check('redis.aof')?.result, 'warn');
      assert.match(check('redis.aof')!.detail, /^master 127\.0\.0\.1:\d+: AOF is off/);
    } finally {
      await t.close();
    }
  });

  it('an unreachable cluster exits 1 within seconds, naming its nodes', async () => {
    const started = Date.now();
    const res = await runCli(['status', 'some-run', '--json'], { SYNC_REDIS_CLUSTER: '127.0.0.1:1,127.0.0.1:2' });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /Redis Cluster at 127\.0\.0\.1:1,127\.0\.0\.1:2 is unreachable/);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  });

  it('a bad SYNC_REDIS_CLUSTER entry exits 2 naming it', async () => {
    const res = await runCli(['status', 'some-run', '--json'], { SYNC_REDIS_CLUSTER: `${cluster.seeds},redis-b:notaport` });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /SYNC_REDIS_CLUSTER: "redis-b:notaport" is not a host:port seed node/);
  });
});

function masterOf(redis: Cluster, slot: number): string {
  const master = redis.slots[slot]?.[0];
  assert.ok(master, `slot ${slot} has a master`);
  return master;
}
