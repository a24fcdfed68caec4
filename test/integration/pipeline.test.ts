import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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

/** 20 bad rows of different kinds, each with the column its rejection must name. */
const BAD_ROWS: [string, string][] = [
  ['cfg-1,bad-1,,A,1,Compliantish,2026-11-20T10:00:00Z,a@x', 'status'],
  ['cfg-1,bad-2,,A,two,compliant,2026-11-20T10:00:00Z,a@x', 'devicesCount'],
  ['cfg-1,bad-3,,A,2147483648,compliant,2026-11-20T10:00:00Z,a@x', 'devicesCount'],
  ['cfg-1,bad-4,,A,1.5,compliant,2026-11-20T10:00:00Z,a@x', 'devicesCount'],
  ['cfg-1,bad-5,,A,1,compliant,2026-11-20T10:00:00,a@x', 'lastReportedDateTime'],
  ['cfg-1,bad-6,,A,1,compliant,2026-02-30T10:00:00Z,a@x', 'lastReportedDateTime'],
  ['cfg-1,bad-7,,A,1,compliant,yesterday,a@x', 'lastReportedDateTime'],
  ['cfg-1,bad-8,deviceConfiguration,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'configurationType'],
  ['cfg-1,../../deviceManagement/x,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'userStatusId'],
  ['cfg-1,bad?10,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'userStatusId'],
  ['cfg-1,bad#11,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'userStatusId'],
  ['cfg-1,bad%2F12,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'userStatusId'],
  ['cfg-1,bad 13,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'userStatusId'],
  ['cfg..1,bad-14,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'configurationId'],
  [',bad-15,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'configurationId'],
  ['cfg-1,,,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'userStatusId'],
  ['cfg-1,bad-17,,,,,,', '(row)'],
  ['cfg-1,bad-18,,A,1', '(row)'],
  ['cfg-1,bad-19,=cmd|calc,A,1,compliant,2026-11-20T10:00:00Z,a@x', 'configurationType'],
  ['cfg-1,bad-20,,A,-1x,compliant,2026-11-20T10:00:00Z,a@x', 'devicesCount'],
];
const MISSING = [
  'cfg-missing,gone-1,,G,1,compliant,2026-11-20T10:00:00Z,g@x',
  'cfg-missing,gone-2,,G,1,error,2026-11-20T10:00:00Z,g@x',
  'cfg-missing,gone-3,,G,1,error,2026-11-20T10:00:00Z,g@x',
  'cfg-missing,gone-4,,G,1,error,2026-11-20T10:00:00Z,g@x',
  'cfg-missing,gone-5,,G,1,error,2026-11-20T10:00:00Z,g@x',
];

/** 975 valid rows, with the bad and missing-config rows spread through the file at known lines. */
function buildExport(): { lines: string[]; valid: string[]; badLines: Map<number, string>; missingLines: number[] } {
  const valid = validRows(975);
  const lines: string[] = [];
  const badLines = new Map<number, string>();
  const missingLines: number[] = [];
  let v = 0;
  for (let i = 0; i < 1000; i++) {
    const line = i + 2;
    if (i % 50 === 7) {
      const [text, column] = BAD_ROWS[badLines.size];
      badLines.set(line, column);
      lines.push(text);
    } else if (i % 200 === 33) {
      missingLines.push(line);
      lines.push(MISSING[missingLines.length - 1]);
    } else lines.push(valid[v++]);
  }
  return { lines, valid, badLines, missingLines };
}

function toNdjson(lines: string[]): string {
  const names = HEADER.split(',');
  return lines
    .map((l) => {
      const cells = l.split(',');
      // The CSV's short row is broken as a whole; its NDJSON twin is a line that is not an object.
      if (cells.length !== names.length) return JSON.stringify(cells);
      const obj: Record<string, unknown> = {};
      names.forEach((n, i) => {
        if (cells[i] !== undefined && cells[i] !== '')
          obj[n] = n === 'devicesCount' && /^\d+$/.test(cells[i]) ? Number(cells[i]) : cells[i];
      });
      return JSON.stringify(obj);
    })
    .join('\n');
}

async function importAndProcess(t: TestEnv, path: string, extraArgs: string[] = []) {
  const imported = await runCli(['import', path, '--json', ...extraArgs], t.env);
  assert.equal(imported.code, 0, imported.stderr);
  const summary = lastJsonLine<{ runId: string; rows: number; accepted: number; rejected: number; enqueued: number }>(imported.stdout);
  const worker = await startInProcessWorker(t);
  try {
    await waitForRun(t.redis, t.prefix, summary.runId, 90_000);
  } finally {
    await worker.close();
  }
  return summary;
}

describe('pipeline: a 1,000-row CSV with bad rows and missing configurations', () => {
  let t: TestEnv;
  const exported = buildExport();
  let runId: string;
  let summary: Awaited<ReturnType<typeof importAndProcess>>;

  // One import and one worker pass make the run every test below reads; no test depends on another having run.
  before(async () => {
    t = await startTestEnv('pipeline', { sim: { missingConfigurations: ['cfg-missing'] } });
    seedGraph(t.sim, exported.valid);
    const path = await writeTemp(t, 'export.csv', `${HEADER}\n${exported.lines.join('\n')}\n`);
    summary = await importAndProcess(t, path);
    runId = summary.runId;
  });
  after(async () => t.close());

  it('imports, validates and enqueues; prints the JSON summary last', () => {
    assert.deepEqual(
      { rows: summary.rows, accepted: summary.accepted, rejected: summary.rejected, enqueued: summary.enqueued },
      { rows: 1000, accepted: 980, rejected: 20, enqueued: 980 },
    );
  });

  it('status reports 975 succeeded, 5 failed and 20 rejected', async () => {
    const res = await runCli(['status', runId, '--json'], t.env);
    assert.equal(res.code, 0, res.stderr);
    const status = JSON.parse(res.stdout);
    assert.deepEqual(
      {
        runId: status.runId,
        state: status.state,
        total: status.total,
        rejected: status.rejected,
        pending: status.pending,
        succeeded: status.succeeded,
        failed: status.failed,
      },
      { runId, state: 'completed_with_errors', total: 1000, rejected: 20, pending: 0, succeeded: 975, failed: 5 },
    );
  });

  it("the simulator's state equals the valid rows exactly", () => {
    const state = t.sim.state();
    assert.equal(Object.keys(state).length, 975);
    const statuses = ['compliant', 'nonCompliant', 'remediated', 'error', 'conflict', 'notApplicable', 'unknown', 'notAssigned'];
    for (let i = 0; i < 975; i++) {
      const stored = state[simKey(i)];
      assert.ok(stored, `missing ${simKey(i)}`);
      assert.deepEqual(
        {
          displayName: stored.userDisplayName,
          devices: stored.devicesCount,
          status: stored.status,
          upn: stored.userPrincipalName,
          at: stored.lastReportedDateTime,
        },
        {
          displayName: `User ${i}`,
          devices: i % 5,
          status: statuses[i % 8],
          upn: `user${i}@contoso.example`,
          at: `2026-11-20T10:00:${String(i % 60).padStart(2, '0')}.0000000Z`,
        },
      );
    }
  });

  it('report --state rejected gives the right lines and reasons', async () => {
    const res = await runCli(['report', runId, '--state', 'rejected', '--format', 'ndjson'], t.env);
    assert.equal(res.code, 0, res.stderr);
    const rows = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rows.map((r) => r.line),
      [...exported.badLines.keys()],
    );
    for (const row of rows) {
      const column = exported.badLines.get(row.line)!;
      assert.equal(row.state, 'rejected');
      assert.ok(
        row.reason.includes(column === '(row)' ? 'row ' : `column ${column}:`),
        `line ${row.line}: "${row.reason}" should name ${column}`,
      );
    }
  });

  it('report --state failed names the 404 with Graph’s code, and CSV output neutralises formulas', async () => {
    const failed = await runCli(['report', runId, '--state', 'failed', '--format', 'ndjson'], t.env);
    const rows = failed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rows.map((r) => r.line),
      exported.missingLines,
    );
    for (const row of rows) {
      assert.equal(row.httpStatus, 404);
      assert.match(row.reason, /ResourceNotFound/);
      assert.equal(row.attempts, 1, 'a 404 is not retried');
    }
    const csv = await runCli(['report', runId, '--state', 'rejected'], t.env);
    assert.match(csv.stdout, /^line,key,state,httpStatus,attempts,reason/);
    assert.ok(csv.stdout.includes("'=cmd|calc/cfg-1/bad-19"), 'a key starting with = is prefixed with a quote');
    assert.ok(!/(^|,)=cmd/m.test(csv.stdout));
  });

  it('hits both endpoints according to configurationType, with only the provided properties', () => {
    const log = t.sim.requestLog().filter((e) => e.status === 200);
    const ios = log.filter((e) => e.path.includes('/iosLobAppProvisioningConfigurations/'));
    const mobile = log.filter((e) => e.path.includes('/mobileAppConfigurations/'));
    assert.equal(ios.length + mobile.length, 975);
    assert.equal(ios.length, Array.from({ length: 975 }, (_, i) => i).filter((i) => i % 4 === 0).length);
    assert.ok(log.every((e) => e.path.startsWith('/beta/deviceAppManagement/')));
    const body = ios.find((e) => e.path.endsWith('/userStatuses/user-4'))!.body as Record<string, unknown>;
    assert.deepEqual(body, {
      '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus',
      userDisplayName: 'User 4',
      devicesCount: 4,
      status: 'conflict',
      lastReportedDateTime: '2026-11-20T10:00:04Z',
      userPrincipalName: 'user4@contoso.example',
    });
  });

  it('the bearer token reaches the simulator', () => {
    assert.ok((t.sim.counters().authorizationSeen['sim-token'] ?? 0) >= 980);
  });

  it(
    'an NDJSON export gives the same result as the same rows in CSV',
    notOnCluster('the same rows and Redis work as the CSV run, only parsed from NDJSON'),
    async () => {
      const n = await startTestEnv('pipeline-ndjson', { sim: { missingConfigurations: ['cfg-missing'] } });
      seedGraph(n.sim, exported.valid);
      try {
        const path = await writeTemp(n, 'export.ndjson', toNdjson(exported.lines));
        const summary = await importAndProcess(n, path);
        const status = JSON.parse((await runCli(['status', summary.runId, '--json'], n.env)).stdout);
        assert.deepEqual([status.total, status.succeeded, status.failed, status.rejected], [1000, 975, 5, 20]);
        assert.deepEqual(n.sim.state(), t.sim.state());
        const rejected = (await runCli(['report', summary.runId, '--state', 'rejected', '--format', 'ndjson'], n.env)).stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        // NDJSON has no header line, so each row sits one line earlier than in the CSV.
        assert.deepEqual(
          rejected.map((r) => r.line + 1),
          [...exported.badLines.keys()],
        );
      } finally {
        await n.close();
      }
    },
  );
});

describe('pipeline: authentication and permission failures', () => {
  it('a token Graph refuses fails rows with a clear reason after one refresh, without a retry loop', async () => {
    const t = await startTestEnv('auth401', { env: { GRAPH_ACCESS_TOKEN: 'not-a-real-token' } });
    try {
      const path = await writeTemp(t, 'e.csv', `${HEADER}\n${seededValidRows(t.sim, 2).join('\n')}\n`);
      const summary = await importAndProcess(t, path);
      const status = JSON.parse((await runCli(['status', summary.runId, '--json'], t.env)).stdout);
      assert.equal(status.failed, 2);
      const rows = (await runCli(['report', summary.runId, '--state', 'failed', '--format', 'ndjson'], t.env)).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      for (const row of rows) {
        assert.equal(row.httpStatus, 401);
        assert.match(row.reason, /InvalidAuthenticationToken.*refreshed once/);
        assert.ok(!row.reason.includes('not-a-real-token'), 'the token never appears in results');
      }
      assert.equal(t.sim.counters().requests, 4, 'one request and one refreshed retry per row');
    } finally {
      await t.close();
    }
  });

  it('a 403 fails rows at once, naming the missing permission', async () => {
    const t = await startTestEnv('auth403', { sim: { tokens: { 'sim-token': { tenantId: 't', appId: 'a', permissions: [] } } } });
    try {
      const path = await writeTemp(t, 'e.csv', `${HEADER}\n${seededValidRows(t.sim, 2).join('\n')}\n`);
      const summary = await importAndProcess(t, path);
      const rows = (await runCli(['report', summary.runId, '--state', 'failed', '--format', 'ndjson'], t.env)).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(rows.length, 2);
      for (const row of rows) {
        assert.equal(row.httpStatus, 403);
        assert.match(row.reason, /DeviceManagementConfiguration\.ReadWrite\.All/);
      }
      assert.equal(t.sim.counters().requests, 2, '403 is not retried');
    } finally {
      await t.close();
    }
  });
});

describe(
  'pipeline: bad inputs give clear errors',
  notOnCluster('usage and input errors stop before Redis is written; cluster.test.ts checks an unreachable cluster'),
  () => {
    let t: TestEnv;
    before(async () => (t = await startTestEnv('badinput')));
    after(async () => t.close());

    it('a missing required column exits 1 naming the column, and creates no run', async () => {
      const path = await writeTemp(t, 'nocol.csv', 'configurationId,status\ncfg,compliant\n');
      const res = await runCli(['import', path, '--json'], t.env);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /required column "userStatusId" \(or its alias "id"\) is missing/);
      assert.equal(await t.redis.zcard(`${t.prefix}:runs`), 0);
    });

    it('an unreadable path exits 1 with the path and reason', async () => {
      const res = await runCli(['import', '/nonexistent/export.csv'], t.env);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /cannot read \/nonexistent\/export\.csv: no such file/);
    });

    it('unreachable Redis exits 1 within seconds', async () => {
      const path = await writeTemp(t, 'ok.csv', `${HEADER}\n${validRows(1).join('\n')}\n`);
      const started = Date.now();
      // SYNC_REDIS_CLUSTER is emptied: when test/integration/cluster.test.ts runs this file it names a working cluster.
      const res = await runCli(['import', path], { ...t.env, REDIS_URL: 'redis://:secretpw@127.0.0.1:1', SYNC_REDIS_CLUSTER: '' });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1.* is unreachable/);
      assert.ok(!res.stderr.includes('secretpw'));
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    });

    it('usage errors exit 2, and every command has --help', async () => {
      assert.equal((await runCli(['import'], t.env)).code, 2);
      assert.equal((await runCli(['import', 'x.csv', '--format', 'xml'], t.env)).code, 2);
      for (const command of ['import', 'worker', 'status', 'report', 'retry', 'resume', 'simulate', 'demo']) {
        const res = await runCli([command, '--help'], t.env);
        assert.equal(res.code, 0, `${command} --help`);
        assert.match(res.stdout, new RegExp(`Usage: compliance-sync ${command}`));
      }
    });

    it('status of an unknown run exits 4', async () => {
      const res = await runCli(['status', 'no-such-run'], t.env);
      assert.equal(res.code, 4);
      assert.match(res.stderr, /no run no-such-run/);
    });
  },
);
