import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { startSimulator, type DriftChange } from '../../src/simulator/index.js';

type ImportSummary = {
  runId: string;
  rows: number;
  accepted: number;
  rejected: number;
  enqueued: number;
  unchanged: number;
  superseded: number;
};
type ReportRow = { line: number; key: string; state: string; httpStatus?: number; attempts?: number; reason?: string };

async function importFile(t: TestEnv, path: string, args: string[] = []): Promise<ImportSummary> {
  const res = await runCli(['import', path, '--json', ...args], t.env);
  assert.equal(res.code, 0, res.stderr);
  return lastJsonLine<ImportSummary>(res.stdout);
}

async function report(t: TestEnv, runId: string, state: string): Promise<ReportRow[]> {
  const res = await runCli(['report', runId, '--state', state, '--format', 'ndjson'], t.env);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ReportRow);
}

interface Row {
  type: 'mobileAppConfiguration' | 'iosLobAppProvisioningConfiguration';
  configId: string;
  userStatusId: string;
  userDisplayName: string;
  devicesCount: number;
  status: string;
  lastReportedDateTime: string;
  userPrincipalName: string;
}

const csvLine = (r: Row) =>
  [r.configId, r.userStatusId, r.type, r.userDisplayName, r.devicesCount, r.status, r.lastReportedDateTime, r.userPrincipalName].join(',');
const collectionOf = (r: Pick<Row, 'type'>) =>
  r.type === 'iosLobAppProvisioningConfiguration' ? 'iosLobAppProvisioningConfigurations' : 'mobileAppConfigurations';
/** The path a PATCH or GET of this row's user status takes, as the simulator logs it. */
const statusPath = (r: Row) => `/beta/deviceAppManagement/${collectionOf(r)}/${r.configId}/userStatuses/${r.userStatusId}`;

/** Graph holding exactly what the row sets, as Graph serves it: a GUID lower-cased, the date in UTC with 7 digits. */
function heldAsGraphServesIt(r: Row): DriftChange {
  const utc = new Date(Date.parse(r.lastReportedDateTime)).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
  return {
    collection: collectionOf(r),
    configId: r.configId,
    userStatusId: r.userStatusId.toLowerCase(),
    values: {
      userDisplayName: r.userDisplayName,
      devicesCount: r.devicesCount,
      status: r.status,
      lastReportedDateTime: utc,
      userPrincipalName: r.userPrincipalName,
    },
  };
}

