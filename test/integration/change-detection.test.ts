import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  HEADER,
  lastJsonLine,
  notOnCluster,
  runCli,
  seededValidRows,
  seedGraph,
  simKey,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import type { RunStatus } from '../../src/interfaces.js';
import { keyDigest, redisKeys } from '../../src/redis-layout.js';

async function importFile(t: TestEnv, path: string, args: string[] = []) {
  const res = await runCli(['import', path, '--json', ...args], t.env);
  assert.equal(res.code, 0, res.stderr);
  return lastJsonLine<{
    runId: string;
    rows: number;
    accepted: number;
    rejected: number;
    enqueued: number;
    unchanged: number;
    superseded: number;
    resumed: boolean;
  }>(res.stdout);
}

async function statusOf(t: TestEnv, runId: string): Promise<RunStatus> {
  return JSON.parse((await runCli(['status', runId, '--json'], t.env)).stdout) as RunStatus;
}

describe('change detection: only what changed is sent', () => {
  let t: TestEnv;
  let worker: PatchWorker;
  const rows = validRows(1000);
  before(async () => {
    t = await startTestEnv('diff');
    seedGraph(t.sim, rows);
    worker = await startInProcessWorker(t);
  });
  after(async () => {
    await worker.close();
    await t.close();
  });

  it('the same 1,000-row file twice gives 0 PATCHes the second time, all rows unchanged', async () => {
    const path = await writeTemp(t, 'day1.csv', `${HEADER}\n${rows.join('\n')}\n`);
    const first = await importFile(t, path);
    await waitForRun(t.redis, t.prefix, first.runId);
    assert.equal(t.sim.counters().requests, 1000);

    const second = await importFile(t, path);
    assert.deepEqual([second.rows, second.enqueued, second.unchanged], [1000, 0, 1000]);
    const status = await waitForRun(t.redis, t.prefix, second.runId);
    assert.deepEqual([status.state, status.unchanged, status.succeeded, status.pending], ['completed', 1000, 0, 0]);
    assert.equal(t.sim.counters().requests, 1000, 'no PATCH for unchanged rows');
    const report = (await runCli(['report', second.runId, '--state', 'unchanged', '--format', 'ndjson'], t.env)).stdout.trim().split('\n');
    assert.equal(report.length, 1000);
  });

  it('changing 37 rows gives exactly those 37 PATCHes', async () => {
    const changed = new Set(Array.from({ length: 37 }, (_, k) => k * 27 + 3));
    const edited = rows.map((line, i) => (changed.has(i) ? line.replace(`,User ${i},`, `,User ${i} (renamed),`) : line));
    const path = await writeTemp(t, 'day2.csv', `${HEADER}\n${edited.join('\n')}\n`);
    const before = t.sim.requestLog().length;
    const run = await importFile(t, path);
    assert.deepEqual([run.enqueued, run.unchanged], [37, 963]);
    await waitForRun(t.redis, t.prefix, run.runId);
    const sent = t.sim
      .requestLog()
      .slice(before)
      .filter((e) => e.method === 'PATCH');
    assert.equal(sent.length, 37);
    const sentKeys = new Set(sent.map((e) => e.path.replace(/^\/beta\/deviceAppManagement\//, '').replace('/userStatuses/', '/')));
    assert.deepEqual(sentKeys, new Set([...changed].map((i) => simKey(i))));
    assert.equal(t.sim.state()[simKey(3)].userDisplayName, 'User 3 (renamed)');
  });

  it('--dry-run diffs and sends nothing', async () => {
    const edited = rows.map((line, i) => (i < 5 ? line.replace(`,User ${i}`, `,Someone ${i}`) : line));
    const path = await writeTemp(
      t,
      'day3.csv',
      `${HEADER}\n${edited.join('\n')}\nnew-cfg,new-user,,N,1,compliant,2026-11-20T10:00:00Z,n@x\nbad,row\n`,
    );
    const before = t.sim.counters().requests;
    const runsBefore = await t.redis.zcard(`${t.prefix}:runs`);
    const res = await runCli(['import', path, '--dry-run', '--json'], t.env);
    assert.equal(res.code, 0, res.stderr);
    // Against Graph's day-2 state: rows 0-4 are renamed here, and the 37 renamed on day 2 are back to their old names (row 3 is both).
    assert.deepEqual(lastJsonLine(res.stdout), {
      dryRun: true,
      rows: 1002,
      new: 1,
      changed: 41,
      unchanged: 959,
      rejected: 1,
      stale: 0,
      accepted: 1001,
      enqueued: 42,
      superseded: 0,
    });
    assert.equal(t.sim.counters().requests, before);
    assert.equal(await t.redis.zcard(`${t.prefix}:runs`), runsBefore, 'a dry run creates no run');
  });

  it('--full sends unchanged rows too', async () => {
    const path = await writeTemp(t, 'small.csv', `${HEADER}\n${rows.slice(0, 10).join('\n')}\n`);
    // Whatever earlier tests left, one import makes Graph hold these values; a plain re-import then sends nothing.
    await waitForRun(t.redis, t.prefix, (await importFile(t, path)).runId);
    const plain = await importFile(t, path);
    assert.deepEqual([plain.enqueued, plain.unchanged], [0, 10]);
    const before = t.sim.counters().requests;
    const full = await importFile(t, path, ['--full']);
    assert.deepEqual([full.enqueued, full.unchanged], [10, 0]);
    assert.equal((await waitForRun(t.redis, t.prefix, full.runId)).succeeded, 10);
    assert.equal(t.sim.counters().requests - before, 10, 'each unchanged row was sent once more');
  });
});

describe('change detection: failures are always sent again', () => {
  it('a row that failed with 503 for its whole run is sent on the next import of an unchanged file', async () => {
    const t = await startTestEnv('diff503', { env: { SYNC_MAX_ROW_AGE_MS: '1500' } });
    const worker = await startInProcessWorker(t);
    try {
      const path = await writeTemp(t, 'e.csv', `${HEADER}\n${seededValidRows(t.sim, 10).join('\n')}\n`);
      t.sim.configure({ faults: { rate503: 1, retryAfter503Seconds: 0.2 } });
      const first = await importFile(t, path);
      const failedRun = await waitForRun(t.redis, t.prefix, first.runId, 30_000);
      assert.deepEqual([failedRun.failed, failedRun.succeeded], [10, 0]);
      const reason = JSON.parse(
        (await runCli(['report', first.runId, '--state', 'failed', '--format', 'ndjson'], t.env)).stdout.split('\n')[0],
      ).reason;
      // Handed back to BullMQ after the quick retries, the rows come back after the 1.5 s deadline: given up, and why.
      assert.match(
        reason,
        /^gave up: not sent within SYNC_MAX_ROW_AGE_MS \(1\.5 s\) of being queued(; last error: 503 ServiceUnavailable: .+)?$/,
      );

      t.sim.configure({ faults: { rate503: 0 } });
      const second = await importFile(t, path);
      assert.deepEqual([second.enqueued, second.unchanged], [10, 0], 'failed rows have no fingerprint, so they are not "unchanged"');
      const done = await waitForRun(t.redis, t.prefix, second.runId);
      assert.equal(done.succeeded, 10);
      assert.equal(Object.keys(t.sim.state()).length, 10);
    } finally {
      await worker.close();
      await t.close();
    }
  });
});

/** Deterministic shuffle, so a failure can be replayed. */
function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('newest wins', () => {
  it('shuffled duplicate updates, some in a later import, leave the newest values for every key', async () => {
    const t = await startTestEnv('newest');
    const worker = await startInProcessWorker(t, { concurrency: 16 });
    try {
      const keys = 150;
      const versions = 4;
      // Version v of key k: hour v, so the highest v is the newest; devicesCount carries v to check the winner.
      const updates = Array.from({ length: keys * versions }, (_, n) => {
        const k = n % keys;
        const v = Math.floor(n / keys);
        return { k, v, line: `cfg-${k % 5},user-${k},,User ${k} v${v},${v},compliant,2026-11-20T0${v}:00:00+00:00,u${k}@x` };
      });
      seedGraph(
        t.sim,
        updates.slice(0, keys).map((u) => u.line),
      );
      const mixed = shuffle(updates, 7);
      // The later import carries the newest version for half the keys and stale versions for others.
      const firstPart = mixed.filter((u, i) => i % 3 !== 0);
      const laterPart = mixed.filter((u, i) => i % 3 === 0);
      const first = await importFile(t, await writeTemp(t, 'a.csv', `${HEADER}\n${firstPart.map((u) => u.line).join('\n')}\n`));
      // The worker is already sending the first import while the second arrives.
      await new Promise((r) => setTimeout(r, 150));
      const second = await importFile(t, await writeTemp(t, 'b.csv', `${HEADER}\n${laterPart.map((u) => u.line).join('\n')}\n`));
      const s1 = await waitForRun(t.redis, t.prefix, first.runId);
      const s2 = await waitForRun(t.redis, t.prefix, second.runId);

      const state = t.sim.state();
      for (let k = 0; k < keys; k++) {
        const stored = state[`mobileAppConfigurations/cfg-${k % 5}/user-${k}`];
        assert.equal(stored?.devicesCount, versions - 1, `key ${k} holds v${String(stored?.devicesCount)}`);
      }
      assert.equal(t.sim.counters().staleWrites, 0);
      // Every update ended in exactly one state; only the winners (and some that landed before a newer one arrived) succeeded.
      assert.equal(s1.total + s2.total, keys * versions);
      assert.equal(s1.pending + s2.pending, 0);
      assert.equal(s1.failed + s2.failed, 0);
      assert.ok(s1.superseded + s2.superseded >= keys * (versions - 1) - (s1.succeeded + s2.succeeded - keys));
      assert.ok(t.sim.counters().requests < keys * versions, `${t.sim.counters().requests} PATCHes for ${keys * versions} updates`);

      const superseded = (await runCli(['report', second.runId, '--state', 'superseded', '--format', 'ndjson'], t.env)).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      for (const row of superseded) assert.match(row.supersededBy, /^[\w.-]+:\d+$/, 'a superseded row names the newer row');

      // An older update arriving in a third import is superseded at once and never sent.
      const requestsBefore = t.sim.counters().requests;
      const third = await importFile(
        t,
        await writeTemp(t, 'c.csv', `${HEADER}\ncfg-0,user-0,,Old,0,compliant,2026-11-19T00:00:00Z,u0@x\n`),
      );
      assert.equal(third.superseded, 1);
      assert.equal((await waitForRun(t.redis, t.prefix, third.runId)).superseded, 1);
      assert.equal(t.sim.counters().requests, requestsBefore);
    } finally {
      await worker.close();
      await t.close();
    }
  });

  it('within one file, equal times resolve to the later row', async () => {
    const t = await startTestEnv('newest-tie');
    try {
      seedGraph(t.sim, ['cfg,u,,First,1,compliant,2026-11-20T10:00:00Z,a@x']);
      const path = await writeTemp(
        t,
        'tie.csv',
        `${HEADER}\ncfg,u,,First,1,compliant,2026-11-20T10:00:00Z,a@x\ncfg,u,,Second,2,compliant,2026-11-20T10:00:00Z,a@x\n`,
      );
      const run = await importFile(t, path);
      const worker = await startInProcessWorker(t);
      await waitForRun(t.redis, t.prefix, run.runId);
      await worker.close();
      assert.equal(t.sim.state()['mobileAppConfigurations/cfg/u'].userDisplayName, 'Second');
      assert.equal(t.sim.counters().requests, 1, 'the replaced job was never sent');
    } finally {
      await t.close();
    }
  });
});

describe(
  'resumable import',
  notOnCluster('6,000 PATCHes through the admission scripts the other scenarios run; too slow for the cluster budget'),
  () => {
    it('an interrupted import, rerun with the same run id, ends with the same totals as an uninterrupted one', async () => {
      const t = await startTestEnv('resume');
      try {
        const rows = seededValidRows(t.sim, 3000);
        rows.splice(100, 0, 'bad,row');
        const path = await writeTemp(t, 'big.csv', `${HEADER}\n${rows.join('\n')}\n`);
        // Interrupt: SIGKILL the importer once it has admitted some rows (no worker runs meanwhile).
        const { spawn } = await import('node:child_process');
        const { BIN, REPO_ROOT } = await import('../support/harness.js');
        const child = spawn(process.execPath, [BIN, 'import', path, '--run-id', 'resume-me', '--chunk-size', '100'], {
          cwd: REPO_ROOT,
          env: { ...process.env, ...t.env },
          stdio: 'ignore',
        });
        const deadline = Date.now() + 20_000;
        let admitted = 0;
        while (Date.now() < deadline) {
          admitted = await t.redis.hlen(`${t.prefix}:run:resume-me:rows`);
          if (admitted >= 300) break;
          await new Promise((r) => setTimeout(r, 5));
        }
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const partial = await statusOf(t, 'resume-me');
        assert.ok(partial.total > 0 && partial.total < 3001, `interrupted after ${partial.total} rows`);
        assert.equal(partial.state, 'running', 'an interrupted import is not reported as done');

        const rerun = await importFile(t, path, ['--run-id', 'resume-me']);
        assert.equal(rerun.resumed, true);
        const worker = await startInProcessWorker(t);
        const resumed = await waitForRun(t.redis, t.prefix, 'resume-me');

        // The same file, uninterrupted, under another prefix.
        const u = await startTestEnv('resume-ref');
        seedGraph(u.sim, validRows(3000));
        const ref = await importFile(u, path);
        const refWorker = await startInProcessWorker(u);
        const refStatus = await waitForRun(u.redis, u.prefix, ref.runId);
        await refWorker.close();
        await u.close();
        await worker.close();

        const pick = (s: RunStatus) => ({
          total: s.total,
          accepted: s.accepted,
          rejected: s.rejected,
          enqueued: s.enqueued,
          succeeded: s.succeeded,
          failed: s.failed,
          state: s.state,
        });
        assert.deepEqual(pick(resumed), pick(refStatus));
        assert.deepEqual([rerun.rows, rerun.accepted, rerun.rejected, rerun.enqueued], [3001, 3000, 1, 3000]);
        assert.equal(t.sim.counters().requests, 3000, 'no row was sent twice');
      } finally {
        await t.close();
      }
    });
  },
);

describe('PostgreSQL source', notOnCluster('another source of the same rows; nothing on the Redis side differs from CSV'), () => {
  const table = `csync_test_${process.pid}_${Date.now()}`;
  const url = 'postgres://postgres@127.0.0.1:5432/test';
  let db: pg.Client;
  before(async () => {
    db = new pg.Client({ connectionString: url });
    await db.connect();
    await db.query(
      `CREATE TABLE ${table} (seq int, config_id text, user_status_id text, ` +
        `display_name text, devices int, state text, reported timestamptz, upn text)`,
    );
  });
  after(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  });

  it('gives the same result as the same rows in CSV', async () => {
    const rows = validRows(500, { configs: 5 }).map((l) => l.split(','));
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      const values = chunk
        .map((_, j) => `($${j * 8 + 1},$${j * 8 + 2},$${j * 8 + 3},$${j * 8 + 4},$${j * 8 + 5},$${j * 8 + 6},$${j * 8 + 7},$${j * 8 + 8})`)
        .join(',');
      await db.query(
        `INSERT INTO ${table} VALUES ${values}`,
        chunk.flatMap((c, j) => [i + j, c[0], c[1], c[3], Number(c[4]), c[5], c[6], c[7]]),
      );
    }
    // Only mobileAppConfiguration rows here (the column is absent), so compare against the same CSV rows with the type column blank.
    const csvRows = rows.map((c) => [c[0], c[1], '', c[3], c[4], c[5], c[6], c[7]].join(','));

    const fromCsv = await startTestEnv('pg-csv');
    const fromPg = await startTestEnv('pg-src');
    seedGraph(fromCsv.sim, csvRows);
    seedGraph(fromPg.sim, csvRows);
    try {
      const csvRun = await importFile(fromCsv, await writeTemp(fromCsv, 'same.csv', `${HEADER}\n${csvRows.join('\n')}\n`));
      const res = await runCli(
        [
          'import',
          '--from-postgres',
          url,
          '--query',
          `SELECT config_id, user_status_id, display_name, devices, state, reported, upn FROM ${table} ORDER BY seq`,
          '--json',
          '--map',
          'configurationId=config_id',
          '--map',
          'userStatusId=user_status_id',
          '--map',
          'userDisplayName=display_name',
          '--map',
          'devicesCount=devices',
          '--map',
          'status=state',
          '--map',
          'lastReportedDateTime=reported',
          '--map',
          'userPrincipalName=upn',
        ],
        fromPg.env,
      );
      assert.equal(res.code, 0, res.stderr);
      const pgRun = lastJsonLine<{ runId: string; rows: number; accepted: number }>(res.stdout);
      assert.deepEqual([pgRun.rows, pgRun.accepted], [500, 500]);
      for (const [t, runId] of [
        [fromCsv, csvRun.runId],
        [fromPg, pgRun.runId],
      ] as const) {
        const w = await startInProcessWorker(t);
        await waitForRun(t.redis, t.prefix, runId);
        await w.close();
      }
      // timestamptz comes back as an ISO instant in UTC with milliseconds: same instant, other spelling.
      const normalise = (state: Record<string, Record<string, unknown>>) =>
        Object.fromEntries(
          Object.entries(state).map(([k, v]) => [
            k,
            { ...v, lastReportedDateTime: new Date(String(v.lastReportedDateTime)).toISOString() },
          ]),
        );
      assert.equal(Object.keys(fromPg.sim.state()).length, 500);
      assert.deepEqual(normalise(fromPg.sim.state()), normalise(fromCsv.sim.state()));
    } finally {
      await fromCsv.close();
      await fromPg.close();
    }
  });

  it('an unreachable database exits 1 with a clear message', async () => {
    const t = await startTestEnv('pg-down');
    try {
      const res = await runCli(['import', '--from-postgres', 'postgres://postgres:pw@127.0.0.1:1/test', '--query', 'select 1'], t.env);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /PostgreSQL is unreachable/);
      assert.ok(!res.stderr.includes(':pw@'));
    } finally {
      await t.close();
    }
  });
});

