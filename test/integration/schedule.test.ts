import { once } from 'node:events';
import { createScheduleQueue } from '../../src/queue/schedules.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { createColumnMapper } from '../../src/domain/columns.js';
import type { RunStatus } from '../../src/interfaces.js';
import { createLogger } from '../../src/logger.js';
import { importRun } from '../../src/producer/import-run.js';
import { dropFileIdentity } from '../../src/producer/run-input.js';
import { startScheduledImportWorker, type ScheduledImportWorker } from '../../jobs/scheduled-import-worker.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { checkCron, ScheduleError } from '../../src/queue/schedules.js';
import { redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { readRows } from '../../src/sources/index.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  seedGraph,
  simKey,
  spawnWorker,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  type TestEnv,
} from '../support/harness.js';

const PG_URL = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const EVERY_SECOND = '*/1 * * * * *';

/** Each test's own scheduled-import worker, on its own connection, closed before the test's Redis keys are deleted. */
async function startImporter(t: TestEnv): Promise<ScheduledImportWorker> {
  const config = loadConfig({ ...t.env });
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const worker = await startScheduledImportWorker(config, redis, createLogger('silent'), { scheduleLockTtlMs: 5000 });
  const close = worker.close.bind(worker);
  worker.close = async (deadline?: number) => {
    await close(deadline);
    redis.disconnect();
  };
  return worker;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Writes as a well-behaved producer does: under a partial name, then renamed into place. */
async function dropFile(dir: string, name: string, content: string): Promise<void> {
  await writeFile(join(dir, `${name}.tmp`), content);
  await rename(join(dir, `${name}.tmp`), join(dir, name));
}

async function runsOf(t: TestEnv, scheduleName: string): Promise<RunStatus[]> {
  const runs = await new ResultStore(t.redis, t.prefix).listRuns(1000);
  return runs.filter((r) => r.source?.startsWith(`schedule ${scheduleName}: `)).sort((a, b) => a.createdAt - b.createdAt);
}

const list = (dir: string): Promise<string[]> => readdir(dir).then((names) => names.sort());
const listOrEmpty = (dir: string): Promise<string[]> => list(dir).catch(() => []);

describe('scheduled imports', () => {
  // Per test, last registered first: workers stop before their Redis keys and folders go.
  let cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    cleanups = [];
  });

  it('imports each file dropped into a folder exactly once and moves it to processed/', async () => {
    const t = await startTestEnv('sched-drop');
    cleanups.push(
      () => t.close(),
      () => rm(t.dir, { recursive: true, force: true }),
    );
    const drop = join(t.dir, 'drop');
    await mkdir(drop);
    // Never to be taken: a file still being written and a hidden file.
    await writeFile(join(drop, 'later.csv.part'), `${HEADER}\n${validRows(1, { offset: 50 })[0]}\n`);
    await writeFile(join(drop, '.hidden.csv'), `${HEADER}\n${validRows(1, { offset: 60 })[0]}\n`);

    const added = await runCli(['schedule', 'add', 'drop-test', '--cron', EVERY_SECOND, '--dir', drop, '--settle', '300', '--json'], t.env);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(lastJsonLine(added.stdout).updated, false);
    // A second schedule on the same folder has its own lock: only the atomic claim keeps the two apart.
    const rival = await runCli(['schedule', 'add', 'drop-rival', '--cron', EVERY_SECOND, '--dir', drop, '--settle', '300'], t.env);
    assert.equal(rival.code, 0, rival.stderr);

    // Two import workers stand for two worker processes: a file must still be taken only once.
    const importers = [await startImporter(t), await startImporter(t)];
    const patcher = await startInProcessWorker(t);
    cleanups.push(() => patcher.close(5000), ...importers.map((w) => () => w.close(5000)));

    await dropFile(drop, 'first export.csv', `${HEADER}\n${seededValidRows(t.sim, 5).join('\n')}\n`);
    await dropFile(drop, 'second.csv', `${HEADER}\n${seededValidRows(t.sim, 3, { offset: 5 }).join('\n')}\n`);

    const processedDir = join(drop, 'processed');
    await waitFor('both files in processed/', async () => (await listOrEmpty(processedDir)).length === 2);
    assert.deepEqual(await list(processedDir), ['first export.csv', 'second.csv']);
    // A few more firings: nothing may be imported again.
    await sleep(2500);

    const runs = [...(await runsOf(t, 'drop-test')), ...(await runsOf(t, 'drop-rival'))];
    assert.equal(runs.length, 2, JSON.stringify(runs));
    const byFile = Object.fromEntries(runs.map((r) => [r.source!.includes('first export.csv') ? 'first' : 'second', r]));
    assert.match(byFile.first.runId, /^sched-drop-(test|rival)-\d{8}T\d{9}Z-first_export$/);
    assert.match(byFile.second.runId, /^sched-drop-(test|rival)-\d{8}T\d{9}Z-second$/);
    const first = await waitForRun(t.redis, t.prefix, byFile.first.runId, 30_000);
    const second = await waitForRun(t.redis, t.prefix, byFile.second.runId, 30_000);
    assert.deepEqual([first.state, first.total, first.succeeded, first.rejected], ['completed', 5, 5, 0]);
    assert.deepEqual([second.state, second.total, second.succeeded, second.rejected], ['completed', 3, 3, 0]);

    const state = t.sim.state();
    for (let i = 0; i < 8; i++) assert.equal(state[simKey(i)]?.userDisplayName, `User ${i}`, simKey(i));
    assert.equal(t.sim.counters().requests, 8, 'each row is sent once');
    assert.equal(t.sim.counters().appliedTwice, 0);

    assert.deepEqual(await list(drop), ['.hidden.csv', 'failed', 'later.csv.part', 'processed', 'processing']);
    for (const name of ['drop-test', 'drop-rival']) assert.deepEqual(await listOrEmpty(join(drop, 'processing', name)), []);
    assert.deepEqual(await list(join(drop, 'failed')), []);
    assert.equal(await t.redis.exists(redisKeys(t.prefix).scheduleLock('drop-test')), 0, 'the lock is released between firings');
  });

  it('moves a file with a missing required column to failed/ with an error file, and still imports the next one', async () => {
    const t = await startTestEnv('sched-bad');
    cleanups.push(
      () => t.close(),
      () => rm(t.dir, { recursive: true, force: true }),
    );
    const drop = join(t.dir, 'drop');
    await mkdir(drop);
    const added = await runCli(['schedule', 'add', 'bad-test', '--cron', EVERY_SECOND, '--dir', drop, '--settle', '0'], t.env);
    assert.equal(added.code, 0, added.stderr);
    const importer = await startImporter(t);
    cleanups.push(() => importer.close(5000));

    await dropFile(drop, 'no-config.csv', 'userStatusId,status\nuser-1,compliant\n');
    const ndjson = [
      { configurationId: 'cfg-nd', userStatusId: 'user-nd-1', status: 'compliant' },
      { configurationId: 'cfg-nd', userStatusId: 'user-nd-2', status: 'bogus' },
    ];
    await dropFile(drop, 'events.ndjson', ndjson.map((r) => JSON.stringify(r)).join('\n'));

    await waitFor('the good file in processed/', async () => (await listOrEmpty(join(drop, 'processed'))).includes('events.ndjson'));
    await waitFor('the bad file in failed/', async () => (await listOrEmpty(join(drop, 'failed'))).length === 2);
    assert.deepEqual(await list(join(drop, 'failed')), ['no-config.csv', 'no-config.csv.error.txt']);
    const errorText = await readFile(join(drop, 'failed', 'no-config.csv.error.txt'), 'utf8');
    assert.match(errorText, /configurationId/);
    assert.match(errorText, /no rows were imported/);
    assert.equal(
      await readFile(join(drop, 'failed', 'no-config.csv'), 'utf8'),
      'userStatusId,status\nuser-1,compliant\n',
      'the failed file is kept as it was',
    );

    // The refused file leaves no run behind; the NDJSON one is a normal run, rejected row included.
    const runs = await runsOf(t, 'bad-test');
    assert.equal(runs.length, 1, JSON.stringify(runs));
    assert.match(runs[0].source!, /events\.ndjson \(ndjson\)$/);
    assert.deepEqual([runs[0].total, runs[0].accepted, runs[0].rejected], [2, 1, 1]);
  });

  it('resumes a file a crashed worker left in processing/ under its run id, without sending a row twice', async () => {
    const t = await startTestEnv('sched-resume');
    cleanups.push(
      () => t.close(),
      () => rm(t.dir, { recursive: true, force: true }),
    );
    const drop = join(t.dir, 'drop');
    const claimedDir = join(drop, 'processing', 'resume-test');
    await mkdir(claimedDir, { recursive: true });
    const runId = 'sched-resume-test-20261120T100000000Z-left';
    const content = `${HEADER}\n${seededValidRows(t.sim, 5).join('\n')}\n`;
    // The crashed firing had admitted the first two rows before it died.
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    cleanups.push(() => queue.close());
    await importRun(store, queue, {
      runId,
      rows: readRows(Readable.from([`${HEADER}\n${validRows(2).join('\n')}\n`]), 'csv', createColumnMapper()),
      sourceLabel: 'schedule resume-test: left.csv (csv)',
      input: dropFileIdentity('resume-test', 'left.csv'),
    });
    await writeFile(join(claimedDir, `${runId}~left.csv`), content);

    assert.equal((await runCli(['schedule', 'add', 'resume-test', '--cron', EVERY_SECOND, '--dir', drop, '--settle', '0'], t.env)).code, 0);
    const importer = await startImporter(t);
    const patcher = await startInProcessWorker(t);
    cleanups.push(
      () => patcher.close(5000),
      () => importer.close(5000),
    );

    await waitFor('the resumed file in processed/', async () => (await listOrEmpty(join(drop, 'processed'))).includes('left.csv'));
    const status = await waitForRun(t.redis, t.prefix, runId, 30_000);
    assert.deepEqual([status.state, status.total, status.succeeded], ['completed', 5, 5]);
    assert.deepEqual(
      (await runsOf(t, 'resume-test')).map((r) => r.runId),
      [runId],
      'no second run for the same file',
    );
    assert.equal(t.sim.counters().requests, 5);
    assert.deepEqual(await list(claimedDir), []);
  });

  it('skips firings while another holds the schedule lock', async () => {
    const t = await startTestEnv('sched-lock');
    cleanups.push(
      () => t.close(),
      () => rm(t.dir, { recursive: true, force: true }),
    );
    const drop = join(t.dir, 'drop');
    await mkdir(drop);
    const lockKey = redisKeys(t.prefix).scheduleLock('lock-test');
    // As if another worker process were in the middle of a firing of this schedule.
    await t.redis.set(lockKey, 'another-worker', 'PX', 60_000);
    assert.equal((await runCli(['schedule', 'add', 'lock-test', '--cron', EVERY_SECOND, '--dir', drop, '--settle', '0'], t.env)).code, 0);
    const importer = await startImporter(t);
    cleanups.push(() => importer.close(5000));
    await dropFile(drop, 'waiting.csv', `${HEADER}\n${seededValidRows(t.sim, 2).join('\n')}\n`);

    await sleep(3000);
    assert.ok((await list(drop)).includes('waiting.csv'), 'no firing may take a file while the lock is held elsewhere');
    assert.deepEqual(await runsOf(t, 'lock-test'), []);
    assert.equal(await t.redis.get(lockKey), 'another-worker', "a skipped firing leaves the holder's lock alone");

    await t.redis.del(lockKey);
    await waitFor('the file in processed/ once the lock is free', async () =>
      (await listOrEmpty(join(drop, 'processed'))).includes('waiting.csv'),
    );
    assert.equal((await runsOf(t, 'lock-test')).length, 1);
  });

  it('schedule add validates up front; list shows what was added; add again updates; remove removes', async () => {
    const t = await startTestEnv('sched-cli');
    cleanups.push(
      () => t.close(),
      () => rm(t.dir, { recursive: true, force: true }),
    );

    // Independent refusals, run side by side to keep the test short.
    const [badCron, twoSources] = await Promise.all([
      runCli(['schedule', 'add', 'nightly', '--cron', '61 * * * *', '--dir', t.dir], t.env),
      runCli(
        ['schedule', 'add', 'nightly', '--cron', '0 3 * * *', '--dir', t.dir, '--from-postgres', PG_URL, '--query', 'select 1'],
        t.env,
      ),
    ]);
    assert.equal(badCron.code, 2);
    assert.match(badCron.stderr, /--cron "61 \* \* \* \*" is not a valid cron expression/);
    // The same checks `schedule add` makes before it connects, in-process to keep the test short.
    assert.throws(() => checkCron('every night'), /--cron "every night" has 2 field\(s\)/);
    assert.throws(() => checkCron('0 0 31 2 *'), ScheduleError);
    assert.throws(() => checkCron('0 3 * * *', 'Europe/Atlantis'), /"Europe\/Atlantis" is not a known IANA time zone/);
    assert.ok(checkCron('*/1 * * * * *', 'Europe/Berlin') - Date.now() <= 1000, 'a 6-field pattern counts seconds');
    assert.equal(twoSources.code, 2);
    assert.match(twoSources.stderr, /exactly one source/);

    const secretUrl = 'postgresql://postgres:pw-must-not-show@127.0.0.1:5432/test';
    const adds = await Promise.all([
      runCli(
        [
          'schedule',
          'add',
          'nightly',
          '--cron',
          '0 3 * * *',
          '--tz',
          'Europe/Berlin',
          '--dir',
          t.dir,
          '--map',
          'userStatusId=user_id',
          '--full',
        ],
        t.env,
      ),
      runCli(['schedule', 'add', 'from-db', '--cron', '*/15 * * * *', '--from-postgres', secretUrl, '--query', 'select * from x'], t.env),
    ]);
    for (const add of adds) assert.equal(add.code, 0, add.stderr);

    assert.match(adds[1].stdout, /^schedule from-db added: \*\/15 \* \* \* \*, next run .*; source: postgres /m);
    assert.match(adds[1].stdout, /source: postgres postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test query: select \* from x$/m);
    assert.ok(!adds[1].stdout.includes('pw-must-not-show'));

    const listed = await runCli(['schedule', 'list', '--json'], t.env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!listed.stdout.includes('pw-must-not-show'), listed.stdout);
    const schedules = lastJsonLine<Array<Record<string, unknown>>>(listed.stdout);
    assert.deepEqual(
      schedules.map((s) => [s.name, s.pattern, s.tz, s.source, s.full, s.map]),
      [
        ['from-db', '*/15 * * * *', undefined, 'postgres postgresql://postgres:***@127.0.0.1:5432/test query: select * from x', false, {}],
        ['nightly', '0 3 * * *', 'Europe/Berlin', `dir ${t.dir}`, true, { userStatusId: 'user_id' }],
      ],
    );
    for (const s of schedules) assert.ok(Date.parse(s.nextRun as string) > Date.now(), `next run of ${String(s.name)} is in the future`);

    const updated = await runCli(['schedule', 'add', 'nightly', '--cron', '30 4 * * *', '--dir', t.dir, '--json'], t.env);
    assert.equal(updated.code, 0, updated.stderr);
    const afterUpdate = lastJsonLine(updated.stdout);
    assert.deepEqual(
      [afterUpdate.updated, afterUpdate.pattern, afterUpdate.tz, afterUpdate.full, afterUpdate.map],
      [true, '30 4 * * *', undefined, false, {}],
    );

    // A schedule's next firing always waits as a delayed job; `worker --until-idle` must not wait for it.
    const idle = await runCli(['worker', '--until-idle'], t.env, undefined, 30_000);
    assert.equal(idle.code, 0, idle.stderr);

    const removed = await runCli(['schedule', 'remove', 'nightly'], t.env);
    assert.equal(removed.code, 0, removed.stderr);
    const [afterRemove, again] = await Promise.all([
      runCli(['schedule', 'list', '--json'], t.env),
      runCli(['schedule', 'remove', 'nightly'], t.env),
    ]);
    const names = lastJsonLine<Array<Record<string, unknown>>>(afterRemove.stdout).map((s) => s.name);
    assert.deepEqual(names, ['from-db'], 'the update replaced nightly rather than adding a second one, and remove deleted it');
    assert.equal(again.code, 4);
    assert.match(again.stderr, /no schedule named "nightly"/);
  });

  it(
    'worker --shutdown-timeout bounds a running scheduled import: SIGTERM exits at ' + 'the deadline, leaving the firing to recovery',
    async () => {
      const t = await startTestEnv('sched-close');
      cleanups.push(
        () => t.close(),
        () => rm(t.dir, { recursive: true, force: true }),
      );
      // 40 rows at 0.25 s each (the `g * 0` makes PostgreSQL sleep per row, not once): the cursor's first fetch alone
      // takes 10 s, far past the 300 ms deadline.
      const slowQuery =
        `select 'cfg-slow' as "configurationId", 'u' || g as "userStatusId", 'compliant' ` +
        `as status from generate_series(1, 40) g where pg_sleep(0.25 + g * 0)::text = ''`;
      const added = await runCli(
        ['schedule', 'add', 'slow', '--cron', EVERY_SECOND, '--from-postgres', PG_URL, '--query', slowQuery],
        t.env,
      );
      assert.equal(added.code, 0, added.stderr);
      const scheduleQueue = createScheduleQueue(t.redis, t.prefix);
      cleanups.push(() => scheduleQueue.close());
      const worker = spawnWorker(t.env, ['--shutdown-timeout', '300']);
      const exited = once(worker, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      cleanups.push(async () => worker.exitCode === null && worker.kill('SIGKILL'));
      await waitFor('the firing to start', async () => ((await scheduleQueue.getJobCounts('active')).active ?? 0) === 1);
      assert.equal((await runCli(['schedule', 'remove', 'slow'], t.env)).code, 0);

      worker.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
      // Before the fix, the worker waited for the running import to end; now it exits with the firing still active
      // (stalled-job recovery hands it to another worker) and its run, if its first chunk was read at all, unfinished.
      assert.equal((await scheduleQueue.getJobCounts('active')).active, 1, 'the import was still running when the worker exited');
      for (const run of await runsOf(t, 'slow')) assert.equal(run.importFinished, false);
    },
  );

  it('runs a PostgreSQL query on schedule as normal runs, without showing the password', async () => {
    const t = await startTestEnv('sched-pg');
    cleanups.push(
      () => t.close(),
      () => rm(t.dir, { recursive: true, force: true }),
    );
    const table = `csync_sched_${randomBytes(4).toString('hex')}`;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    cleanups.push(async () => {
      await client.query(`drop table if exists ${table}`);
      await client.end();
    });
    await client.query(
      `create table ${table} (configuration_id text, "userStatusId" text, status text, "lastReportedDateTime" timestamptz)`,
    );
    await client.query(
      `insert into ${table} values ('cfg-pg', 'user-pg-1', 'compliant', ` +
        `'2026-11-20T10:00:00Z'), ('cfg-pg', 'user-pg-2', 'nonCompliant', ` +
        `'2026-11-20T10:00:01Z'), ('cfg-pg', 'user-pg-3', 'remediated', null)`,
    );

    // Trust auth ignores the password; it is there to prove it never reaches a label or a listing.
    const url = PG_URL.replace('postgres@', 'postgres:pw-must-not-show@');
    const added = await runCli(
      [
        'schedule',
        'add',
        'pg-test',
        '--cron',
        EVERY_SECOND,
        '--from-postgres',
        url,
        '--query',
        `select * from ${table} order by "userStatusId"`,
        '--map',
        'configurationId=configuration_id',
      ],
      t.env,
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /password .* is stored in Redis/);

    seedGraph(t.sim, ['cfg-pg,user-pg-1', 'cfg-pg,user-pg-2', 'cfg-pg,user-pg-3']);
    const importer = await startImporter(t);
    const patcher = await startInProcessWorker(t);
    cleanups.push(
      () => patcher.close(5000),
      () => importer.close(5000),
    );

    const firstRun = await waitFor('a run of the postgres schedule', async () => (await runsOf(t, 'pg-test'))[0]);
    assert.equal((await runCli(['schedule', 'remove', 'pg-test'], t.env)).code, 0);
    const done = await waitForRun(t.redis, t.prefix, firstRun.runId, 30_000);
    assert.match(done.runId, /^sched-pg-test-\d{8}T\d{9}Z$/);
    assert.deepEqual([done.state, done.total, done.accepted, done.rejected], ['completed', 3, 3, 0]);
    assert.equal(done.source, `schedule pg-test: postgres postgresql://postgres:***@127.0.0.1:5432/test`);

    const state = t.sim.state();
    assert.equal(state['mobileAppConfigurations/cfg-pg/user-pg-1']?.status, 'compliant');
    assert.equal(state['mobileAppConfigurations/cfg-pg/user-pg-2']?.status, 'nonCompliant');
    assert.equal(state['mobileAppConfigurations/cfg-pg/user-pg-3']?.status, 'remediated');

    // Firings after the first (if any ran before the removal) found nothing new to send.
    for (const run of (await runsOf(t, 'pg-test')).slice(1)) {
      const status = await waitForRun(t.redis, t.prefix, run.runId, 30_000);
      assert.equal(status.total, 3);
    }
    const everything = JSON.stringify(await new ResultStore(t.redis, t.prefix).listRuns(1000));
    assert.ok(!everything.includes('pw-must-not-show'));
  });
});
