/**
 * The operator's day through the compiled CLI: `--version`, `runs` to find a run again, `cancel` so that nothing of a
 * run is sent afterwards, `retry` that leaves permanent failures alone, durations such as 1h30m.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  BIN,
  HEADER,
  REPO_ROOT,
  lastJsonLine,
  runCli,
  seedGraph,
  testEnvs,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';

const env = testEnvs();

async function importRows(t: TestEnv, rows: string[], extra: string[] = []): Promise<string> {
  const path = await writeTemp(t, `rows-${rows.length}-${Date.now()}.csv`, `${HEADER}\n${rows.join('\n')}\n`);
  const imported = await runCli(['import', path, '--json', '--no-progress', ...extra], t.env);
  assert.equal(imported.code, 0, imported.stderr);
  return lastJsonLine<{ runId: string }>(imported.stdout).runId;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('operator CLI', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as { version: string };
    const out = await runCli(['--version'], {});
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.trim(), version);
  });

  it('cancel of a queued run: its rows become cancelled, and a worker then sends none of them; runs --json lists it', async () => {
    const t = await env('op-cancel');
    const rows = validRows(12);
    seedGraph(t.sim, rows);
    // No worker runs during the import: every row waits in the queue.
    const runId = await importRows(t, rows);
    const cancelled = await runCli(['cancel', runId, '--json'], t.env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.deepEqual(lastJsonLine(cancelled.stdout), { runId, cancelled: 12 });

    const worked = await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000);
    assert.equal(worked.code, 0, worked.stderr);
    assert.equal(t.sim.counters().requests, 0, 'no row of the cancelled run reached Graph');

    const status = lastJsonLine<{ state: string; cancelled: number; pending: number; total: number }>(
      (await runCli(['status', runId, '--json'], t.env)).stdout,
    );
    assert.equal(status.state, 'cancelled');
    assert.equal(status.cancelled, 12);
    assert.equal(status.pending, 0);
    assert.equal(status.total, 12);

    const report = await runCli(['report', runId, '--state', 'cancelled', '--format', 'ndjson'], t.env);
    assert.equal(report.code, 0, report.stderr);
    assert.equal(report.stdout.trim().split('\n').length, 12, report.stdout);

    // A finished run: nothing changes, and the command says so.
    const again = await runCli(['cancel', runId, '--json'], t.env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lastJsonLine(again.stdout), { runId, cancelled: 0, alreadyFinished: true });
    assert.match(again.stderr, /already finished/);

    assert.equal((await runCli(['cancel', 'no-such-run'], t.env)).code, 4);
    // retry of a cancelled run sends nothing and says why.
    const retried = await runCli(['retry', runId, '--json', '--all'], t.env);
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(lastJsonLine(retried.stdout), {
      runId,
      requeued: 0,
      superseded: 0,
      skipped: 0,
      leftOut: 0,
      leftOutByStatus: {},
      runCancelled: true,
    });
    assert.match(retried.stderr, /was cancelled: retry resends nothing/);

    const listed = await runCli(['runs', '--json'], t.env);
    assert.equal(listed.code, 0, listed.stderr);
    const { runs } = lastJsonLine<{ runs: Record<string, unknown>[] }>(listed.stdout);
    const entry = runs.find((r) => r.runId === runId);
    assert.ok(entry, listed.stdout);
    assert.deepEqual(
      Object.keys(entry).sort(),
      ['createdAt', 'failed', 'finishedAt', 'pending', 'runId', 'source', 'state', 'succeeded', 'total'].sort(),
    );
    assert.equal(entry.state, 'cancelled');
    assert.match(String(entry.createdAt), ISO_UTC);
    assert.match(String(entry.finishedAt), ISO_UTC);

    // prune --older-than takes the same durations: the run finished just now stays; finished two hours ago, it goes.
    const kept = await runCli(['prune', '--older-than', '1h30m', '--json'], t.env);
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(lastJsonLine(kept.stdout), { runs: 0, rows: 0 });
    // Aged as if created three hours ago and finished two hours ago (prune goes through runs by creation time).
    await t.redis.hset(
      `${t.prefix}:run:${runId}`,
      'createdAt',
      String(Date.now() - 3 * 3_600_000),
      'finishedAt',
      String(Date.now() - 2 * 3_600_000),
    );
    await t.redis.zadd(`${t.prefix}:runs`, Date.now() - 3 * 3_600_000, runId);
    const pruned = await runCli(['prune', '--older-than', '1h30m', '--json'], t.env);
    assert.deepEqual(lastJsonLine(pruned.stdout), { runs: 1, rows: 12 });
    assert.equal((await runCli(['status', runId], t.env)).code, 4);
  });

  it('runs: newest first, --state and --since filter, a readable table without --json, bad usage exits 2', async () => {
    const t = await env('op-runs');
    const rows = validRows(3);
    seedGraph(t.sim, rows);
    const first = await importRows(t, rows, ['--run-id', 'op-runs-first']);
    const second = await importRows(t, validRows(2, { offset: 100 }), ['--run-id', 'op-runs-second']);
    const listed = lastJsonLine<{ runs: { runId: string; state: string; pending: number }[] }>(
      (await runCli(['runs', '--json'], t.env)).stdout,
    );
    assert.deepEqual(
      listed.runs.map((r) => r.runId),
      [second, first],
    );
    assert.equal(listed.runs[0].state, 'running');
    assert.equal(listed.runs[1].pending, 3);
    const none = lastJsonLine<{ runs: unknown[] }>((await runCli(['runs', '--json', '--state', 'completed'], t.env)).stdout);
    assert.deepEqual(none.runs, []);
    const recent = lastJsonLine<{ runs: unknown[] }>((await runCli(['runs', '--json', '--since', '1h30m'], t.env)).stdout);
    assert.equal(recent.runs.length, 2);
    const table = await runCli(['runs'], t.env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^RUN\s+STATE\s+CREATED \(UTC\)/);
    assert.match(table.stdout, new RegExp(`${second}\\s+running`));
    assert.equal((await runCli(['runs', '--since', 'soon'], t.env)).code, 2);
    assert.equal((await runCli(['runs', '--state', 'odd'], t.env)).code, 2);
  });

  it('retry of a run whose failures are all 404 sends nothing and says what it left out; --all resends them', async () => {
    // Every configuration the rows name is missing from the simulated tenant: every PATCH is answered 404.
    const configs = Array.from({ length: 7 }, (_, i) => `cfg-${i}`);
    const t = await env('op-retry-404', { sim: { missingConfigurations: configs } });
    const rows = validRows(8);
    seedGraph(t.sim, rows);
    const runId = await importRows(t, rows);
    const worked = await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000);
    assert.equal(worked.code, 0, worked.stderr);
    const failed = lastJsonLine<{ failed: number }>((await runCli(['status', runId, '--json'], t.env)).stdout);
    assert.equal(failed.failed, 8);

    const before = t.sim.counters().requests;
    const retried = await runCli(['retry', runId, '--json'], t.env);
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(lastJsonLine(retried.stdout), {
      runId,
      requeued: 0,
      superseded: 0,
      skipped: 0,
      leftOut: 8,
      leftOutByStatus: { '404': 8 },
    });
    assert.match(retried.stderr, /left out 8 failed rows Graph refused for good \(8 × 404\).*retry --all/);
    const idle = await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000);
    assert.equal(idle.code, 0, idle.stderr);
    assert.equal(t.sim.counters().requests - before, 0, 'no 404 was sent again');

    // --all: the operator says the cause is fixed, and every row goes out again.
    t.sim.configure({ missingConfigurations: [] });
    const all = await runCli(['retry', runId, '--all', '--json'], t.env);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(lastJsonLine(all.stdout), { runId, requeued: 8, superseded: 0, skipped: 0, leftOut: 0, leftOutByStatus: {} });
    assert.equal((await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000)).code, 0);
    assert.equal(t.sim.counters().requests - before, 8);
    assert.equal(lastJsonLine<{ succeeded: number }>((await runCli(['status', runId, '--json'], t.env)).stdout).succeeded, 8);
  });

  it('retry resends transient failures (503s until the row ran out of SYNC_MAX_ROW_AGE_MS) by default', async () => {
    // Every PATCH is answered 503 until the row's age limit (given as a duration) runs out.
    const t = await env('op-retry-503', { sim: { faults: { rate503: 1, retryAfter503Seconds: 0 } }, env: { SYNC_MAX_ROW_AGE_MS: '1s' } });
    const rows = validRows(4);
    seedGraph(t.sim, rows);
    const runId = await importRows(t, rows);
    assert.equal((await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000)).code, 0);
    assert.equal(lastJsonLine<{ failed: number }>((await runCli(['status', runId, '--json'], t.env)).stdout).failed, 4);

    t.sim.configure({ faults: { rate503: 0 } });
    const retried = await runCli(['retry', runId, '--json'], { ...t.env, SYNC_MAX_ROW_AGE_MS: '1h' });
    assert.equal(retried.code, 0, retried.stderr);
    assert.deepEqual(lastJsonLine(retried.stdout), { runId, requeued: 4, superseded: 0, skipped: 0, leftOut: 0, leftOutByStatus: {} });
    assert.doesNotMatch(retried.stderr, /left out/);
    assert.equal(
      (await runCli(['worker', '--until-idle', '--no-scheduled-imports'], { ...t.env, SYNC_MAX_ROW_AGE_MS: '1h' }, undefined, 60_000)).code,
      0,
    );
    assert.equal(lastJsonLine<{ succeeded: number }>((await runCli(['status', runId, '--json'], t.env)).stdout).succeeded, 4);
  });

  it(
    'Ctrl-C during an import says what was queued and how to cancel or resume, and ' + 'exits 130; the resumed import reads the rest',
    async () => {
      const t = await env('op-sigint');
      const rows = validRows(20);
      seedGraph(t.sim, rows);
      const runId = 'op-sigint-run';
      // stdin stays open after 10 rows: the import waits for more, as one reading a slow pipe would.
      const child = spawn(process.execPath, [BIN, 'import', '-', '--run-id', runId, '--chunk-size', '5', '--no-progress'], {
        env: { ...process.env, ...t.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        child.stdin.write(`${HEADER}\n${rows.slice(0, 10).join('\n')}\n`);
        // The reader may hold back the last rows it has (a CSV parser looks ahead): wait for a first chunk.
        await waitForRun(t.redis, t.prefix, runId, 30_000, (s) => s.pending >= 5);
        child.kill('SIGINT');
        assert.equal(await exited, 130, stderr);
      } finally {
        child.kill('SIGKILL');
      }
      const said = /interrupted \(Ctrl-C\): run op-sigint-run holds the (\d+) rows read so far, (\d+) queued to send/.exec(stderr);
      assert.ok(said, stderr);
      const status = await waitForRun(t.redis, t.prefix, runId, 5_000, () => true);
      assert.ok(status.total >= 5 && status.total <= 10, JSON.stringify(status));
      assert.deepEqual([Number(said[1]), Number(said[2])], [status.total, status.enqueued], 'what it says is what the run holds');
      assert.match(stderr, /compliance-sync cancel op-sigint-run/);
      assert.match(stderr, /--run-id op-sigint-run/);

      // Resume: the whole input again under the same run id queues only the 10 rows not read before.
      const resumed = await runCli(['import', '-', '--run-id', runId, '--json', '--no-progress'], t.env, `${HEADER}\n${rows.join('\n')}\n`);
      assert.equal(resumed.code, 0, resumed.stderr);
      const summary = lastJsonLine<{ rows: number; enqueued: number; resumed: boolean; queuedNow: number }>(resumed.stdout);
      assert.deepEqual([summary.rows, summary.enqueued, summary.resumed, summary.queuedNow], [20, 20, true, 20 - status.total]);
    },
  );

  it('an import into a completed run says "resumed: nothing new to queue"', async () => {
    const t = await env('op-resumed');
    const rows = validRows(6);
    seedGraph(t.sim, rows);
    const path = await writeTemp(t, 'rows.csv', `${HEADER}\n${rows.join('\n')}\n`);
    const first = await runCli(['import', path, '--run-id', 'op-resumed-run', '--no-progress'], t.env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /6 queued to send/);
    assert.equal((await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000)).code, 0);
    assert.equal((await waitForRun(t.redis, t.prefix, 'op-resumed-run')).state, 'completed');
    const again = await runCli(['import', path, '--run-id', 'op-resumed-run', '--no-progress'], t.env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /resumed: nothing new to queue/);
    assert.doesNotMatch(again.stdout, /queued to send/);
    const json = lastJsonLine<{ resumed: boolean; queuedNow: number }>(
      (await runCli(['import', path, '--run-id', 'op-resumed-run', '--json', '--no-progress'], t.env)).stdout,
    );
    assert.deepEqual([json.resumed, json.queuedNow], [true, 0]);
    assert.equal(t.sim.counters().requests, 6, 'the resumed imports sent nothing more');
  });

  it('cancel during an import: rows queued after the cancel are cancelled when a worker takes them, never sent', async () => {
    const t = await env('op-cancel-live');
    const rows = validRows(12);
    seedGraph(t.sim, rows);
    const runId = 'op-cancel-live-run';
    const child = spawn(process.execPath, [BIN, 'import', '-', '--run-id', runId, '--chunk-size', '3', '--json', '--no-progress'], {
      env: { ...process.env, ...t.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      child.stdin.write(`${HEADER}\n${rows.slice(0, 6).join('\n')}\n`);
      const before = await waitForRun(t.redis, t.prefix, runId, 30_000, (s) => s.pending >= 3);
      const cancelled = await runCli(['cancel', runId, '--json'], t.env);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.ok(lastJsonLine<{ cancelled: number }>(cancelled.stdout).cancelled >= before.pending);
      // The import goes on reading: these rows are queued after the cancel swept the run.
      child.stdin.end(`${rows.slice(6).join('\n')}\n`);
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(lastJsonLine<{ rows: number }>(stdout).rows, 12);
    const queuedLate = (await waitForRun(t.redis, t.prefix, runId, 5_000, () => true)).pending;
    assert.ok(queuedLate > 0, 'some rows were queued after the cancel');

    const worked = await runCli(['worker', '--until-idle', '--no-scheduled-imports'], t.env, undefined, 60_000);
    assert.equal(worked.code, 0, worked.stderr);
    assert.equal(t.sim.counters().requests, 0, 'no row of the cancelled run reached Graph');
    const status = await waitForRun(t.redis, t.prefix, runId, 10_000);
    assert.deepEqual([status.state, status.cancelled, status.pending, status.succeeded], ['cancelled', 12, 0, 0]);
  });
});
