import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  HEADER,
  lastJsonLine,
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
import type { DriftChange } from '../../src/simulator/index.js';

type ImportSummary = {
  runId: string;
  rows: number;
  accepted: number;
  rejected: number;
  enqueued: number;
  unchanged: number;
  superseded: number;
};

async function importFile(t: TestEnv, path: string, args: string[] = [], env: Record<string, string> = {}): Promise<ImportSummary> {
  const res = await runCli(['import', path, '--json', ...args], { ...t.env, ...env });
  assert.equal(res.code, 0, res.stderr);
  return lastJsonLine<ImportSummary>(res.stdout);
}

/** What the simulator must hold for row i of validRows, as a change made behind the client's back. */
function heldBy(line: string, override: Record<string, unknown> = {}): DriftChange {
  const [configId, userStatusId, type, userDisplayName, devicesCount, status, lastReportedDateTime, userPrincipalName] = line.split(',');
  const collection = type === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations';
  return {
    collection,
    configId,
    userStatusId,
    values: { userDisplayName, devicesCount: Number(devicesCount), status, lastReportedDateTime, userPrincipalName, ...override },
  };
}

const patchedKeys = (t: TestEnv, from: number) =>
  new Set(
    t.sim
      .requestLog()
      .slice(from)
      .filter((e) => e.method === 'PATCH')
      .map((e) => e.path.replace(/^\/beta\/deviceAppManagement\//, '').replace('/userStatuses/', '/')),
  );

describe('Graph as the source of truth: import --reconcile, verify', () => {
  let t: TestEnv;
  let worker: PatchWorker;
  const rows = validRows(1000);
  // 30 rows Graph does not hold: 15 it lacks entirely, 15 it holds with another display name.
  const absent = new Set(Array.from({ length: 15 }, (_, k) => k * 61 + 5));
  const different = new Set(Array.from({ length: 15 }, (_, k) => k * 61 + 36));
  const drifted = [2, 111, 402, 777, 998];

  before(async () => {
    // listNulls: [] is kinder than Intune (whose listings give null UPNs): this suite is about what is judged and sent,
    // and ~1,000 GETs to confirm the nulls would take ~25 s per read at SYNC_READ_RATE_LIMIT. judging.test.ts shows nulls.
    t = await startTestEnv('reconcile', { sim: { listNulls: [] } });
    worker = await startInProcessWorker(t);
  });
  after(async () => {
    await worker.close();
    await t.close();
  });

  it(
    'with Graph holding 970 of 1,000 rows as they are, 15 otherwise and lacking 15, ' +
      'import --reconcile sends exactly those 15, fails the 15 it lacks without a ' +
      'PATCH, and verify finds 985 matching',
    async () => {
      t.sim.drift(
        rows.flatMap((line, i) =>
          absent.has(i) ? [] : [heldBy(line, different.has(i) ? { userDisplayName: 'Renamed in the portal' } : {})],
        ),
      );
      assert.equal(Object.keys(t.sim.state()).length, 985);
      assert.equal(await t.redis.exists(`${t.prefix}:fingerprints`), 0, 'the prefix starts empty');

      const path = await writeTemp(t, 'tenant.csv', `${HEADER}\n${rows.join('\n')}\n`);
      const run = await importFile(t, path, ['--reconcile']);
      assert.deepEqual([run.rows, run.enqueued, run.unchanged], [1000, 15, 970]);
      const status = await waitForRun(t.redis, t.prefix, run.runId);
      assert.deepEqual([status.state, status.succeeded, status.unchanged, status.failed], ['completed_with_errors', 15, 970, 15]);
      assert.equal(t.sim.counters().requests, 15, 'exactly 15 PATCHes: PATCH cannot create the 15 Graph lacks');
      assert.deepEqual(patchedKeys(t, 0), new Set([...different].map((i) => simKey(i))));
      // Each configuration (7 ids × 2 types here) was read once, in one page each.
      assert.equal(t.sim.counters().reads, 14);

      const unchanged = (await runCli(['report', run.runId, '--state', 'unchanged', '--format', 'ndjson'], t.env)).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(unchanged.length, 970);
      assert.match(unchanged[0].reason, /^unchanged: Graph held these values when its state was read at \d{4}-\d{2}-\d{2}T[\d:.]+Z$/);

      const verify = await runCli(['verify', run.runId, '--json'], t.env);
      assert.equal(verify.code, 0, verify.stderr);
      assert.deepEqual(lastJsonLine(verify.stdout), {
        runId: run.runId,
        checked: 985,
        matching: 985,
        drifted: 0,
        missing: 0,
        overridden: 0,
      });
    },
  );

  let firstRun: string;
  it(
    'after 5 values change in Graph, verify reports 5 drifted, exits 5, and report ' + '--state drifted names them with both values',
    async () => {
      firstRun = (await t.redis.zrevrange(`${t.prefix}:runs`, 0, 0))[0];
      t.sim.drift(drifted.map((i) => heldBy(rows[i], { status: 'error', devicesCount: 42 })));
      const verify = await runCli(['verify', firstRun, '--json'], t.env);
      assert.equal(verify.code, 5, verify.stderr);
      assert.deepEqual(lastJsonLine(verify.stdout), {
        runId: firstRun,
        checked: 985,
        matching: 980,
        drifted: 5,
        missing: 0,
        overridden: 0,
      });

      const report = await runCli(['report', firstRun, '--state', 'drifted', '--format', 'ndjson'], t.env);
      assert.equal(report.code, 0, report.stderr);
      const lines = report.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => l.line),
        drifted.map((i) => i + 2),
      );
      assert.deepEqual(
        lines.map((l) => l.key.split('/').pop()),
        drifted.map((i) => `user-${i}`),
      );
      const first = lines[0];
      assert.equal(JSON.parse(first.sent).devicesCount, 2 % 5);
      assert.deepEqual([JSON.parse(first.graph).status, JSON.parse(first.graph).devicesCount], ['error', 42]);
      assert.equal(first.drift, 'drifted');
      const csv = await runCli(['report', firstRun, '--state', 'drifted'], t.env);
      assert.match(csv.stdout.split('\n')[0], /,drift,differs,sent,graph,graphReadAt$/);
      assert.equal(csv.stdout.trim().split('\n').length, 6);
    },
  );

  it('import --reconcile then sends exactly those 5, and a plain import of the same file sends 0', async () => {
    const path = await writeTemp(t, 'tenant-again.csv', `${HEADER}\n${rows.join('\n')}\n`);
    const before = t.sim.requestLog().length;
    const again = await importFile(t, path, ['--reconcile']);
    // The 15 Graph lacks are failed again without a PATCH (see judging.test.ts).
    assert.deepEqual([again.enqueued, again.unchanged], [5, 980]);
    await waitForRun(t.redis, t.prefix, again.runId);
    assert.deepEqual(patchedKeys(t, before), new Set(drifted.map((i) => simKey(i))));
    for (const i of drifted) assert.equal(t.sim.state()[simKey(i)].devicesCount, i % 5);

    const requests = t.sim.counters().requests;
    const plain = await importFile(t, path);
    assert.deepEqual([plain.enqueued, plain.unchanged], [0, 985]);
    await waitForRun(t.redis, t.prefix, plain.runId);
    assert.equal(t.sim.counters().requests, requests, 'no PATCH');
  });
});

