import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  startInProcessWorker,
  startTestEnv,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';

describe('honest output: a completed run with rejected rows', () => {
  let t: TestEnv;
  before(async () => {
    t = await startTestEnv('honest');
  });
  after(async () => {
    await t.close();
  });

  it('status reads "completed, N rejected" once the sent rows are done', async () => {
    const rows = seededValidRows(t.sim, 3);
    const path = await writeTemp(t, 'mixed.csv', `${HEADER}\n${rows.join('\n')}\nbad,row\nalso,bad\n`);
    const worker = await startInProcessWorker(t);
    let runId: string;
    try {
      const res = await runCli(['import', path, '--json'], t.env);
      assert.equal(res.code, 0, res.stderr);
      runId = lastJsonLine<{ runId: string }>(res.stdout).runId;
      const run = await waitForRun(t.redis, t.prefix, runId);
      assert.deepEqual([run.state, run.succeeded, run.rejected], ['completed', 3, 2]);
    } finally {
      await worker.close();
    }
    const text = await runCli(['status', runId], t.env);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout.split('\n')[0], `run ${runId}: completed, 2 rejected`);
    const json = await runCli(['status', runId, '--json'], t.env);
    const parsed = JSON.parse(json.stdout) as {
      state: string;
      rejected: number;
      createdAt: number;
      createdAtIso: string;
      finishedAt: number;
      finishedAtIso: string;
      byTenant: Record<string, Record<string, number>>;
    };
    assert.deepEqual([parsed.state, parsed.rejected], ['completed', 2], '--json keeps the state word; rejected is its own field');
    assert.equal(parsed.createdAtIso, new Date(parsed.createdAt).toISOString());
    assert.equal(parsed.finishedAtIso, new Date(parsed.finishedAt).toISOString());
    assert.match(parsed.finishedAtIso, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(parsed.byTenant.default.pending, 0, 'a waiting row is counted as pending');
    assert.equal(parsed.byTenant.default.queued, undefined);
  });

  it('import\'s summary says how a run that ended at import ended: "completed, N rejected"', async () => {
    // Nothing to send: every row is rejected, so the run is complete when the input ends.
    const path = await writeTemp(t, 'bad.csv', `${HEADER}\nbad,row\nalso,bad\n`);
    const before = t.sim.counters().requests;
    const res = await runCli(['import', path], t.env);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^run \S+: 2 rows read, 0 accepted, 2 rejected, 0 queued to send, 0 unchanged$/m);
    assert.match(res.stdout, /^run \S+: completed, 2 rejected$/m);
    assert.equal(t.sim.counters().requests, before);
  });
});
