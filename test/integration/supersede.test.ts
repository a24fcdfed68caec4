/**
 * Superseding a queued backlog costs the same per row whatever the backlog: the older rows' jobs are left in the queue
 * (never LREMed out of BullMQ's wait list) and end unsent, with no send slot and no attempt, when a worker claims them.
 * Each scenario runs on a private redis-server, so its INFO commandstats and keyspace events are its own.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { createPatchQueue, queueDepth } from '../../src/queue/queues.js';
import { DEFAULT_TENANT, keyDigest, redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  simKey,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
} from '../support/harness.js';
import type { TestEnv } from '../support/harness.js';
import { startPrivateRedis } from '../support/private-redis.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

/**
 * A private redis-server that publishes a keyspace event for every hash write (`Kh`): each send slot the write budget
 * hands out is one HSET of its hash (reserveSendSlot-1.lua), and nothing else writes that hash without a 429.
 */
async function privateEnv(name: string): Promise<{ t: TestEnv; admin: Redis; subscriber: Redis }> {
  const server = await startPrivateRedis(['--notify-keyspace-events', 'Kh']);
  const t = await startTestEnv(name, { redisUrl: server.url });
  const admin = new Redis(server.url);
  const subscriber = new Redis(server.url);
  cleanups.push(async () => {
    subscriber.disconnect();
    admin.disconnect();
    t.redis.disconnect();
    await t.sim.close();
    await server.stop();
  });
  return { t, admin, subscriber };
}

/** Counts the send slots the default tenant's write budget hands out from now on. */
async function countSendSlots(subscriber: Redis, prefix: string): Promise<() => Promise<number>> {
  let slots = 0;
  subscriber.on('message', (_channel: string, event: string) => {
    if (event === 'hset') slots++;
  });
  await subscriber.subscribe(`__keyspace@0__:${redisKeys(prefix).budgetOf(DEFAULT_TENANT)}`);
  // A PING answered on the subscribing connection comes after every event Redis published before it.
  return async () => {
    await subscriber.ping();
    return slots;
  };
}