describe('import --reconcile: sources, refusals and reads', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  async function env(name: string, options: Parameters<typeof startTestEnv>[1] = {}): Promise<TestEnv> {
    const t = await startTestEnv(name, options);
    cleanups.push(() => t.close());
    return t;
  }

  it("fails the rows of a configuration Graph answers 404 for, without a PATCH, naming Graph's reason", async () => {
    const t = await env('rec-404', { sim: { missingConfigurations: ['cfg-1'] } });
    const rows = seededValidRows(t.sim, 14, { configs: 2 });
    const run = await importFile(t, await writeTemp(t, 'gone.csv', `${HEADER}\n${rows.join('\n')}\n`), ['--reconcile']);
    assert.deepEqual([run.accepted, run.enqueued], [14, 7]);
    const failed = (await runCli(['report', run.runId, '--state', 'failed', '--format', 'ndjson'], t.env)).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(failed.length, 7);
    assert.ok(
      failed.every((r) => r.key.split('/')[1] === 'cfg-1' && r.httpStatus === 404),
      JSON.stringify(failed[0]),
    );
    assert.match(
      failed[0].reason,
      /^not sent: Graph has no such configuration \(404 ResourceNotFound: The .* with id 'cfg-1' was not found\.; read at .*Z\)$/,
    );
    const worker = await startInProcessWorker(t);
    cleanups.push(() => worker.close());
    const status = await waitForRun(t.redis, t.prefix, run.runId);
    assert.deepEqual([status.state, status.failed, status.succeeded], ['completed_with_errors', 7, 7]);
    assert.equal(t.sim.counters().requests, 7, 'no PATCH for the missing configuration');
    assert.ok(
      t.sim
        .requestLog()
        .filter((e) => e.method === 'PATCH')
        .every((e) => !e.path.includes('/cfg-1/')),
    );
  });

  it('rejects iosLobAppProvisioningConfiguration rows at import under GRAPH_API_VERSION=v1.0, saying why', async () => {
    const t = await env('rec-v1');
    const rows = validRows(8);
    const run = await importFile(t, await writeTemp(t, 'v1.csv', `${HEADER}\n${rows.join('\n')}\n`), [], { GRAPH_API_VERSION: 'v1.0' });
    assert.deepEqual([run.rejected, run.enqueued], [2, 6]);
    const rejected = (
      await runCli(['report', run.runId, '--state', 'rejected', '--format', 'ndjson'], { ...t.env, GRAPH_API_VERSION: 'v1.0' })
    ).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rejected.map((r) => r.line),
      [2, 6],
    );
    assert.match(rejected[0].reason, /^column configurationType: iosLobAppProvisioningConfiguration does not exist in Graph v1\.0/);
  });

  it(
    'works with NDJSON and PostgreSQL, reuses a fresh snapshot instead of reading ' +
      'again, and reads again once it is older than SYNC_SNAPSHOT_MAX_AGE',
    async () => {
      // listNulls: [] is kinder than Intune: this test counts listing pages, not the GETs that confirm nulls (judging.test.ts).
      const t = await env('rec-src', { sim: { listNulls: [] } });
      const rows = validRows(40, { configs: 2 });
      t.sim.drift(rows.slice(0, 30).map((l) => heldBy(l)));
      seedGraph(t.sim, rows.slice(30));
      const ndjson = rows
        .map((l) => {
          const [
            configurationId,
            userStatusId,
            configurationType,
            userDisplayName,
            devicesCount,
            status,
            lastReportedDateTime,
            userPrincipalName,
          ] = l.split(',');
          return JSON.stringify({
            configurationId,
            userStatusId,
            configurationType,
            userDisplayName,
            devicesCount: Number(devicesCount),
            status,
            lastReportedDateTime,
            userPrincipalName,
          });
        })
        .join('\n');
      const first = await importFile(t, await writeTemp(t, 'rows.ndjson', `${ndjson}\n`), ['--reconcile']);
      assert.deepEqual([first.enqueued, first.unchanged], [10, 30]);
      const reads = t.sim.counters().reads;
      assert.equal(reads, 3, 'one page per configuration (cfg-0 and cfg-1, and iOS rows only on cfg-0)');

      const { default: pg } = await import('pg');
      const db = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
      await db.connect();
      const table = `csync_rec_${process.pid}_${Date.now()}`;
      cleanups.push(async () => {
        await db.query(`DROP TABLE IF EXISTS ${table}`);
        await db.end();
      });
      await db.query(
        `CREATE TABLE ${table} (line int, "configurationId" text, "userStatusId" text, ` +
          `"configurationType" text, "userDisplayName" text, "devicesCount" int, status ` +
          `text, "lastReportedDateTime" text, "userPrincipalName" text)`,
      );
      for (const [i, l] of rows.entries()) await db.query(`INSERT INTO ${table} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, [i, ...l.split(',')]);
      const query =
        `select "configurationId","userStatusId","configurationType","userDisplayName","devicesCount",status,` +
        `"lastReportedDateTime","userPrincipalName" ` +
        `from ${table} order by line`;
      const res = await runCli(
        ['import', '--from-postgres', 'postgres://postgres@127.0.0.1:5432/test', '--query', query, '--reconcile', '--json'],
        t.env,
      );
      assert.equal(res.code, 0, res.stderr);
      // Nothing was sent in between: the 10 rows Graph holds otherwise are still queued (superseded by these), the 30 held ones unchanged.
      const fromPg = lastJsonLine<ImportSummary>(res.stdout);
      assert.deepEqual([fromPg.enqueued, fromPg.unchanged], [10, 30]);
      assert.equal(t.sim.counters().reads, reads, 'the snapshots were reused');

      const stale = await runCli(['import', await writeTemp(t, 'again.ndjson', `${ndjson}\n`), '--reconcile', '--json'], {
        ...t.env,
        SYNC_SNAPSHOT_MAX_AGE: '1ms',
      });
      assert.equal(stale.code, 0, stale.stderr);
      assert.equal(t.sim.counters().reads, reads + 3, 'older than SYNC_SNAPSHOT_MAX_AGE: read again');
    },
  );

  it(
    'a second import --reconcile within SYNC_SNAPSHOT_MAX_AGE does not send again ' + 'what the first one sent after reading Graph',
    async () => {
      const t = await env('rec-twice');
      const rows = validRows(20, { configs: 2 });
      t.sim.drift(rows.slice(0, 12).map((l) => heldBy(l)));
      seedGraph(t.sim, rows.slice(12));
      const path = await writeTemp(t, 'twice.csv', `${HEADER}\n${rows.join('\n')}\n`);
      const first = await importFile(t, path, ['--reconcile']);
      assert.deepEqual([first.enqueued, first.unchanged], [8, 12]);
      const worker = await startInProcessWorker(t);
      cleanups.push(() => worker.close());
      await waitForRun(t.redis, t.prefix, first.runId);
      assert.equal(t.sim.counters().requests, 8);
      const reads = t.sim.counters().reads;

      const second = await importFile(t, path, ['--reconcile']);
      assert.deepEqual([second.enqueued, second.unchanged], [0, 20]);
      await waitForRun(t.redis, t.prefix, second.runId);
      assert.equal(t.sim.counters().requests, 8, 'nothing sent twice');
      assert.equal(t.sim.counters().reads, reads, 'the snapshots were reused');
    },
  );

  it("paces reads on SYNC_READ_RATE_LIMIT and waits out Graph's 429s on reads, losing nothing", async () => {
    // listNulls: [] is kinder than Intune: this test counts listing pages, not the GETs that confirm nulls (judging.test.ts).
    const t = await env('rec-429', {
      sim: {
        anyBudget: { perApp: { limit: 3, windowMs: 1000 }, perTenant: { limit: 1000, windowMs: 1000 } },
        pageSize: 5,
        maxPageSize: 5,
        listNulls: [],
      },
    });
    const rows = validRows(60, { configs: 1 });
    t.sim.drift(rows.map((l) => heldBy(l)));
    // 45 mobileAppConfiguration rows in pages of 5, 15 iOS rows in 3: 12 pages; the budget claims 20/s, Graph allows 3/s.
    const started = Date.now();
    const run = await importFile(t, await writeTemp(t, 'paged.csv', `${HEADER}\n${rows.join('\n')}\n`), ['--reconcile'], {
      SYNC_READ_RATE_LIMIT: '20/s',
    });
    assert.deepEqual([run.unchanged, run.enqueued], [60, 0]);
    const c = t.sim.counters();
    assert.ok((c.readsByStatus['429'] ?? 0) >= 1, `expected 429s on reads: ${JSON.stringify(c.readsByStatus)}`);
    assert.equal(c.readsByStatus['200'], 12);
    // 12 reads at 3/s after a burst of 3 take at least 3 s.
    assert.ok(Date.now() - started >= 2500);
    const budget = await t.redis.hgetall(`${t.prefix}:budget:read`);
    assert.ok(Number(budget.epoch) >= 1, 'the 429 paused the read budget');
    assert.equal(await t.redis.exists(`${t.prefix}:budget`), 0, 'the write budget was not touched');
  });

  it("records a 204 No Content PATCH as succeeded, with the client-request-id sent beside Graph's request-id", async () => {
    const t = await env('rec-204', { sim: { patchNoContent: true } });
    const run = await importFile(t, await writeTemp(t, 'nc.csv', `${HEADER}\n${seededValidRows(t.sim, 3).join('\n')}\n`));
    const worker = await startInProcessWorker(t);
    cleanups.push(() => worker.close());
    const status = await waitForRun(t.redis, t.prefix, run.runId);
    assert.deepEqual([status.succeeded, status.failed], [3, 0]);
    const rows = (await runCli(['report', run.runId, '--format', 'ndjson'], t.env)).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const sent = t.sim.requestLog().filter((e) => e.method === 'PATCH');
    assert.equal(sent.length, 3);
    for (const row of rows) {
      assert.equal(row.httpStatus, 204);
      assert.match(row.clientRequestId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.match(row.requestId, /^[0-9a-f-]{36}$/);
      assert.notEqual(row.clientRequestId, row.requestId);
    }
    assert.deepEqual(new Set(sent.map((e) => e.clientRequestId)), new Set(rows.map((r) => r.clientRequestId)));
    assert.ok(sent.every((e) => e.accept === 'application/json'));
    const csv = (await runCli(['report', run.runId], t.env)).stdout.split('\n')[0];
    assert.equal(csv, 'line,key,state,httpStatus,attempts,reason,requestId,finishedAt,supersededBy,clientRequestId');
  });

  it('refuses to follow an @odata.nextLink to another host or path, and fails the import saying so', async () => {
    const { createServer } = await import('node:http');
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      res.setHeader('content-type', 'application/json');
      const port = (server.address() as { port: number }).port;
      // cfg-1 lists a nextLink to another host; cfg-2 one on the same host but another path.
      const nextLink = req.url!.includes('/cfg-1/')
        ? 'http://169.254.169.254/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses?$skiptoken=x'
        : `http://127.0.0.1:${port}/beta/users?$skiptoken=x`;
      res.end(JSON.stringify({ value: [], '@odata.nextLink': nextLink }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const t = await env('rec-link');
    const port = (server.address() as { port: number }).port;
    const res = await runCli(
      ['import', await writeTemp(t, 'one.csv', `${HEADER}\n${validRows(1, { offset: 1 }).join('\n')}\n`), '--reconcile'],
      { ...t.env, GRAPH_BASE_URL: `http://127.0.0.1:${port}` },
    );
    assert.equal(res.code, 1);
    assert.match(res.stderr, /refusing to follow @odata\.nextLink to http:\/\/169\.254\.169\.254/);
    assert.equal(hits, 1);
    const samePort = await runCli(
      ['import', await writeTemp(t, 'two.csv', `${HEADER}\n${validRows(1, { offset: 2 }).join('\n')}\n`), '--reconcile'],
      { ...t.env, GRAPH_BASE_URL: `http://127.0.0.1:${port}` },
    );
    assert.equal(samePort.code, 1);
    assert.match(samePort.stderr, /refusing to follow @odata\.nextLink to http:\/\/127\.0\.0\.1:\d+\/beta\/users: not /);
    assert.match(
      samePort.stderr,
      /: not http:\/\/127\.0\.0\.1:\d+\/beta\/deviceAppManagement\/mobileAppConfigurations\/cfg-2\/userStatuses/,
    );
    assert.equal(hits, 2);
  });
});

describe('schedule add --reconcile --verify', () => {
  it('verifies each scheduled run when it completes and raises the drifted alert when Graph no longer holds rows', async () => {
    const { default: Fastify } = await import('fastify');
    const { mkdir, rename, writeFile, readdir } = await import('node:fs/promises');
    const { spawnWorker } = await import('../support/harness.js');
    const alerts: { event: string; runId: string; verify?: Record<string, number> }[] = [];
    const hook = Fastify();
    hook.post('/alerts', async (req, reply) => {
      alerts.push(req.body as (typeof alerts)[number]);
      return reply.code(204).send();
    });
    await hook.listen({ port: 0, host: '127.0.0.1' });
    const t = await startTestEnv('rec-sched', {
      env: { SYNC_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(hook.server.address() as { port: number }).port}/alerts` },
    });
    let worker: ReturnType<typeof spawnWorker> | undefined;
    try {
      const rows = validRows(20, { configs: 2 });
      t.sim.drift(rows.map((l) => heldBy(l)));
      const path = await writeTemp(t, 'seed.csv', `${HEADER}\n${rows.join('\n')}\n`);
      // Reading Graph now leaves snapshots that the scheduled run will reuse (SYNC_SNAPSHOT_MAX_AGE is 15 min by default)...
      const seeded = await importFile(t, path, ['--reconcile']);
      assert.equal(seeded.unchanged, 20);
      // ...so two values changed afterwards go unnoticed by the import, and only the verify after the run finds them.
      t.sim.drift([heldBy(rows[3], { status: 'error', devicesCount: 99 }), heldBy(rows[8], { userDisplayName: 'Changed in the portal' })]);

      const drop = join(t.dir, 'drop');
      await mkdir(drop);
      const added = await runCli(
        ['schedule', 'add', 'nightly', '--cron', '* * * * * *', '--dir', drop, '--reconcile', '--verify', '--settle', '100'],
        t.env,
      );
      assert.equal(added.code, 0, added.stderr);
      const listed = await runCli(['schedule', 'list', '--json'], t.env);
      assert.deepEqual(
        [
          lastJsonLine<{ reconcile: boolean; verify: boolean }[]>(listed.stdout)[0].reconcile,
          lastJsonLine<{ reconcile: boolean; verify: boolean }[]>(listed.stdout)[0].verify,
        ],
        [true, true],
      );

      worker = spawnWorker(t.env);
      await writeFile(join(drop, 'day.csv.tmp'), `${HEADER}\n${rows.join('\n')}\n`);
      await rename(join(drop, 'day.csv.tmp'), join(drop, 'day.csv'));

      const deadline = Date.now() + 30_000;
      while (!alerts.some((a) => a.event === 'drifted') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const drifted = alerts.find((a) => a.event === 'drifted');
      assert.ok(
        drifted,
        `no drifted alert; got ${JSON.stringify(alerts.map((a) => a.event))}; drop folder ${JSON.stringify(await readdir(drop))}`,
      );
      assert.match(drifted.runId, /^sched-nightly-/);
      assert.deepEqual(drifted.verify, { checked: 20, matching: 18, drifted: 2, missing: 0 });
      const report = await runCli(['report', drifted.runId, '--state', 'drifted', '--format', 'ndjson'], t.env);
      assert.deepEqual(
        report.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).key.split('/').pop()),
        ['user-3', 'user-8'],
      );
      assert.equal(t.sim.counters().requests, 0, 'the scheduled run sent nothing: Graph held every row when the snapshot was read');
    } finally {
      if (worker) {
        worker.kill('SIGTERM');
        await new Promise((r) => worker!.once('exit', r));
      }
      await runCli(['schedule', 'remove', 'nightly'], t.env);
      await t.close();
      await hook.close();
    }
  });
});

describe('verify and reads: hostile cases and exit codes', () => {
  let t: TestEnv;
  let worker: PatchWorker;
  let runId: string;
  const rows = validRows(12, { configs: 3 });
  before(async () => {
    t = await startTestEnv('rec-verify');
    seedGraph(t.sim, rows);
    worker = await startInProcessWorker(t);
    const run = await importFile(t, await writeTemp(t, 'v.csv', `${HEADER}\n${rows.join('\n')}\n`));
    runId = run.runId;
    await waitForRun(t.redis, t.prefix, runId);
  });
  after(async () => {
    await worker.close();
    await t.close();
  });

  it('counts a user status Graph no longer lists as missing, lists it with --state missing, and exits 5', async () => {
    const [configId, userStatusId] = rows[7].split(',');
    t.sim.drift([{ configId, userStatusId, values: null }]);
    const res = await runCli(['verify', runId, '--json'], t.env);
    assert.equal(res.code, 5, res.stderr);
    assert.deepEqual(lastJsonLine(res.stdout), { runId, checked: 12, matching: 11, drifted: 0, missing: 1, overridden: 0 });
    const missing = (await runCli(['report', runId, '--state', 'missing', '--format', 'ndjson'], t.env)).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      missing.map((m) => [m.line, m.drift, m.graph]),
      [[9, 'missing', undefined]],
    );
    assert.equal((await runCli(['report', runId, '--state', 'drifted', '--format', 'ndjson'], t.env)).stdout, '');
    // Change detection forgot it: a plain import of the same file sends it again, and only it.
    const before = t.sim.counters().requests;
    const again = await importFile(t, await writeTemp(t, 'v2.csv', `${HEADER}\n${rows.join('\n')}\n`));
    assert.equal(again.enqueued, 1);
    await waitForRun(t.redis, t.prefix, again.runId);
    assert.equal(t.sim.counters().requests, before + 1);
  });

  it('exits 4 for no such run and 2 for bad usage, without reading Graph', async () => {
    const reads = t.sim.counters().reads;
    const none = await runCli(['verify', 'no-such-run'], t.env);
    assert.equal(none.code, 4);
    assert.match(none.stderr, /no run no-such-run/);
    assert.equal((await runCli(['verify'], t.env)).code, 2);
    assert.equal((await runCli(['verify', runId, '--bogus'], t.env)).code, 2);
    assert.equal((await runCli(['report', runId, '--state', 'sideways'], t.env)).code, 2);
    const file = await writeTemp(t, 'usage.csv', `${HEADER}\n${rows.join('\n')}\n`);
    for (const flags of [
      ['--reconcile', '--full'],
      ['--reconcile', '--dry-run'],
    ]) {
      const res = await runCli(['import', file, ...flags], t.env);
      assert.equal(res.code, 2, flags.join(' '));
      assert.match(res.stderr, /--reconcile/);
    }
    const sched = await runCli(['schedule', 'add', 'x', '--cron', '* * * * *', '--dir', t.dir, '--reconcile', '--full'], t.env);
    assert.equal(sched.code, 2);
    assert.equal(t.sim.counters().reads, reads);
  });

  it('exits 1 with a clear message when Graph refuses reads (403) or cannot be reached', async () => {
    t.sim.configure({ tokens: { 'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: ['User.Read.All'] } } });
    try {
      const forbidden = await runCli(['verify', runId], t.env);
      assert.equal(forbidden.code, 1);
      assert.match(forbidden.stderr, /could not read .* from Graph: 403 Forbidden.*Read\.All/);
      // The snapshots the verify above left are still fresh; an expired one makes the import read Graph.
      const imported = await runCli(['import', await writeTemp(t, 'v3.csv', `${HEADER}\n${rows.join('\n')}\n`), '--reconcile'], {
        ...t.env,
        SYNC_SNAPSHOT_MAX_AGE: '1ms',
      });
      assert.equal(imported.code, 1);
      assert.match(imported.stderr, /403 Forbidden/);
    } finally {
      t.sim.configure({
        tokens: { 'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: ['DeviceManagementConfiguration.ReadWrite.All'] } },
      });
    }
    const { createServer } = await import('node:net');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const started = Date.now();
    const down = await runCli(['verify', runId], { ...t.env, GRAPH_BASE_URL: `http://127.0.0.1:${port}` });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /could not read .* from Graph: network error: .+ \(still failing after 6 reads\)/);
    assert.ok(Date.now() - started < 30_000);
  });
});
