/**
 * Redis full (maxmemory with noeviction, as docker-compose.yml runs it), on a private redis-server: imports stop with
 * a clear message and continue when rerun, the server answers 503, workers keep draining, and once memory is freed
 * nothing is lost or counted twice.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startScheduledImportWorker } from '../../jobs/scheduled-import-worker.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createPatchQueue, queueDepth } from '../../src/queue/queues.js';
import { readRedisMemory } from '../../src/queue/memory.js';
import { keyDigest, redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { eventRunId, OUT_OF_MEMORY_CANCELLED_REASON } from '../../src/server/ingest.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  seedRecords,
  simKey,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { eventRecord, postEvents, startTestServer } from '../support/server-helpers.js';
import { queueRows } from './fleet-helpers.js';

const ROWS = 6000;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

/** 8 MB with noeviction: a few thousand queued rows fill it; the 10% above the high-water mark outlasts the chunks in flight. */
async function fullRedisEnv(
  name: string,
  vars: Record<string, string> = {},
): Promise<{ t: TestEnv; redisServer: PrivateRedis; admin: Redis }> {
  const redisServer = await startPrivateRedis(['--maxmemory', '8mb', '--maxmemory-policy', 'noeviction']);
  const t = await startTestEnv(name, { redisUrl: redisServer.url, env: vars });
  const admin = new Redis(redisServer.url);
  cleanups.push(async () => {
    admin.disconnect();
    t.redis.disconnect();
    await t.sim.close();
    await redisServer.stop();
  });
  return { t, redisServer, admin };
}

function assertOutOfMemoryStop(res: { code: number; stderr: string }, runId: string): number {
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /Redis is out of memory \([\d.]+ MB used of maxmemory 8\.0 MB\)/);
  assert.match(res.stderr, new RegExp(`rerun with --run-id ${runId} to pick up where it stopped`));
  assert.doesNotMatch(res.stderr, /^\s+at /m, 'no stack trace');
  const line = /nothing from line (\d+) of .* on was queued/.exec(res.stderr);
  assert.ok(line, res.stderr);
  return Number(line[1]);
}

