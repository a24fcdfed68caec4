/**
 * What an operator reads on stderr: how long sending will take after an import, and the workers' progress,
 * summaries and failure reasons.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createRunLog } from '../../jobs/run-log.js';
import { ResultStore } from '../../src/results/store.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seedGraph,
  seededValidRows,
  startInProcessWorker,
  testEnvs,
  validRows,
  waitForRun,
  writeTemp,
} from '../support/harness.js';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger whose JSON lines the test reads back. */
function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const env = testEnvs();

describe('logs', () => {
  it('import says on stderr how long sending takes at SYNC_RATE_LIMIT, and keeps stdout to its JSON line', async () => {
    const t = await env('logs-estimate');
    const rows = validRows(30);
    seedGraph(t.sim, rows);
    const path = await writeTemp(t, 'rows.csv', `${HEADER}\n${rows.join('\n')}\n`);
    const imported = await runCli(['import', path, '--json', '--no-progress'], { ...t.env, SYNC_RATE_LIMIT: '10/20s' });
    assert.equal(imported.code, 0, imported.stderr);
    // 30 rows at 10 per 20 s: 60 s.
    assert.match(imported.stderr, /^sending 30 rows takes about 1 min at 10 per 20 s \(SYNC_RATE_LIMIT\)$/m);
    assert.equal(imported.stdout.trim().split('\n').length, 1);
  });

  it('a worker logs progress per active run, a summary when the run finishes, and each failure reason once per interval', async () => {
    // cfg-3 does not exist in Graph: its rows fail with one 404 reason.
    const t = await env('logs-worker', { sim: { missingConfigurations: ['cfg-3'] } });
    const store = new ResultStore(t.redis, t.prefix);
    const { logger, lines } = capturingLogger();
    // A short progress interval so that a run paced at 6 rows a second gets several lines; the reason interval stays
    // longer than the test, so each reason may be logged once only.
    const runLog = createRunLog(store, logger, { progressIntervalMs: 300, reasonIntervalMs: 10 * 60_000 });
    const worker = await startInProcessWorker(t, { concurrency: 4, hooks: runLog.hooks }, { SYNC_RATE_LIMIT: '6/s' });
    try {
      const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, 21), ''].join('\n'));
      const imported = await runCli(['import', csv, '--json', '--no-progress'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const runId = lastJsonLine<{ runId: string }>(imported.stdout).runId;
      const status = await waitForRun(t.redis, t.prefix, runId, 45_000);
      assert.equal(status.failed, 3); // users 3, 10 and 17 are in cfg-3

      await waitFor('the run summary', () => lines.some((l) => l.runId === runId && l.msg.includes('finished')));
      const summary = lines.find((l) => l.msg.includes('finished'))!;
      assert.equal(summary.level, 30);
      assert.equal(summary.sent, status.succeeded);
      assert.equal(summary.failed, 3);
      assert.equal(summary.state, 'completed_with_errors');

      const progress = lines.filter((l) => l.runId === runId && 'pending' in l);
      assert.ok(progress.length >= 2, `progress lines while the run ran: ${JSON.stringify(lines)}`);
      for (const l of progress)
        for (const field of ['sent', 'failed', 'throttled', 'pending', 'eta']) assert.ok(field in l, `${field} in ${JSON.stringify(l)}`);
      // From its second line on, a run's ETA comes from the rows ended since the previous line.
      assert.ok(
        progress.slice(1).some((l) => typeof l.etaMs === 'number'),
        JSON.stringify(progress),
      );
      // Counts only grow.
      for (let i = 1; i < progress.length; i++) assert.ok((progress[i].sent as number) >= (progress[i - 1].sent as number));

      const failures = lines.filter((l) => l.msg.startsWith('row failed'));
      assert.equal(failures.length, 1, `one warn line for three rows failing for one reason: ${JSON.stringify(failures)}`);
      assert.equal(failures[0].level, 40);
      assert.equal(failures[0].httpStatus, 404);
      assert.equal(failures[0].runId, runId);

      // After the summary, the finished run gets no more progress lines (a tick driven here, not waited for).
      const before = lines.length;
      await runLog.tick();
      assert.equal(lines.slice(before).filter((l) => l.runId === runId && 'pending' in l).length, 0);
    } finally {
      await worker.close();
      await runLog.close();
    }
  });

  it(
    'logs JSON when stderr is not a terminal, pretty lines with --log-format pretty ' + '(before or after the command) or SYNC_LOG_FORMAT',
    async () => {
      // The harness logs at warn; these lines are at info.
      const t = await env('logs-format', { env: { SYNC_LOG_LEVEL: 'info' } });
      const json = await runCli(['worker', '--until-idle'], t.env);
      assert.equal(json.code, 0, json.stderr);
      const started = json.stderr.split('\n').find((l) => l.includes('worker started'))!;
      assert.equal((JSON.parse(started) as { msg: string; level: number }).level, 30);

      for (const [args, extraEnv] of [
        [['--log-format', 'pretty', 'worker', '--until-idle'], {}],
        [['worker', '--until-idle', '--log-format', 'pretty'], {}],
        [['worker', '--until-idle'], { SYNC_LOG_FORMAT: 'pretty' }],
      ] as Array<[string[], Record<string, string>]>) {
        const pretty = await runCli(args, { ...t.env, ...extraEnv });
        assert.equal(pretty.code, 0, pretty.stderr);
        assert.match(
          pretty.stderr,
          /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): worker started \{.*"concurrency":10/m,
          `${args.join(' ')}: ${pretty.stderr}`,
        );
        assert.doesNotMatch(pretty.stderr, /^\{"level"/m);
      }

      // The flag wins over the variable.
      const flagWins = await runCli(['--log-format', 'json', 'worker', '--until-idle'], { ...t.env, SYNC_LOG_FORMAT: 'pretty' });
      assert.match(flagWins.stderr, /^\{"level":30.*"msg":"worker started"/m);

      const bad = await runCli(['--log-format', 'xml', 'worker', '--until-idle'], t.env);
      assert.equal(bad.code, 2);
    },
  );
});