/** How a row Graph holds no user status for begins; what follows says how we know. */
const NOT_SENT = /^not sent: Graph holds no such user status, and PATCH cannot create one \(/;

const patches = (t: TestEnv, from: number) =>
  t.sim
    .requestLog()
    .slice(from)
    .filter((e) => e.method === 'PATCH');
/** GETs of one user status (7 path segments), not of a listing page. */
const statusGets = (t: TestEnv, from: number) =>
  t.sim
    .requestLog()
    .slice(from)
    .filter((e) => e.method === 'GET' && e.path.split('/').length === 7);
const listGets = (t: TestEnv, from: number) =>
  t.sim
    .requestLog()
    .slice(from)
    .filter((e) => e.method === 'GET' && e.path.split('/').length === 6);

describe('judging what Graph holds, as Graph serves it: missing statuses, listing nulls, dates and GUIDs', () => {
  let t: TestEnv;
  let worker: PatchWorker;
  // Two configurations: 16 user statuses of a mobile app configuration, 8 of an iOS one. Pages of 5 (maxPageSize caps
  // our $top), so every listing follows nextLinks. The listing answers null for userPrincipalName (the simulator's
  // default, as Intune does), although every row sets it.
  const rows: Row[] = [
    ...Array.from({ length: 16 }, (_, i): Row => ({
      type: 'mobileAppConfiguration',
      configId: 'cfg-a',
      userStatusId: `a-${i}`,
      userDisplayName: `User A${i}`,
      devicesCount: i % 3,
      status: 'compliant',
      lastReportedDateTime: `2026-11-20T10:00:${String(i).padStart(2, '0')}Z`,
      userPrincipalName: `a${i}@contoso.example`,
    })),
    ...Array.from({ length: 8 }, (_, i): Row => ({
      type: 'iosLobAppProvisioningConfiguration',
      configId: 'cfg-b',
      userStatusId: `b-${i}`,
      userDisplayName: `User B${i}`,
      devicesCount: 1,
      status: 'nonCompliant',
      lastReportedDateTime: `2026-11-21T08:00:${String(i).padStart(2, '0')}.250Z`,
      userPrincipalName: `b${i}@contoso.example`,
    })),
  ];
  // A row naming its GUID in upper case (Graph lists it lower-cased), and one whose date has an offset and milliseconds
  // (Graph answers UTC with 7 fraction digits): both hold what Graph holds.
  rows[0].userStatusId = '0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D';
  rows[1].lastReportedDateTime = '2026-11-20T11:00:01.500+01:00';
  const holds = [0, 1, 2, 3, 4, 5, 16, 17, 18];
  const differs = [6, 7, 8, 9, 10, 11, 19, 20, 21];
  const absent = [12, 13, 14, 15, 22, 23];
  const csv = `${HEADER}\n${rows.map(csvLine).join('\n')}\n`;

  before(async () => {
    t = await startTestEnv('judging', { sim: { maxPageSize: 5 } });
    worker = await startInProcessWorker(t);
  });
  after(async () => {
    await worker.close();
    await t.close();
  });

  let path: string;
  it(
    'import --reconcile over paged listings with null UPNs: confirms each null with a ' +
      'GET, sends only what differs, and fails what Graph does not hold without a PATCH',
    async () => {
      t.sim.drift(holds.map((i) => heldAsGraphServesIt(rows[i])));
      seedGraph(
        t.sim,
        differs.map((i) => csvLine(rows[i])),
      );
      assert.equal(Object.keys(t.sim.state()).length, 18);
      path = await writeTemp(t, 'tenant.csv', csv);

      const run = await importFile(t, path, ['--reconcile']);
      assert.deepEqual([run.rows, run.enqueued, run.unchanged], [24, 9, 9]);
      const status = await waitForRun(t.redis, t.prefix, run.runId);
      assert.deepEqual([status.state, status.succeeded, status.unchanged, status.failed], ['completed_with_errors', 9, 9, 6]);

      // Without the GETs, the 9 rows Graph holds would be judged by a null UPN and sent too.
      assert.deepEqual(
        patches(t, 0)
          .map((e) => e.path)
          .sort(),
        differs.map((i) => statusPath(rows[i])).sort(),
      );
      assert.equal(statusGets(t, 0).length, 18, 'one GET per listed status whose listed UPN was null');
      assert.equal(listGets(t, 0).length, 5, 'cfg-a listed in 3 pages of 5 (12 held), cfg-b in 2 (6 held)');

      const failed = await report(t, run.runId, 'failed');
      assert.deepEqual(
        failed.map((r) => r.line).sort((a, b) => a - b),
        absent.map((i) => i + 2),
      );
      for (const r of failed) {
        assert.match(r.reason!, NOT_SENT);
        assert.match(r.reason!, /\(not in the complete listing of \w+\/cfg-[ab] read at [\d-]+T[\d:.]+Z\)/);
        assert.deepEqual([r.httpStatus, r.attempts], [404, 0]);
      }
      assert.equal(await t.redis.hlen(`${t.prefix}:missing:mobileAppConfiguration/cfg-a`), 4, 'what cfg-a lacks is remembered');
      assert.equal(await t.redis.hlen(`${t.prefix}:missing:iosLobAppProvisioningConfiguration/cfg-b`), 2);

      // verify judges as Graph serves it too: the listing's nulls are confirmed, the GUID and the date match.
      const verify = await runCli(['verify', run.runId, '--json'], t.env);
      assert.equal(verify.code, 0, verify.stderr);
      const counts = lastJsonLine<{ checked: number; matching: number; drifted: number; missing: number }>(verify.stdout);
      assert.deepEqual([counts.checked, counts.matching, counts.drifted, counts.missing], [18, 18, 0, 0]);
    },
  );

  it('a plain re-import sends nothing: what Graph holds is unchanged, what it lacks fails again for the remembered reason', async () => {
    const before = t.sim.requestLog().length;
    const run = await importFile(t, path);
    assert.deepEqual([run.enqueued, run.unchanged], [0, 18]);
    const status = await waitForRun(t.redis, t.prefix, run.runId);
    assert.deepEqual([status.state, status.unchanged, status.failed], ['completed_with_errors', 18, 6]);
    assert.equal(patches(t, before).length, 0, '0 PATCHes');
    assert.equal(t.sim.requestLog().length, before, 'and no read: a plain import does not read Graph');
    const failed = await report(t, run.runId, 'failed');
    assert.equal(failed.length, 6);
    for (const r of failed) {
      assert.match(r.reason!, NOT_SENT);
      assert.match(r.reason!, /\(not in the complete listing of .* read at .*\); import --reconcile sends it once Graph lists it$/);
    }
  });

  it('once Graph holds the missing statuses, import --reconcile reads Graph again and sends exactly them, and forgets them', async () => {
    seedGraph(
      t.sim,
      absent.map((i) => csvLine(rows[i])),
    );
    const before = t.sim.requestLog().length;
    const run = await importFile(t, path, ['--reconcile']);
    assert.deepEqual([run.enqueued, run.unchanged], [6, 18]);
    const status = await waitForRun(t.redis, t.prefix, run.runId);
    assert.deepEqual([status.state, status.succeeded, status.failed], ['completed', 6, 0]);
    assert.deepEqual(
      patches(t, before)
        .map((e) => e.path)
        .sort(),
      absent.map((i) => statusPath(rows[i])).sort(),
    );
    assert.ok(
      listGets(t, before).length >= 2,
      'the configurations with remembered missing statuses were read again, not taken from the snapshot',
    );
    assert.equal(
      await t.redis.exists(
        `${t.prefix}:missing:mobileAppConfiguration/cfg-a`,
        `${t.prefix}:missing:iosLobAppProvisioningConfiguration/cfg-b`,
      ),
      0,
    );

    const again = t.sim.requestLog().length;
    const plain = await importFile(t, path);
    assert.deepEqual([plain.enqueued, plain.unchanged], [0, 24]);
    assert.equal(patches(t, again).length, 0);

    // Nothing is remembered missing any more: a reconcile within SYNC_SNAPSHOT_MAX_AGE reuses the snapshots, whose
    // nulls the GETs above replaced, so it reads nothing at all.
    const quiet = t.sim.requestLog().length;
    const reused = await importFile(t, path, ['--reconcile']);
    assert.deepEqual([reused.enqueued, reused.unchanged], [0, 24]);
    assert.equal(t.sim.requestLog().length, quiet, 'no listing page, no GET, no PATCH');
  });
});

describe('a PATCH answered 404 is remembered: per user status, or per configuration when Graph names the configuration', () => {
  let t: TestEnv;
  let worker: PatchWorker;
  const line = (configId: string, userStatusId: string, name = 'User') =>
    `${configId},${userStatusId},mobileAppConfiguration,${name},1,compliant,2026-11-20T10:00:00Z,${userStatusId}@contoso.example`;
  const gone = ['u-1', 'u-2', 'u-3'].map((id) => line('cfg-gone', id));

  before(async () => {
    t = await startTestEnv('judging-404', { sim: { missingConfigurations: ['cfg-gone'] } });
    worker = await startInProcessWorker(t);
  });
  after(async () => {
    await worker.close();
    await t.close();
  });

  it('after 404s for a configuration Graph does not have, a plain import fails all its rows without a PATCH, even a new one', async () => {
    // Seeded, so nothing but the missing configuration answers 404.
    seedGraph(t.sim, gone);
    const first = await importFile(t, await writeTemp(t, 'gone.csv', `${HEADER}\n${gone.join('\n')}\n`));
    assert.equal(first.enqueued, 3);
    const status = await waitForRun(t.redis, t.prefix, first.runId);
    assert.equal(status.failed, 3);
    assert.equal(
      await t.redis
        .hget(`${t.prefix}:missing:mobileAppConfiguration/cfg-gone`, '/configuration')
        .then((v) => /^PATCH answered 404 at .*cfg-gone/.test(v ?? '')),
      true,
    );

    const before = t.sim.requestLog().length;
    const more = [...gone, line('cfg-gone', 'u-4')];
    const second = await importFile(t, await writeTemp(t, 'gone2.csv', `${HEADER}\n${more.join('\n')}\n`));
    assert.equal(second.enqueued, 0);
    const failed = await report(t, second.runId, 'failed');
    assert.equal(failed.length, 4);
    for (const r of failed)
      assert.match(
        r.reason!,
        /^not sent: Graph has no such configuration \(PATCH answered 404 at .*\); import --reconcile reads it again$/,
      );
    assert.equal(patches(t, before).length, 0);
  });

  it(
    'after a 404 for one user status, a plain import fails that row without a PATCH; ' + 'import --reconcile sends it once Graph lists it',
    async () => {
      const row = line('cfg-x', 'u-404');
      seedGraph(t.sim, [row]);
      // Graph answers 404 for this status (deleted in the portal between our read and our write).
      t.sim.injectNext(1, { status: 404, code: 'ResourceNotFound', message: "The userStatus 'u-404' was not found." });
      const path = await writeTemp(t, 'one.csv', `${HEADER}\n${row}\n`);
      const first = await importFile(t, path);
      assert.equal((await waitForRun(t.redis, t.prefix, first.runId)).failed, 1);
      assert.deepEqual(
        Object.keys(await t.redis.hgetall(`${t.prefix}:missing:mobileAppConfiguration/cfg-x`)),
        ['u-404'],
        'the status, not its configuration',
      );

      const before = t.sim.requestLog().length;
      const second = await importFile(t, path);
      const [failed] = await report(t, second.runId, 'failed');
      assert.match(failed.reason!, NOT_SENT);
      assert.match(failed.reason!, /\(PATCH answered 404 at .*The userStatus 'u-404' was not found\.\)/);
      assert.equal(patches(t, before).length, 0);

      // Graph lists it (it was never gone here; the 404 was injected): a reconcile reads, sends it and forgets the 404.
      const third = await importFile(t, path, ['--reconcile']);
      assert.equal(third.enqueued, 1);
      assert.equal((await waitForRun(t.redis, t.prefix, third.runId)).succeeded, 1);
      assert.equal(patches(t, before).length, 1);
      assert.equal(await t.redis.exists(`${t.prefix}:missing:mobileAppConfiguration/cfg-x`), 0);
    },
  );

  it('import --reconcile sends a configuration’s rows once Graph has it again', async () => {
    t.sim.configure({ missingConfigurations: [] });
    const before = t.sim.requestLog().length;
    const more = [...gone, line('cfg-gone', 'u-4')];
    seedGraph(t.sim, more);
    const run = await importFile(t, await writeTemp(t, 'back.csv', `${HEADER}\n${more.join('\n')}\n`), ['--reconcile']);
    assert.equal(run.enqueued, 4);
    assert.equal((await waitForRun(t.redis, t.prefix, run.runId)).succeeded, 4);
    assert.equal(patches(t, before).length, 4);
    assert.equal(await t.redis.exists(`${t.prefix}:missing:mobileAppConfiguration/cfg-gone`), 0);
  });
});

describe('the simulator lists nulls as Intune does', () => {
  it(
    'answers null in a listing for the listNulls properties (default ' +
      'userPrincipalName) that a GET of the one status holds; [] lists them',
    async () => {
      const sim = await startSimulator({ budget: false });
      try {
        sim.drift([{ configId: 'cfg-1', userStatusId: 'u-1', values: { status: 'compliant', userPrincipalName: 'u1@contoso.example' } }]);
        const get = async (path: string) =>
          (
            await fetch(`${sim.url}/beta/deviceAppManagement/mobileAppConfigurations/cfg-1/userStatuses${path}`, {
              headers: { authorization: 'Bearer sim-token' },
            })
          ).json() as Promise<Record<string, unknown> & { value: Record<string, unknown>[] }>;
        const listed = await get('?$select=status,userPrincipalName');
        assert.deepEqual([listed.value[0].status, listed.value[0].userPrincipalName], ['compliant', null]);
        const one = await get('/u-1?$select=status,userPrincipalName');
        assert.equal(one.userPrincipalName, 'u1@contoso.example', 'a GET of the one status holds it');
        // Kinder than Graph, for tests that count listing pages only.
        sim.configure({ listNulls: [] });
        assert.equal((await get('?$select=userPrincipalName')).value[0].userPrincipalName, 'u1@contoso.example');
      } finally {
        await sim.close();
      }
    },
  );
});