async function lremCalls(admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(/^cmdstat_lrem:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

async function importCsv(t: TestEnv, name: string, rows: string[]) {
  const path = await writeTemp(t, name, `${HEADER}\n${rows.join('\n')}\n`);
  const res = await runCli(['import', path, '--json', '--no-progress'], t.env);
  assert.equal(res.code, 0, res.stderr);
  return lastJsonLine<{ runId: string; rows: number; enqueued: number; superseded: number }>(res.stdout);
}

async function waitUntilIdle(worker: PatchWorker): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await worker.isIdle())) {
    if (Date.now() > deadline) throw new Error('the queue did not drain within 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Row i of the newer file: the same key as validRows' row i, reported a day later, with another display name. */
const newerRows = (n: number) => validRows(n, { day: 21 }).map((row, i) => row.replace(`,User ${i},`, `,Newer ${i},`));

describe('superseding a queued backlog', { concurrency: 1 }, () => {
  const removesNoJob =
    'a newer import over queued rows removes no job (no LREM); a worker sends each key once, with the newer values, ' +
    'and spends no slot or attempt on the older rows';
  it(removesNoJob, async () => {
    const N = 300;
    const { t, admin, subscriber } = await privateEnv('supersede');
    const older = validRows(N);
    seedGraph(t.sim, older);
    const first = await importCsv(t, 'day1.csv', older);
    assert.equal(first.enqueued, N);

    const lremBefore = await lremCalls(admin);
    const second = await importCsv(t, 'day2.csv', newerRows(N));
    assert.equal(await lremCalls(admin), lremBefore, 'no LREM ran during the second import');
    assert.deepEqual([second.enqueued, second.superseded], [N, 0]);

    const store = new ResultStore(t.redis, t.prefix);
    const firstRun = (await store.status(first.runId))!;
    const counted = [firstRun.state, firstRun.pending, firstRun.superseded];
    assert.deepEqual(counted, ['completed', 0, N], 'the older rows are counted as superseded, not pending');
    assert.equal((await store.stats()).rows.queued, N, 'only the newer rows are pending');
    const queue = createPatchQueue(t.redis, t.prefix);
    cleanups.push(() => queue.close());
    assert.equal((await queueDepth(queue)).waiting, 2 * N, 'the older jobs wait until a worker reaches them');

    const sendSlots = await countSendSlots(subscriber, t.prefix);
    const worker = await startInProcessWorker(t);
    try {
      const done = await waitForRun(t.redis, t.prefix, second.runId);
      assert.deepEqual([done.state, done.succeeded], ['completed', N]);
      await waitUntilIdle(worker);
    } finally {
      await worker.close();
    }
    assert.equal(t.sim.counters().requests, N, 'exactly one PATCH per key');
    const state = t.sim.state();
    for (let i = 0; i < N; i++) assert.equal(state[simKey(i)]?.userDisplayName, `Newer ${i}`, simKey(i));
    assert.equal(await sendSlots(), N, 'the write budget was charged once per PATCH');

    let superseded = 0;
    for await (const row of store.iterateRows(first.runId)) {
      assert.equal(row.state, 'superseded');
      assert.equal(row.attempts ?? 0, 0, `line ${row.line} spent no attempt`);
      assert.equal(row.supersededBy?.runId, second.runId);
      superseded++;
    }
    assert.equal(superseded, N);
    const after = (await store.status(first.runId))!;
    assert.deepEqual([after.state, after.superseded, after.succeeded], ['completed', N, 0]);
  });

  const undoing =
    'undoing a newer row queues the older one again only while its job has not come by: a job that ended unsent ' +
    'leaves its row superseded, and every run still finishes';
  it(undoing, async () => {
    const { t } = await privateEnv('supersede-undo');
    const older = validRows(3);
    seedGraph(t.sim, older);
    const first = await importCsv(t, 'older.csv', older);
    // A newer update of rows 0 and 1 only: the older run keeps row 2 queued, so it is still running.
    const newer = newerRows(2);
    const second = await importCsv(t, 'newer.csv', newer);
    const store = new ResultStore(t.redis, t.prefix);
    const keyOf = (i: number) => `${i % 4 === 0 ? 'iosLobAppProvisioningConfiguration' : 'mobileAppConfiguration'}/cfg-${i}/user-${i}`;
    const versionOf = async (i: number) => (await t.redis.hget(redisKeys(t.prefix).latest, keyDigest(keyOf(i))))!.split('|')[0];
    // The older rows' versions, as their jobs carry them.
    const queue = createPatchQueue(t.redis, t.prefix);
    cleanups.push(() => queue.close());
    const olderJobs = await Promise.all([2, 3].map(async (line) => (await queue.getJob(`${first.runId}:${line}:0`))!.data));
    assert.notEqual(olderJobs[0].version, await versionOf(0), 'P:latest names the newer row');

    // A worker reaches the older job of line 2 (row 0) first: it ends unsent.
    assert.equal(await store.claimRow(first.runId, 2, keyOf(0), olderJobs[0].version, 0, `${first.runId}:2:0`, 10_000), 'done|superseded');
    // Then the newer run's lines are cancelled, as the event API does for a request it answered 503.
    const replaced = olderJobs.map((job) => ({ runId: first.runId, line: job.line, key: job.key, version: job.version, generation: 0 }));
    assert.equal(await store.cancelRun(second.runId, 'not sent: test', 2, 3, replaced), 2);

    assert.equal((await store.getRow(first.runId, 2))!.state, 'superseded', 'its job came by: no job would send it again');
    assert.equal((await store.getRow(first.runId, 3))!.state, 'queued', 'its job still waits: it is queued again');
    assert.equal(await versionOf(1), olderJobs[1].version, 'P:latest points back at the older row');
    const latestOf0 = (await t.redis.hget(redisKeys(t.prefix).latest, keyDigest(keyOf(0))))!;
    assert.match(latestOf0, new RegExp(`\\|${second.runId}\\|2$`), 'row 0 keeps its newer (cancelled) entry');
    const status = (await store.status(first.runId))!;
    assert.deepEqual([status.pending, status.superseded], [2, 1]);

    const worker = await startInProcessWorker(t);
    try {
      const done = await waitForRun(t.redis, t.prefix, first.runId);
      const finished = [done.state, done.succeeded, done.superseded];
      assert.deepEqual(finished, ['completed', 2, 1], 'the older run finishes: no row waits without a job');
      await waitUntilIdle(worker);
    } finally {
      await worker.close();
    }
    assert.equal(t.sim.counters().requests, 2, 'rows 1 and 2 of the older file; the cancelled newer rows and the skipped row are not sent');
    assert.equal(t.sim.state()[simKey(1)]?.userDisplayName, 'User 1');
    assert.equal((await store.status(second.runId))!.failed, 2);
  });
});