describe('change detection over the hashes of a release before key digests', () => {
  it('full-key entries are still found, decide as before, and move to their digest field when a script touches their key', async () => {
    const t = await startTestEnv('legacy-fields');
    const latestKey = redisKeys(t.prefix).latest;
    const fpKey = redisKeys(t.prefix).fingerprints;
    // The change-detection key of validRows' row i.
    const keyOf = (i: number) => `${i % 4 === 0 ? 'iosLobAppProvisioningConfiguration' : 'mobileAppConfiguration'}/cfg-${i % 7}/user-${i}`;
    const send = async (...runIds: string[]) => {
      const worker = await startInProcessWorker(t);
      try {
        for (const runId of runIds) assert.equal((await waitForRun(t.redis, t.prefix, runId)).state, 'completed');
      } finally {
        await worker.close();
      }
    };
    const csv = (rows: string[]) => `${HEADER}\n${rows.join('\n')}\n`;
    const day20 = seededValidRows(t.sim, 5);
    try {
      // Rows 0-3 sent, then row 4 changed and left waiting: what an upgrade finds.
      const sent = await importFile(t, await writeTemp(t, 'sent.csv', csv(day20.slice(0, 4))));
      await send(sent.runId);
      const waiting = await importFile(t, await writeTemp(t, 'waiting.csv', csv([day20[4]])));
      assert.equal(waiting.enqueued, 1);
      // Rewrite both hashes as the previous release wrote them: the full key as the field.
      const legacy: Record<string, { latest: string | null; fp: string | null }> = {};
      for (let i = 0; i < 5; i++) {
        const key = keyOf(i);
        legacy[key] = { latest: await t.redis.hget(latestKey, keyDigest(key)), fp: await t.redis.hget(fpKey, keyDigest(key)) };
        for (const [hash, value] of [
          [latestKey, legacy[key].latest],
          [fpKey, legacy[key].fp],
        ] as const) {
          if (value === null) continue;
          await t.redis.hset(hash, key, value);
          await t.redis.hdel(hash, keyDigest(key));
        }
      }
      assert.deepEqual((await t.redis.hkeys(latestKey)).sort(), [0, 1, 2, 3, 4].map(keyOf).sort());
      assert.deepEqual((await t.redis.hkeys(fpKey)).sort(), [0, 1, 2, 3].map(keyOf).sort(), 'row 4 was never sent');
      const snapshot = async () => [await t.redis.hgetall(latestKey), await t.redis.hgetall(fpKey)];
      const seeded = await snapshot();

      // Row 0 unchanged, row 1 older than what was sent, row 2 changed and newer.
      const day2 = await writeTemp(t, 'day2.csv', csv([day20[0], validRows(2, { day: 19 })[1], validRows(3, { day: 21 })[2]]));
      const dry = await runCli(['import', day2, '--dry-run', '--json'], t.env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(lastJsonLine(dry.stdout), {
        dryRun: true,
        rows: 3,
        new: 0,
        changed: 1,
        unchanged: 1,
        rejected: 0,
        stale: 1,
        accepted: 3,
        enqueued: 1,
        superseded: 1,
      });
      assert.deepEqual(await snapshot(), seeded, 'a dry run only reads');

      const requestsBefore = t.sim.counters().requests;
      const run = await importFile(t, day2);
      assert.deepEqual([run.unchanged, run.superseded, run.enqueued], [1, 1, 1]);
      await send(run.runId, waiting.runId);
      assert.equal(t.sim.counters().requests - requestsBefore, 2, 'the changed row and the waiting one, nothing else');
      assert.equal(t.sim.state()[simKey(2)].lastReportedDateTime, '2026-11-21T10:00:02.0000000Z');
      assert.equal(t.sim.state()[simKey(1)].lastReportedDateTime, '2026-11-20T10:00:01.0000000Z', 'the older row was not sent');
      assert.equal(t.sim.state()[simKey(4)].userDisplayName, 'User 4');

      for (const i of [0, 1, 2, 4]) {
        const key = keyOf(i);
        assert.equal(await t.redis.hexists(latestKey, key), 0, `no full-key entry of row ${i} in P:latest`);
        assert.equal(await t.redis.hexists(fpKey, key), 0, `no full-key entry of row ${i} in P:fingerprints`);
      }
      for (const i of [0, 1]) {
        assert.equal(
          await t.redis.hget(latestKey, keyDigest(keyOf(i))),
          legacy[keyOf(i)].latest,
          `row ${i}'s newest update moved as it was`,
        );
        assert.equal(await t.redis.hget(fpKey, keyDigest(keyOf(i))), legacy[keyOf(i)].fp);
      }
      const latest2 = (await t.redis.hget(latestKey, keyDigest(keyOf(2))))!;
      assert.match(latest2, new RegExp(`^[^|]+\\|${run.runId}\\|\\d+$`), "the changed row is row 2's newest update");
      const fp2 = (await t.redis.hget(fpKey, keyDigest(keyOf(2))))!;
      assert.equal(fp2.split('|')[1], latest2.split('|')[0], 'its successful PATCH is what Graph holds');
      assert.notEqual(fp2, legacy[keyOf(2)].fp);
      assert.equal(
        await t.redis.hget(latestKey, keyDigest(keyOf(4))),
        legacy[keyOf(4)].latest,
        'the waiting row was sent as the newest update',
      );
      assert.equal((await t.redis.hget(fpKey, keyDigest(keyOf(4))))!.split('|')[1], legacy[keyOf(4)].latest!.split('|')[0]);
      assert.equal(await t.redis.hget(latestKey, keyOf(3)), legacy[keyOf(3)].latest, 'an untouched key keeps its full-key entry');

      // What Graph holds now, row 3 included (still a full-key entry): all unchanged, and every entry under its digest.
      const again = await importFile(t, await writeTemp(t, 'again.csv', csv([day20[0], validRows(3, { day: 21 })[2], day20[3], day20[4]])));
      assert.deepEqual([again.unchanged, again.enqueued], [4, 0]);
      const digests = [0, 1, 2, 3, 4].map((i) => keyDigest(keyOf(i))).sort();
      assert.deepEqual((await t.redis.hkeys(latestKey)).sort(), digests);
      assert.deepEqual((await t.redis.hkeys(fpKey)).sort(), digests);
      assert.equal(t.sim.counters().requests - requestsBefore, 2);
    } finally {
      await t.close();
    }
  });
});