describe('Redis out of memory', { concurrency: 1 }, () => {
  it(
    'import stops below maxmemory and says so; the server answers 503; workers drain; ' +
      'a rerun continues and nothing is sent or counted twice',
    async () => {
      // Half of maxmemory is left to the workers here: besides recording outcomes, BullMQ keeps failed jobs and an event
      // stream, which in an 8 MB Redis is a large share (in a real one, 10% is hundreds of MB).
      const { t, admin } = await fullRedisEnv('oom-highwater', { SYNC_REDIS_MEMORY_HIGH_WATER: '50' });
      const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, ROWS), ''].join('\n'));
      const stopped = await runCli(['import', csv, '--run-id', 'oom-a', '--chunk-size', '100', '--no-progress'], t.env);
      const fromLine = assertOutOfMemoryStop(stopped, 'oom-a');
      assert.ok(fromLine > 2 && fromLine < ROWS + 2, `stopped at line ${fromLine}`);

      const store = new ResultStore(t.redis, t.prefix);
      const partial = (await store.status('oom-a'))!;
      assert.equal(partial.state, 'running', 'a stopped import is not reported as done');
      assert.equal(partial.total, fromLine - 2, 'every line before the stop, and none after, is in the run');
      const queue = createPatchQueue(t.redis, t.prefix);
      cleanups.push(() => queue.close());
      assert.equal((await queueDepth(queue)).waiting, partial.pending);

      const server = await startTestServer(t);
      cleanups.push(() => server.close());
      const refused = await postEvents(server.url, [eventRecord(ROWS + 1)]);
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.match(refused.json.message, /Redis is out of memory.*nothing was queued/);

      // Workers drain what is queued although producers are refused.
      const worker = await startInProcessWorker(t);
      cleanups.push(() => worker.close());
      const drained = await waitForRun(t.redis, t.prefix, 'oom-a', 60_000, (s) => s.pending === 0);
      assert.equal(drained.succeeded, partial.total);
      const memory = await readRedisMemory(admin);
      assert.ok(memory.usedBytes < memory.maxBytes, `${memory.usedBytes} bytes used of ${memory.maxBytes}`);

      await admin.config('SET', 'maxmemory', '0');
      const rerun = await runCli(['import', csv, '--run-id', 'oom-a', '--chunk-size', '100', '--json', '--no-progress'], t.env);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.deepEqual(lastJsonLine(rerun.stdout), {
        runId: 'oom-a',
        rows: ROWS,
        accepted: ROWS,
        rejected: 0,
        enqueued: ROWS,
        unchanged: 0,
        superseded: 0,
        resumed: true,
        queuedNow: ROWS - partial.total,
      });
      const done = await waitForRun(t.redis, t.prefix, 'oom-a', 60_000);
      assert.equal(done.state, 'completed');
      assert.equal(done.succeeded, ROWS);
      assert.equal(t.sim.counters().requests, ROWS, 'every row sent exactly once');
      assert.equal(Object.keys(t.sim.state()).length, ROWS);
      const stats = await store.stats();
      assert.deepEqual([stats.rows.succeeded, stats.rows.queued], [ROWS, 0], 'the fleet counters count each row once');
    },
  );

  it(
    'when Redis itself refuses writes (no high-water mark) the import stops the same ' +
      'way, the server answers 503, and a rerun loses and doubles nothing',
    async () => {
      const { t, admin } = await fullRedisEnv('oom-refused', { SYNC_REDIS_MEMORY_HIGH_WATER: '100' });
      const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, ROWS), ''].join('\n'));
      const stopped = await runCli(['import', csv, '--run-id', 'oom-b', '--no-progress'], t.env);
      const fromLine = assertOutOfMemoryStop(stopped, 'oom-b');
      const store = new ResultStore(t.redis, t.prefix);
      const partial = await store.status('oom-b');
      assert.ok(!partial || (partial.state === 'running' && partial.total <= ROWS), JSON.stringify(partial));
      assert.ok(fromLine >= 2);

      // Whatever the import's own connection freed when it exited, Redis is full again for the event.
      const server = await startTestServer(t);
      cleanups.push(() => server.close());
      await admin.config('SET', 'maxmemory', String((await readRedisMemory(admin)).usedBytes - 64 * 1024));
      const refused = await postEvents(server.url, [eventRecord(ROWS + 1)]);
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.match(refused.json.message, /Redis is out of memory.*nothing was queued/);

      await admin.config('SET', 'maxmemory', '0');
      const rerun = await runCli(['import', csv, '--run-id', 'oom-b', '--json', '--no-progress'], t.env);
      assert.equal(rerun.code, 0, rerun.stderr);
      const summary = lastJsonLine<Record<string, unknown>>(rerun.stdout);
      assert.deepEqual(
        { ...summary, resumed: undefined },
        {
          runId: 'oom-b',
          rows: ROWS,
          accepted: ROWS,
          rejected: 0,
          enqueued: ROWS,
          unchanged: 0,
          superseded: 0,
          resumed: undefined,
          queuedNow: ROWS - (partial?.total ?? 0),
        },
      );
      const queue = createPatchQueue(t.redis, t.prefix);
      cleanups.push(() => queue.close());
      assert.equal((await queueDepth(queue)).waiting, ROWS, 'one job per row: none lost, none twice');
      const status = (await store.status('oom-b'))!;
      assert.deepEqual([status.pending, status.total], [ROWS, ROWS]);
      assert.equal((await store.stats()).rows.queued, ROWS);
    },
  );

  it(
    'a worker whose Redis fills up while PATCHes are in flight records their ' +
      'outcomes, and once memory is freed every row ends exactly once',
    async () => {
      const { t, admin } = await fullRedisEnv('oom-worker', { SYNC_RATE_LIMIT: '200/s' });
      await admin.config('SET', 'maxmemory', '0');
      const rows = 300;
      const runId = await queueRows(t, rows);
      t.sim.configure({ latencyMs: 150 });
      const worker = await startInProcessWorker(t, { concurrency: 10 });
      cleanups.push(() => worker.close());
      await waitForRun(t.redis, t.prefix, runId, 30_000, (s) => s.succeeded >= 50);
      // Full now: nothing may grow any more, but outcomes of PATCHes already sent must still be recorded.
      await admin.config('SET', 'maxmemory', String((await readRedisMemory(admin)).usedBytes - 256 * 1024));
      const store = new ResultStore(t.redis, t.prefix);
      const before = (await store.status(runId))!.succeeded;
      await new Promise((r) => setTimeout(r, 1500));
      const during = (await store.status(runId))!;
      assert.ok(during.succeeded > before, `outcomes were recorded while Redis was full (${before} -> ${during.succeeded})`);
      await admin.config('SET', 'maxmemory', '0');
      const done = await waitForRun(t.redis, t.prefix, runId, 60_000);
      assert.deepEqual([done.state, done.succeeded, done.pending], ['completed', rows, 0]);
      assert.equal(Object.keys(t.sim.state()).length, rows, 'every row reached Graph');
      assert.equal(t.sim.counters().appliedTwice ?? 0, 0, 'no row was applied twice');
      assert.equal((await store.stats()).rows.succeeded, rows, 'each row counted once');
    },
  );
  it(
    'a scheduled import stops at the configured high-water mark (not the default ' +
      '90%), keeps its file in processing/, and the firing after memory is freed queues ' +
      'every row once',
    async () => {
      const { t, admin } = await fullRedisEnv('oom-sched', { SYNC_REDIS_MEMORY_HIGH_WATER: '30' });
      await admin.config('SET', 'maxmemory', '0');
      const filler = `${t.prefix}:filler`;
      await admin.set(filler, 'x'.repeat(2 * 1024 * 1024));
      await admin.config('SET', 'maxmemory', '8mb');
      const used = (await readRedisMemory(admin)).usedBytes / (8 * 1048576);
      assert.ok(used > 0.3 && used < 0.9, `between the configured mark and the default one: ${(used * 100).toFixed(0)}% used`);

      const drop = join(t.dir, 'drop');
      await mkdir(drop);
      const added = await runCli(['schedule', 'add', 'oom-drop', '--cron', '*/1 * * * * *', '--dir', drop, '--settle', '200'], t.env);
      assert.equal(added.code, 0, added.stderr);
      const config = loadConfig({ ...t.env });
      const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
      const importer = await startScheduledImportWorker(config, redis, createLogger('silent'), { scheduleLockTtlMs: 5000 });
      cleanups.push(async () => {
        await importer.close(5000);
        redis.disconnect();
      });
      const failures: string[] = [];
      importer.worker.on('failed', (_job, err) => failures.push(err.message));
      const rows = 40;
      await writeFile(join(drop, 'day.csv.tmp'), [HEADER, ...seededValidRows(t.sim, rows), ''].join('\n'));
      await rename(join(drop, 'day.csv.tmp'), join(drop, 'day.csv'));

      const deadline = Date.now() + 20_000;
      while (failures.length < 2 && Date.now() < deadline) await sleep(100);
      assert.ok(failures.length >= 2, `two firings stopped (${failures.length})`);
      for (const message of failures) assert.match(message, /Redis is out of memory \([\d.]+ MB used of maxmemory 8\.0 MB\)/);
      const processing = join(drop, 'processing', 'oom-drop');
      assert.equal((await readdir(processing)).length, 1, 'the file waits in processing/ for the next firing');
      assert.deepEqual(await readdir(join(drop, 'processed')).catch(() => []), []);
      const store = new ResultStore(t.redis, t.prefix);
      assert.equal((await store.stats()).rows.queued, 0, 'nothing was queued above the configured mark');

      await admin.del(filler);
      while ((await readdir(join(drop, 'processed')).catch(() => [])).length === 0 && Date.now() < deadline + 20_000) await sleep(100);
      assert.deepEqual(await readdir(join(drop, 'processed')), ['day.csv']);
      const runs = (await store.listRuns(10)).filter((r) => r.source?.startsWith('schedule oom-drop: '));
      assert.equal(runs.length, 1, JSON.stringify(runs));
      const status = (await store.status(runs[0].runId))!;
      assert.deepEqual([status.total, status.pending], [rows, rows]);
      const queue = createPatchQueue(t.redis, t.prefix);
      cleanups.push(() => queue.close());
      assert.equal((await queueDepth(queue)).waiting, rows, 'one job per row');
      assert.equal((await store.stats()).rows.queued, rows);
    },
  );
  it(
    'an event request whose rows were admitted but whose jobs Redis refused is ' +
      'undone: 503, its rows failed as not sent, the older rows it superseded queued ' +
      'again; sent again, each record goes out once',
    async () => {
      const { t, admin } = await fullRedisEnv('oom-event', { SYNC_REDIS_MEMORY_HIGH_WATER: '100' });
      await admin.config('SET', 'maxmemory', '0');
      const older = await queueRows(t, 10);
      const store = new ResultStore(t.redis, t.prefix);
      const now = Date.UTC(2026, 10, 25, 12);
      const server = await startTestServer(t, { now: () => now });
      cleanups.push(() => server.close());
      // Redis fills up between the admission of the request's rows and the adding of their jobs: the admission's own
      // writes can take the last bytes, and BullMQ's addBulk is then refused by Redis (a real OOM reply).
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with the queue as `this`, and put back
      const addBulk = Queue.prototype.addBulk;
      let fillBeforeAddBulk = false;
      Queue.prototype.addBulk = async function (this: Queue, ...args: Parameters<Queue['addBulk']>) {
        if (fillBeforeAddBulk) {
          fillBeforeAddBulk = false;
          await admin.config('SET', 'maxmemory', '1');
        }
        return addBulk.apply(this, args);
      };
      cleanups.push(async () => {
        Queue.prototype.addBulk = addBulk;
      });
      // Five newer updates of the older run's rows 0-4 (which they supersede) and five new keys.
      const records = [0, 1, 2, 3, 4, 100, 101, 102, 103, 104].map((i) => eventRecord(i, { day: 25, status: 'error' }));
      seedRecords(t.sim, records);

      fillBeforeAddBulk = true;
      const refused = await postEvents(server.url, records);
      await admin.config('SET', 'maxmemory', '0');
      assert.equal(refused.status, 503, JSON.stringify(refused.json));
      assert.match(refused.json.message, /Redis is out of memory.*nothing was queued/);
      const runId = eventRunId(now);
      const cancelled = (await store.status(runId))!;
      assert.deepEqual(
        [cancelled.total, cancelled.pending, cancelled.failed],
        [10, 0, 10],
        'every row of the refused request ended as not sent',
      );
      for (const text of Object.values(await t.redis.hgetall(redisKeys(t.prefix).rows(runId)))) {
        assert.equal((JSON.parse(text) as { reason: string }).reason, OUT_OF_MEMORY_CANCELLED_REASON);
      }
      const restored = (await store.status(older))!;
      assert.deepEqual([restored.pending, restored.superseded], [10, 0], 'the older rows it had superseded wait again');
      assert.match(
        (await t.redis.hget(redisKeys(t.prefix).latest, keyDigest('mobileAppConfiguration/cfg-1/user-1')))!,
        new RegExp(`\\|${older}\\|`),
      );
      const queue = createPatchQueue(t.redis, t.prefix);
      cleanups.push(() => queue.close());
      assert.equal((await queueDepth(queue)).waiting, 10, 'no job of the refused request');
      const afterUndo = await store.stats();
      assert.equal(afterUndo.rows.queued, 10);
      // The five rows that were superseded and are queued again left `superseded`: compliance_sync_rows_total still counts them.
      assert.deepEqual([afterUndo.rows.superseded, afterUndo.rowsLeft.superseded], [0, 5]);

      const again = await postEvents(server.url, records);
      assert.equal(again.status, 202, JSON.stringify(again.json));
      assert.equal(again.json.runId, runId);
      const worker = await startInProcessWorker(t);
      cleanups.push(() => worker.close());
      const olderDone = await waitForRun(t.redis, t.prefix, older, 60_000);
      assert.deepEqual([olderDone.state, olderDone.succeeded, olderDone.superseded], ['completed', 5, 5]);
      const events = await waitForRun(t.redis, t.prefix, runId, 60_000, (s) => s.pending === 0);
      assert.deepEqual([events.succeeded, events.failed], [10, 10]);
      assert.equal(t.sim.counters().requests, 15, 'each key sent once: older rows 5-9 and the ten records');
      assert.equal(t.sim.counters().appliedTwice ?? 0, 0);
      for (const i of [0, 1, 2, 3, 4, 100, 104]) assert.equal(t.sim.state()[simKey(i)]?.status, 'error', simKey(i));
      const stats = await store.stats();
      assert.deepEqual(
        [stats.rows.queued, stats.rows.succeeded, stats.rows.failed, stats.rows.superseded],
        [0, 15, 10, 5],
        'the fleet counters count each row once',
      );
    },
  );
});
