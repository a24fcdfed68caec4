import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';

describe('import --dry-run --out FILE: the rows it would send', () => {
  let t: TestEnv;
  const rows = validRows(4);
  let day2: string;
  before(async () => {
    t = await startTestEnv('dryout');
    // Graph holds all four user statuses; an import sends rows 0 and 1, so Redis knows what Graph holds for them.
    seedGraph(t.sim, rows);
    const worker = await startInProcessWorker(t);
    try {
      const first = await writeTemp(t, 'day1.csv', `${HEADER}\n${rows.slice(0, 2).join('\n')}\n`);
      const res = await runCli(['import', first, '--json'], t.env);
      assert.equal(res.code, 0, res.stderr);
      const run = await waitForRun(t.redis, t.prefix, lastJsonLine<{ runId: string }>(res.stdout).runId);
      assert.equal(run.succeeded, 2);
    } finally {
      await worker.close();
    }
    // Row 0 unchanged, row 1 renamed (changed), rows 2 and 3 never sent (new), and one row that cannot be read (rejected).
    day2 = await writeTemp(
      t,
      'day2.csv',
      `${HEADER}\n${rows[0]}\n${rows[1].replace(',User 1,', ',=Renamed 1,')}\n${rows[2]}\n${rows[3]}\nbad,row\n`,
    );
  });
  after(async () => {
    await t.close();
  });

  it('writes CSV by default: line, key, decision and the properties of new and changed rows only; sends nothing', async () => {
    const out = join(t.dir, 'would-send.csv');
    const before = t.sim.counters().requests;
    const res = await runCli(['import', day2, '--dry-run', '--json', '--out', out], t.env);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(t.sim.counters().requests, before, 'a dry run sends nothing');
    assert.deepEqual(lastJsonLine(res.stdout), {
      dryRun: true,
      rows: 5,
      new: 2,
      changed: 1,
      unchanged: 1,
      rejected: 1,
      stale: 0,
      accepted: 4,
      enqueued: 3,
      superseded: 0,
    });
    const text = await readFile(out, 'utf8');
    assert.equal(text.split('\n')[0], 'line,key,decision,userDisplayName,devicesCount,status,lastReportedDateTime,userPrincipalName');
    const records = parse<Record<string, string>>(text, { columns: true });
    assert.deepEqual(
      records.map((r) => [r.line, r.decision]),
      [
        ['3', 'changed'],
        ['4', 'new'],
        ['5', 'new'],
      ],
    );
    assert.equal(records[0].key, 'mobileAppConfiguration/cfg-1/user-1');
    assert.equal(records[0].userDisplayName, "'=Renamed 1", 'a formula-like cell is neutralised, as in report');
    assert.deepEqual(records[1], {
      line: '4',
      key: 'mobileAppConfiguration/cfg-2/user-2',
      decision: 'new',
      userDisplayName: 'User 2',
      devicesCount: '2',
      status: 'remediated',
      lastReportedDateTime: records[1].lastReportedDateTime,
      userPrincipalName: 'user2@contoso.example',
    });
    assert.match(records[1].lastReportedDateTime, /^2026-11-20T10:00:02/);
  });

  it('writes NDJSON for a .ndjson file name, or with --out-format ndjson', async () => {
    for (const [name, extra] of [
      ['would-send.ndjson', []],
      ['would-send.txt', ['--out-format', 'ndjson']],
    ] as const) {
      const out = join(t.dir, name);
      const res = await runCli(['import', day2, '--dry-run', '--out', out, ...extra], t.env);
      assert.equal(res.code, 0, res.stderr);
      const lines = (await readFile(out, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        lines.map((l) => [l.line, l.decision]),
        [
          [3, 'changed'],
          [4, 'new'],
          [5, 'new'],
        ],
        name,
      );
      assert.equal(lines[0].userDisplayName, '=Renamed 1', 'NDJSON keeps the value as it is');
      assert.equal(lines[1].devicesCount, 2);
    }
  });

  it("a dry run's import words are the figures the real import then reports", async () => {
    const dry = await runCli(['import', day2, '--dry-run', '--json'], t.env);
    assert.equal(dry.code, 0, dry.stderr);
    const real = await runCli(['import', day2, '--json'], t.env);
    assert.equal(real.code, 0, real.stderr);
    const pick = (o: Record<string, unknown>) => ({
      rows: o.rows,
      accepted: o.accepted,
      rejected: o.rejected,
      enqueued: o.enqueued,
      unchanged: o.unchanged,
      superseded: o.superseded,
    });
    assert.deepEqual(pick(lastJsonLine(dry.stdout)), pick(lastJsonLine(real.stdout)));
    assert.deepEqual(pick(lastJsonLine(real.stdout)), { rows: 5, accepted: 4, rejected: 1, enqueued: 3, unchanged: 1, superseded: 0 });
  });

  it('--out without --dry-run, or --out-format without --out, is bad usage (exit 2) and writes nothing', async () => {
    const out = join(t.dir, 'never.csv');
    const real = await runCli(['import', day2, '--out', out], t.env);
    assert.equal(real.code, 2, real.stderr);
    assert.match(real.stderr, /--out and --out-format go with --dry-run/);
    const noOut = await runCli(['import', day2, '--dry-run', '--out-format', 'csv'], t.env);
    assert.equal(noOut.code, 2, noOut.stderr);
    await assert.rejects(readFile(out), /ENOENT/);
  });
});
