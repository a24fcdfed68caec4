/**
 * Issue 9, the CLI side: what a careless operator or an attacker feeds the commands. Each test checks the exit code
 * and message, what is stored under the test's prefix, and how many requests reached the simulator.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startScheduledImportWorker } from '../../jobs/scheduled-import-worker.js';
import { createRunAlerts } from '../../jobs/alerts.js';
import { redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import {
  BIN,
  HEADER,
  lastJsonLine,
  REPO_ROOT,
  runCli,
  SEEDED_VALUES,
  seedGraph,
  spawnWorker,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  type TestEnv,
  keysOf,
} from '../support/harness.js';
import { freePort } from '../support/server-helpers.js';

const envs: TestEnv[] = [];
async function env(name: string, options: Parameters<typeof startTestEnv>[1] = {}): Promise<TestEnv> {
  const t = await startTestEnv(name, options);
  envs.push(t);
  return t;
}
after(async () => {
  await Promise.all(
    envs.map(async (t) => {
      await t.close();
      await rm(t.dir, { recursive: true, force: true });
    }),
  );
});

async function snapshot(t: TestEnv): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of await keysOf(t)) {
    const type = await t.redis.type(key);
    out[key] =
      type === 'hash'
        ? await t.redis.hgetall(key)
        : type === 'zset'
          ? await t.redis.zrange(key, '0', '-1', 'WITHSCORES')
          : type === 'string'
            ? await t.redis.get(key)
            : type;
  }
  return out;
}

async function drain(t: TestEnv, ...runIds: string[]): Promise<void> {
  const worker = await startInProcessWorker(t);
  try {
    for (const runId of runIds) await waitForRun(t.redis, t.prefix, runId, 30_000);
  } finally {
    await worker.close(5000);
  }
}

const csv = (...rows: string[]) => `configurationId,userStatusId,userDisplayName,status,lastReportedDateTime\n${rows.join('\n')}\n`;

describe('hostile CLI input (issue 9)', { concurrency: 1 }, () => {
  it('refuses a different file under a finished run id with exit 2, naming the file the run holds, and sends nothing', async () => {
    const t = await env('hx-runid');
    seedGraph(t.sim, ['cfg-1,u1', 'cfg-1,u2', 'cfg-1,u3', 'cfg-2,u1']);
    const day1 = join(t.dir, 'day1.csv');
    const day2 = join(t.dir, 'day2.csv');
    await writeFile(day1, csv('cfg-1,u1,Day One,compliant,2026-11-01T10:00:00Z', 'cfg-1,u2,Day One,compliant,2026-11-01T10:00:00Z'));
    await writeFile(
      day2,
      csv(
        'cfg-1,u1,Day Two,nonCompliant,2026-11-02T10:00:00Z',
        'cfg-1,u2,Day Two,nonCompliant,2026-11-02T10:00:00Z',
        'cfg-1,u3,Day Two,compliant,2026-11-02T10:00:00Z',
      ),
    );
    const first = await runCli(['import', day1, '--run-id', 'nightly', '--json', '--no-progress'], t.env);
    assert.equal(first.code, 0, first.stderr);
    await drain(t, 'nightly');
    assert.equal(t.sim.counters().requests, 2);
    const before = await snapshot(t);

    const second = await runCli(['import', day2, '--run-id', 'nightly', '--json', '--no-progress'], t.env);
    assert.equal(second.code, 2, second.stderr);
    assert.equal(second.stdout, '', 'never "accepted"');
    assert.match(
      second.stderr,
      /error: run nightly already holds file .*day1\.csv size=\d+ mtime=\S+; this input is file .*day2\.csv .*A run id names one input/,
    );
    const status = (await new ResultStore(t.redis, t.prefix).status('nightly'))!;
    assert.match(status.source!, /day1\.csv/);
    assert.deepEqual([status.total, status.succeeded], [2, 2]);
    assert.deepEqual(await snapshot(t), before, 'nothing stored changed');
    assert.equal(t.sim.counters().requests, 2, 'nothing more was sent');
    assert.equal(t.sim.state()['mobileAppConfigurations/cfg-1/u1'].userDisplayName, 'Day One');

    // The same file again is a resume: every line already admitted, nothing sent twice.
    const again = await runCli(['import', day1, '--run-id', 'nightly', '--json', '--no-progress'], t.env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lastJsonLine(again.stdout), {
      runId: 'nightly',
      rows: 2,
      accepted: 2,
      rejected: 0,
      enqueued: 2,
      unchanged: 0,
      superseded: 0,
      resumed: true,
      queuedNow: 0,
    });
    // The same path with new content (a later export written over it) is another input.
    await writeFile(day1, csv('cfg-1,u1,Changed,compliant,2026-11-03T10:00:00Z'));
    await utimes(day1, new Date(), new Date(Date.now() + 5000));
    const rewritten = await runCli(['import', day1, '--run-id', 'nightly', '--no-progress'], t.env);
    assert.equal(rewritten.code, 2, rewritten.stderr);
    // A finished stdin run cannot be told apart from new data: refused too.
    const piped = await runCli(['import', '-', '--run-id', 'from-stdin', '--no-progress'], t.env, csv('cfg-2,u1,,compliant,'));
    assert.equal(piped.code, 0, piped.stderr);
    const pipedAgain = await runCli(['import', '-', '--run-id', 'from-stdin', '--no-progress'], t.env, csv('cfg-2,u1,,error,'));
    assert.equal(pipedAgain.code, 2, pipedAgain.stderr);
    assert.match(pipedAgain.stderr, /run from-stdin already holds stdin/);
  });

  it('refuses a finished PostgreSQL run id for a second query result, whose data cannot be told apart (exit 2)', async () => {
    const t = await env('hx-runid-pg');
    const pgUrl = (process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test').replace('postgres@', 'postgres:pw-never-shown@');
    const query = "select 'cfg-pg' as \"configurationId\", 'u1' as \"userStatusId\", 'compliant' as status";
    const first = await runCli(['import', '--from-postgres', pgUrl, '--query', query, '--run-id', 'pg-nightly', '--no-progress'], {
      ...t.env,
      PGPASSWORD: '',
    });
    assert.equal(first.code, 0, first.stderr);
    const second = await runCli(['import', '--from-postgres', pgUrl, '--query', query, '--run-id', 'pg-nightly', '--no-progress'], t.env);
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.stderr,
      /run pg-nightly already holds postgres postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test select .*read to the end/,
    );
    assert.ok(!second.stderr.includes('pw-never-shown'));
    assert.equal((await new ResultStore(t.redis, t.prefix).status('pg-nightly'))!.total, 1);
  });

  it('rejects ids made only of dots or holding invisible (Cf) characters, so no PATCH leaves the two Graph paths', async () => {
    const t = await env('hx-dots');
    seedGraph(t.sim, ['c,ok']);
    const file = join(t.dir, 'ids.ndjson');
    const rows = [
      { configurationId: '.', userStatusId: 'u', status: 'compliant' },
      { configurationId: 'c', userStatusId: '.', status: 'compliant' },
      { configurationId: '..', userStatusId: 'u', status: 'compliant' },
      { configurationId: 'c', userStatusId: 'u\u200b', status: 'compliant' },
      { configurationId: 'c\u202e', userStatusId: 'u', status: 'compliant' },
      { configurationId: 'c', userStatusId: 'ok', status: 'compliant' },
    ];
    await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = await runCli(['import', file, '--json', '--run-id', 'dots', '--no-progress'], t.env);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(lastJsonLine(out.stdout), {
      runId: 'dots',
      rows: 6,
      accepted: 1,
      rejected: 5,
      enqueued: 1,
      unchanged: 0,
      superseded: 0,
      resumed: false,
      queuedNow: 1,
    });
    const report = await runCli(['report', 'dots', '--state', 'rejected', '--format', 'ndjson'], t.env);
    const reasons = report.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; reason: string });
    assert.deepEqual(
      reasons.map((r) => r.line),
      [1, 2, 3, 4, 5],
    );
    assert.match(reasons[0].reason, /column configurationId: is made only of dots/);
    assert.match(reasons[1].reason, /column userStatusId: is made only of dots/);
    assert.match(reasons[3].reason, /column userStatusId: contains the invisible character U\+200B/);
    assert.match(reasons[4].reason, /column configurationId: contains the invisible character U\+202E/);
    await drain(t, 'dots');
    assert.equal(t.sim.counters().requests, 1);
    assert.deepEqual(Object.keys(t.sim.state()), ['mobileAppConfigurations/c/ok']);
    assert.equal(t.sim.state()['mobileAppConfigurations/c/ok'].status, 'compliant', 'the valid row was written');
  });

  it(
    'rejects a row with bytes not valid in its encoding, naming line and column; ' + '--encoding and a UTF-16 BOM read the same export',
    async () => {
      const t = await env('hx-utf8');
      seedGraph(t.sim, ['cfg,u1', 'cfg,u2', 'cfg,u3']);
      const latin1 = join(t.dir, 'latin1.csv');
      await writeFile(
        latin1,
        Buffer.concat([
          Buffer.from('configurationId,userStatusId,userDisplayName\ncfg,u1,'),
          Buffer.from('M\xfcller', 'latin1'),
          Buffer.from('\ncfg,u2,Plain\n'),
        ]),
      );
      const out = await runCli(['import', latin1, '--run-id', 'utf8-run', '--json', '--no-progress'], t.env);
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual([lastJsonLine(out.stdout).accepted, lastJsonLine(out.stdout).rejected], [1, 1]);
      const rejected = JSON.parse((await runCli(['report', 'utf8-run', '--state', 'rejected', '--format', 'ndjson'], t.env)).stdout.trim());
      assert.equal(rejected.line, 2);
      assert.match(rejected.reason, /^column userDisplayName: holds bytes that are not valid UTF-8/);
      assert.ok(!JSON.stringify(rejected).includes('\uFFFD'));
      await drain(t, 'utf8-run');
      assert.equal(t.sim.counters().requests, 1, 'only the valid row was sent');
      assert.equal(
        t.sim.state()['mobileAppConfigurations/cfg/u1'].userDisplayName,
        SEEDED_VALUES.userDisplayName,
        'no U+FFFD reached Graph',
      );

      const cp1252 = await runCli(
        ['import', latin1, '--encoding', 'windows-1252', '--full', '--run-id', 'cp1252-run', '--json', '--no-progress'],
        t.env,
      );
      assert.equal(cp1252.code, 0, cp1252.stderr);
      const utf16 = join(t.dir, 'utf16.csv');
      await writeFile(
        utf16,
        Buffer.concat([
          Buffer.from([0xff, 0xfe]),
          Buffer.from('configurationId,userStatusId,userDisplayName\r\ncfg,u3,Jürgen €\r\n', 'utf16le'),
        ]),
      );
      const fromUtf16 = await runCli(['import', utf16, '--run-id', 'utf16-run', '--json', '--no-progress'], t.env);
      assert.equal(fromUtf16.code, 0, fromUtf16.stderr);
      await drain(t, 'cp1252-run');
      await drain(t, 'utf16-run');
      assert.equal(t.sim.state()['mobileAppConfigurations/cfg/u1'].userDisplayName, 'Müller');
      assert.equal(t.sim.state()['mobileAppConfigurations/cfg/u3'].userDisplayName, 'Jürgen €');
      const bad = await runCli(['import', latin1, '--encoding', 'latin9', '--no-progress'], t.env);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--encoding.*latin9.*Allowed choices are utf8, utf16le, windows-1252/);
    },
  );

  it("masks the password of GRAPH_BASE_URL in the worker's start line", async () => {
    const t = await env('hx-mask');
    const url = new URL(t.sim.url);
    const withPassword = `http://graphuser:Sup3rS3cret@${url.host}`;
    const child = spawnWorker({ ...t.env, GRAPH_BASE_URL: withPassword, SYNC_LOG_LEVEL: 'info' }, [
      '--until-idle',
      '--no-scheduled-imports',
    ]);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stderr);
    const started = stderr.split('\n').find((l) => l.includes('worker started'))!;
    assert.ok(started, stderr);
    assert.equal(JSON.parse(started).graph, `http://graphuser:***@${url.host}/`);
    assert.ok(!stderr.includes('Sup3rS3cret'));
  });

  it('checks run ids on the way in: resume, status, report and retry of nd1:rows exit 2 and write nothing', async () => {
    const t = await env('hx-runid-check');
    const file = join(t.dir, 'one.csv');
    await writeFile(file, csv('cfg,u1,,compliant,'));
    assert.equal((await runCli(['import', file, '--run-id', 'nd1', '--no-progress'], t.env)).code, 0);
    const before = await snapshot(t);
    for (const command of ['resume', 'status', 'report', 'retry']) {
      for (const id of ['nd1:rows', '..', 'x'.repeat(129), 'a b']) {
        const out = await runCli([command, id], t.env);
        assert.equal(out.code, 2, `${command} ${id}: ${out.stderr}`);
        assert.match(
          out.stderr,
          /^error: run id .* (may hold only letters, digits and _ \. -|may not be made only of dots|is longer than 128 characters)/,
        );
        assert.equal(out.stdout, '');
      }
    }
    assert.equal((await runCli(['import', file, '--run-id', 'a:b'], t.env)).code, 2);
    assert.deepEqual(await snapshot(t), before, 'no blocked field, no phantom run');
    assert.equal(t.sim.counters().requests, 0);
  });

  it('ends `report <run> | head -1` quietly with exit 0 when the reader closes the pipe', async () => {
    const t = await env('hx-epipe');
    const file = join(t.dir, 'many.csv');
    await writeFile(file, `${HEADER}\n${validRows(5000).join('\n')}\n`);
    assert.equal((await runCli(['import', file, '--run-id', 'many', '--no-progress'], t.env)).code, 0);
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'bash',
        ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" report many | head -1`],
        { cwd: REPO_ROOT, env: { ...process.env, ...t.env } },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, 'line,key,state,httpStatus,attempts,reason,requestId,finishedAt,supersededBy,clientRequestId\n');
    assert.equal(result.code, 0);
  });

  it("accepts year 0001 (.NET's minimum date) and sends it; refuses offsets beyond ±14:00", async () => {
    const t = await env('hx-dates');
    seedGraph(t.sim, ['cfg,u1', 'cfg,u2', 'cfg,u3', 'cfg,u4']);
    const file = join(t.dir, 'dates.csv');
    await writeFile(
      file,
      csv(
        'cfg,u1,,compliant,0001-01-01T00:00:00Z',
        'cfg,u2,,compliant,0099-12-31T23:59:59Z',
        'cfg,u3,,compliant,2026-11-20T10:00:00+14:30',
        'cfg,u4,,compliant,2026-11-20T10:00:00-14:00',
      ),
    );
    const out = await runCli(['import', file, '--run-id', 'dates', '--json', '--no-progress'], t.env);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual([lastJsonLine(out.stdout).accepted, lastJsonLine(out.stdout).rejected], [3, 1]);
    const rejected = JSON.parse((await runCli(['report', 'dates', '--state', 'rejected', '--format', 'ndjson'], t.env)).stdout.trim());
    assert.equal(rejected.line, 4);
    assert.match(rejected.reason, /column lastReportedDateTime: "2026-11-20T10:00:00\+14:30" has a zone offset beyond ±14:00/);
    await drain(t, 'dates');
    assert.equal(t.sim.counters().requests, 3);
    assert.equal(t.sim.state()['mobileAppConfigurations/cfg/u1'].lastReportedDateTime, '0001-01-01T00:00:00.0000000Z');
  });

  it(
    'bounds a row: /dev/zero ends within seconds (exit 1), an oversize NDJSON line is ' + 'rejected, reasons quote at most 200 characters',
    async () => {
      const t = await env('hx-rowsize');
      for (const format of ['csv', 'ndjson']) {
        const started = Date.now();
        const out = await runCli(['import', '/dev/zero', '--format', format, '--no-progress'], t.env, undefined, 30_000);
        assert.equal(out.code, 1, out.stderr);
        assert.ok(Date.now() - started < 15_000, `${format}: took ${Date.now() - started} ms`);
        assert.match(
          out.stderr,
          format === 'csv'
            ? /the row reaching line 1 is larger than the maximum row size of 65536 bytes/
            : /line 1 runs on for more than 67108864 bytes without a line end/,
        );
      }
      // At most BullMQ's queue metadata (written when the command opens the queue, if it got that far); no run, no row, no job.
      assert.deepEqual(
        (await keysOf(t)).filter((key) => key !== `${t.prefix}:patch-user-status:meta`),
        [],
        'no run for an input refused before its first row',
      );

      const file = join(t.dir, 'big.ndjson');
      seedGraph(t.sim, ['c,u2']);
      const huge = 'x'.repeat(5 * 1024 * 1024);
      await writeFile(
        file,
        [
          JSON.stringify({ configurationId: 'c', userStatusId: 'u1', userDisplayName: huge }),
          JSON.stringify({ configurationId: 'c', userStatusId: 'u2', status: 'compliant' }),
          JSON.stringify({ configurationId: 'c', userStatusId: 'u3', status: 'y'.repeat(60_000) }),
        ].join('\n') + '\n',
      );
      const out = await runCli(['import', file, '--run-id', 'big', '--json', '--no-progress'], t.env);
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual([lastJsonLine(out.stdout).accepted, lastJsonLine(out.stdout).rejected], [1, 2]);
      const rows = await t.redis.hgetall(redisKeys(t.prefix).rows('big'));
      assert.match(JSON.parse(rows['1']).reason, /^row is larger than the maximum row size of 65536 bytes/);
      const quoted = JSON.parse(rows['3']).reason as string;
      assert.match(quoted, /^column status: "y{200}…" is not one of/);
      assert.ok(
        Object.values(rows).every((json) => json.length < 2000),
        'no stored row carries the oversize value',
      );
      const smaller = await runCli(['import', file, '--max-row-bytes', '100', '--run-id', 'big-small', '--json', '--no-progress'], t.env);
      assert.equal(lastJsonLine(smaller.stdout).rejected, 2, 'line 3 (60 kB) is over --max-row-bytes 100, line 2 is not');
      // The second import's line 2 is the newest update of the key: wait for both runs, not only the first, whose row it
      // superseded (the first run can end before the worker has sent anything).
      await drain(t, 'big', 'big-small');
      assert.equal(t.sim.counters().requests, 1);
    },
  );

  it('warns about an input with no data rows (exit 0)', async () => {
    const t = await env('hx-empty');
    const file = join(t.dir, 'empty.csv');
    await writeFile(file, 'configurationId,userStatusId,status\n');
    const out = await runCli(['import', file, '--json', '--no-progress'], t.env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /^warning: .*empty\.csv \(csv\) holds no data rows; nothing was imported$/m);
    assert.equal(lastJsonLine(out.stdout).rows, 0);
    const piped = await runCli(['import', '-', '--format', 'ndjson', '--no-progress'], t.env, '');
    assert.equal(piped.code, 0);
    assert.match(piped.stderr, /warning: stdin \(ndjson\) holds no data rows/);
    assert.equal(t.sim.counters().requests, 0);
  });

  it('serves worker metrics on 127.0.0.1 unless --metrics-host says otherwise', async () => {
    const t = await env('hx-metrics-host');
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'worker', '--metrics-port', String(port), '--no-scheduled-imports'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...t.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const deadline = Date.now() + 20_000;
      while (
        !(await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        assert.ok(Date.now() < deadline, 'the metrics endpoint did not come up');
        await sleep(200);
      }
      const listening = (await readFile('/proc/net/tcp', 'utf8'))
        .split('\n')
        .filter((l) => l.includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `) && / 0A /.test(l));
      assert.deepEqual(
        listening.map((l) => l.trim().split(/\s+/)[1]),
        [`0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`],
        'bound to 127.0.0.1 only',
      );
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    const help = await runCli(['worker', '--help'], t.env);
    assert.match(help.stdout, /--metrics-host <address>/);
  });

  it('moves a scheduled file with no data rows to failed/ with its reason, and alerts (failed_import)', async () => {
    const received: unknown[] = [];
    const hook = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end();
      });
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const t = await env('hx-sched-empty', { env: { SYNC_ALERT_WEBHOOK_URL: hookUrl } });
    const drop = join(t.dir, 'drop');
    await mkdir(drop);
    await writeFile(join(drop, 'export.csv'), 'configurationId,userStatusId,status\n');
    assert.equal(
      (await runCli(['schedule', 'add', 'empty-test', '--cron', '*/1 * * * * *', '--dir', drop, '--settle', '0'], t.env)).code,
      0,
    );
    const config = loadConfig({ ...t.env });
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    const logger = createLogger('silent');
    const alerts = createRunAlerts(config, redis, logger)!;
    const importer = await startScheduledImportWorker(config, redis, logger, {
      scheduleLockTtlMs: 5000,
      onImportFailed: (f) => alerts.importFailed(f),
    });
    try {
      const deadline = Date.now() + 30_000;
      while (!(await readdir(join(drop, 'failed')).catch(() => [] as string[])).includes('export.csv.error.txt')) {
        assert.ok(Date.now() < deadline, 'the empty file did not reach failed/');
        await sleep(200);
      }
      await alerts.settled();
      const text = await readFile(join(drop, 'failed', 'export.csv.error.txt'), 'utf8');
      assert.match(text, /error: the file holds no data rows \(an empty export is nearly always a broken one\)/);
      assert.deepEqual(await readdir(join(drop, 'processed')), []);
      while (received.length === 0) {
        assert.ok(Date.now() < deadline, 'no alert arrived');
        await sleep(100);
      }
      const alert = received[0] as {
        event: string;
        schedule: string;
        file: string;
        reason: string;
        runId: string;
        status: { state: string; importError: string };
      };
      assert.deepEqual([alert.event, alert.schedule, alert.file], ['failed_import', 'empty-test', 'export.csv']);
      assert.match(alert.reason, /no data rows/);
      assert.equal(alert.status.state, 'completed_with_errors');
      assert.equal(received.length, 1, 'one alert, and no "completed" one for the empty run');
      assert.equal(t.sim.counters().requests, 0);
    } finally {
      await importer.close(5000);
      redis.disconnect();
      hook.close();
    }
  });
});
