/**
 * Redis stays bounded: finished runs expire SYNC_RUN_RETENTION after they finish, `prune` removes them now, running
 * and blocked runs stay, change detection stays; unchanged rows are a bit each and still reported; /metrics reads
 * counters and never goes through runs.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { PermissionBreaker } from '../../src/pacing/breaker.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { RUN_KEY_SUFFIXES, redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import { createServerMetrics } from '../../src/server/metrics.js';
import { readCsv } from '../../src/sources/csv.js';
import {
  HEADER,
  lastJsonLine,
  runCli,
  seededValidRows,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  writeTemp,
  type TestEnv,
} from '../support/harness.js';
import { startPrivateRedis } from '../support/private-redis.js';
import { eventRecord, postEvents, startTestServer } from '../support/server-helpers.js';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';

const envs: TestEnv[] = [];
after(async () => {
  await Promise.all(envs.map((t) => t.close()));
});

async function env(name: string, vars: Record<string, string> = {}, redisUrl?: string): Promise<TestEnv> {
  const t = await startTestEnv(name, { env: vars, redisUrl });
  envs.push(t);
  return t;
}

/** Every key of a run: the run hash and one per suffix (whether or not it exists). */
const runKeys = (t: TestEnv, runId: string) => [
  redisKeys(t.prefix).run(runId),
  ...RUN_KEY_SUFFIXES.map((s) => `${redisKeys(t.prefix).run(runId)}${s}`),
];

async function ttls(t: TestEnv, runId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const key of runKeys(t, runId)) {
    const ttl = await t.redis.pttl(key);
    if (ttl !== -2) out[key.slice(t.prefix.length)] = ttl; // -2: the key does not exist
  }
  return out;
}

async function importCli(t: TestEnv, csv: string, extra: string[] = []): Promise<{ runId: string; unchanged: number; rows: number }> {
  const res = await runCli(['import', csv, '--json', '--no-progress', ...extra], t.env);
  assert.equal(res.code, 0, res.stderr);
  return lastJsonLine(res.stdout);
}

const HOUR = 3_600_000;

describe('retention', () => {
  it(
    'every key of a finished run expires SYNC_RUN_RETENTION after it finishes; ' +
      'running and blocked runs never expire; change detection stays',
    async () => {
      const t = await env('retention-ttl', { SYNC_RUN_RETENTION: '1h' });
      const csv = await writeTemp(
        t,
        'in.csv',
        [HEADER, ...seededValidRows(t.sim, 6), 'cfg-1,,mobileAppConfiguration,,,compliant,,', ''].join('\n'),
      );
      const first = await importCli(t, csv);
      const running = await ttls(t, first.runId);
      assert.ok(Object.keys(running).length >= 2, JSON.stringify(running));
      for (const [key, ttl] of Object.entries(running)) assert.equal(ttl, -1, `${key} of a running run must not expire`);

      const worker = await startInProcessWorker(t);
      try {
        await waitForRun(t.redis, t.prefix, first.runId, 30_000);
      } finally {
        await worker.close();
      }
      const finished = await ttls(t, first.runId);
      // The rows sent also left the run's timeline (P:run:{id}:timeline), which expires with it.
      assert.deepEqual(Object.keys(finished).sort(), ['', ':rows', ':timeline'].map((s) => `:run:${first.runId}${s}`).sort());
      for (const [key, ttl] of Object.entries(finished)) assert.ok(ttl > HOUR - 60_000 && ttl <= HOUR, `${key} expires in ${ttl} ms`);

      // All unchanged: the run ends within the import, with its bitmap and chunk keys, all expiring alike.
      const second = await importCli(t, csv);
      assert.equal(second.unchanged, 6);
      const unchanged = await ttls(t, second.runId);
      assert.deepEqual(Object.keys(unchanged).sort(), [':rows', ':keys', ':unchanged', ''].map((s) => `:run:${second.runId}${s}`).sort());
      for (const [key, ttl] of Object.entries(unchanged)) assert.ok(ttl > HOUR - 60_000 && ttl <= HOUR, `${key} expires in ${ttl} ms`);

      // Blocked: kept for as long as it is blocked; unblocked, its retention starts again.
      const store = new ResultStore(t.redis, t.prefix, { runRetentionMs: t.config.runRetentionMs });
      await store.setBlocked(second.runId, 'missing permission');
      for (const [key, ttl] of Object.entries(await ttls(t, second.runId)))
        assert.equal(ttl, -1, `${key} of a blocked run must not expire`);
      assert.equal((await store.status(second.runId))!.state, 'blocked');
      await store.setBlocked(second.runId, undefined);
      for (const [key, ttl] of Object.entries(await ttls(t, second.runId)))
        assert.ok(ttl > HOUR - 60_000, `${key} expires again once unblocked (${ttl})`);

      const keys = redisKeys(t.prefix);
      for (const key of [keys.fingerprints, keys.latest, keys.seq, keys.stats])
        assert.equal(await t.redis.pttl(key), -1, `${key} is not tied to runs`);
      assert.equal(await t.redis.hlen(keys.fingerprints), 6);
    },
  );

  it('a run past its retention is gone: status exits 4, the run list and the API forget it; a running run stays', async () => {
    const t = await env('retention-expire', { SYNC_RUN_RETENTION: '2s' });
    const done = await importCli(t, await writeTemp(t, 'bad.csv', [HEADER, 'cfg-1,,mobileAppConfiguration,,,compliant,,', ''].join('\n')));
    const store = new ResultStore(t.redis, t.prefix);
    assert.equal((await store.status(done.runId))?.state, 'completed');
    const waiting = await importCli(t, await writeTemp(t, 'good.csv', [HEADER, ...seededValidRows(t.sim, 3), ''].join('\n')));
    await sleep(2300);
    const gone = await runCli(['status', done.runId, '--json'], t.env);
    assert.equal(gone.code, 4, gone.stderr);
    assert.match(gone.stderr, /no run/);
    assert.equal((await runCli(['report', done.runId], t.env)).code, 4);
    assert.deepEqual(
      (await store.listRuns()).map((r) => r.runId),
      [waiting.runId],
    );
    assert.equal(await t.redis.zscore(redisKeys(t.prefix).runs, done.runId), null, 'listing drops expired runs from P:runs');
    assert.equal((await store.status(waiting.runId))!.pending, 3, 'a running run never expires');
  });
});

describe('prune', () => {
  it(
    'removes finished runs older than --older-than with every key, never running or ' + 'blocked ones, and keeps change detection',
    async () => {
      const t = await env('prune');
      const rows = [HEADER, ...seededValidRows(t.sim, 5), ''].join('\n');
      const csv = await writeTemp(t, 'in.csv', rows);
      const worker = await startInProcessWorker(t);
      const sent = await importCli(t, csv);
      await waitForRun(t.redis, t.prefix, sent.runId, 30_000);
      await worker.close();
      const unchanged = await importCli(t, csv); // finished at once: 5 unchanged rows
      const blocked = await importCli(
        t,
        await writeTemp(t, 'bad.csv', [HEADER, 'cfg-1,,mobileAppConfiguration,,,compliant,,', ''].join('\n')),
      );
      const store = new ResultStore(t.redis, t.prefix);
      await store.setBlocked(blocked.runId, 'missing permission');
      const running = await importCli(
        t,
        await writeTemp(t, 'new.csv', [HEADER, ...seededValidRows(t.sim, 4, { offset: 100 }), ''].join('\n')),
      );

      const usage = await runCli(['prune', '--older-than', 'soon'], t.env);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /--older-than/);
      assert.deepEqual(
        lastJsonLine((await runCli(['prune', '--json'], t.env)).stdout),
        { runs: 0, rows: 0 },
        'nothing is older than the 30-day default',
      );

      const dry = await runCli(['prune', '--older-than', '0s', '--dry-run', '--json'], t.env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(lastJsonLine(dry.stdout), { runs: 2, rows: 10 });
      assert.equal((await runCli(['status', sent.runId], t.env)).code, 0, 'a dry run removes nothing');

      const pruned = await runCli(['prune', '--older-than', '0s', '--json'], t.env);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.deepEqual(lastJsonLine(pruned.stdout), { runs: 2, rows: 10 });
      for (const runId of [sent.runId, unchanged.runId]) {
        assert.equal((await runCli(['status', runId], t.env)).code, 4, `${runId} is gone`);
        assert.deepEqual(await t.redis.keys(`${t.prefix}:run:${runId}*`), [], `no key of ${runId} is left`);
      }
      assert.deepEqual((await store.listRuns()).map((r) => r.runId).sort(), [blocked.runId, running.runId].sort());
      assert.equal((await store.status(blocked.runId))!.state, 'blocked');
      assert.equal((await store.status(running.runId))!.state, 'running');

      // What Graph holds is remembered: the same file is still unchanged.
      assert.equal((await importCli(t, csv)).unchanged, 5);
    },
  );

  it('removes a run only once it finished longer ago than the cutoff (injected clock)', async () => {
    const t = await env('prune-clock');
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    try {
      await importRun(store, queue, {
        runId: 'rejected-only',
        rows: readCsv(Readable.from([`${HEADER}\ncfg-1,,mobileAppConfiguration,,,compliant,,\n`])),
        sourceLabel: 'test',
      });
    } finally {
      await queue.close();
    }
    const finishedAt = (await store.status('rejected-only'))!.finishedAt!;
    assert.deepEqual(await store.prune(HOUR, { now: finishedAt + HOUR / 2 }), { runs: 0, rows: 0 });
    assert.deepEqual(await store.prune(HOUR, { now: finishedAt + 2 * HOUR, dryRun: true }), { runs: 1, rows: 1 });
    assert.deepEqual(await store.prune(HOUR, { now: finishedAt + 2 * HOUR }), { runs: 1, rows: 1 });
    assert.equal(await store.status('rejected-only'), undefined);
  });
});

describe('per-row storage', () => {
  it(
    'an unchanged row is a bit, yet report and the runs API list it with its line and ' +
      'key; a succeeded row keeps a digest of Graph’s body',
    async () => {
      const t = await env('compact-rows');
      const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, 1500), ''].join('\n'));
      const worker = await startInProcessWorker(t);
      const first = await importCli(t, csv, ['--chunk-size', '400']);
      await waitForRun(t.redis, t.prefix, first.runId, 60_000);
      await worker.close();
      const store = new ResultStore(t.redis, t.prefix);
      const sent = (await store.getRow(first.runId, 2))!;
      assert.equal(sent.state, 'succeeded');
      assert.equal(sent.response, undefined, 'Graph’s body is not kept');
      assert.match(String((sent as unknown as Record<string, unknown>).responseSha256), /^[0-9a-f]{16}$/);
      assert.ok(sent.requestId, 'the request id is kept');
      const firstReport = await runCli(['report', first.runId, '--format', 'ndjson'], t.env);
      const keyOf = new Map(
        firstReport.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
          .map((r: { line: number; key: string }) => [r.line, r.key]),
      );

      const again = await importCli(t, csv, ['--chunk-size', '400']);
      assert.equal(again.unchanged, 1500);
      assert.equal(await t.redis.hlen(redisKeys(t.prefix).rows(again.runId)), 0, 'no per-row record for unchanged rows');
      const report = await runCli(['report', again.runId, '--format', 'ndjson'], t.env);
      assert.equal(report.code, 0, report.stderr);
      const lines = report.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 1500);
      lines.forEach((row, i) => assert.deepEqual(row, { line: i + 2, key: keyOf.get(i + 2), state: 'unchanged', attempts: 0 }));
      const csvReport = await runCli(['report', again.runId, '--state', 'unchanged'], t.env);
      assert.equal(csvReport.stdout.trim().split('\n').length, 1501);
      assert.equal((await store.getRow(again.runId, 803))!.key, keyOf.get(803));
    },
  );
});

describe('events', () => {
  it('concurrent requests of one hour share a run, each with its own block of lines; the next hour starts a new run', async () => {
    const t = await env('events-share');
    let now = Date.UTC(2026, 10, 20, 10, 15);
    const server = await startTestServer(t, { now: () => now });
    try {
      const bodies = Array.from({ length: 12 }, (_, r) =>
        Array.from({ length: 5 }, (_, i) => (i === 2 && r % 3 === 0 ? { userStatusId: 'no-config' } : eventRecord(r * 5 + i))),
      );
      const answers = await Promise.all(bodies.map((body) => postEvents(server.url, body)));
      const runIds = new Set(answers.map((a) => a.json.runId));
      assert.deepEqual([...runIds], ['evt-20261120T10']);
      const firstLines = answers.map((a) => a.json.firstLine as number).sort((a, b) => a - b);
      assert.deepEqual(
        firstLines,
        Array.from({ length: 12 }, (_, r) => 1 + r * 5),
        'blocks of 5 lines, none shared',
      );
      const jobIds = answers.flatMap((a) => a.json.jobIds as string[]);
      assert.equal(new Set(jobIds).size, 56);
      const store = new ResultStore(t.redis, t.prefix);
      const status = (await store.status('evt-20261120T10'))!;
      assert.deepEqual([status.total, status.rejected, status.pending], [60, 4, 56]);
      // Each request's records are its lines: record i of a request is line firstLine + i.
      for (const [r, answer] of answers.entries()) {
        for (let i = 0; i < 5; i++) {
          const row = (await store.getRow(answer.json.runId, answer.json.firstLine + i))!;
          assert.equal(row.state, i === 2 && r % 3 === 0 ? 'rejected' : 'queued', `request ${r} record ${i}`);
        }
      }
      now += 3_600_000;
      const later = await postEvents(server.url, [eventRecord(1000)]);
      assert.deepEqual([later.json.runId, later.json.firstLine], ['evt-20261120T11', 1]);
    } finally {
      await server.close();
    }
  });
});

describe('/metrics', () => {
  it('a scrape reads counters: it sends as many commands with 40 runs as with 2, and none to any run', async () => {
    const redisServer = await startPrivateRedis();
    const t = await env('metrics-scan', {}, redisServer.url);
    const probe = new Redis(redisServer.url);
    const queue = createPatchQueue(t.redis, t.prefix);
    const store = new ResultStore(t.redis, t.prefix);
    const metrics = createServerMetrics({
      store,
      queue,
      breaker: new PermissionBreaker(t.redis, t.prefix),
      redis: t.redis,
      prefix: t.prefix,
      rateLimit: t.config.rateLimit,
      memoryHighWaterPercent: t.config.memoryHighWaterPercent,
    });
    const addRuns = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const rows = readCsv(
          Readable.from([
            `${HEADER}\ncfg-1,,mobileAppConfiguration,,,compliant,,\n${validRows(1, { offset: Math.floor(Math.random() * 1e9) })[0]}\n`,
          ]),
        );
        await importRun(store, queue, { runId: `r-${(await store.listRuns(1000)).length}`, rows, sourceLabel: 'test' });
      }
    };
    const commandsOfOneScrape = async () => {
      await metrics.render(); // warm up: script loading, first-time reads
      const before = await probe.info('stats');
      await metrics.render();
      const afterInfo = await probe.info('stats');
      const processed = (info: string) => Number(/total_commands_processed:(\d+)/.exec(info)![1]);
      return processed(afterInfo) - processed(before) - 1; // the INFO itself
    };
    try {
      await addRuns(2);
      const withTwo = await commandsOfOneScrape();
      await addRuns(38);
      const withForty = await commandsOfOneScrape();
      assert.equal(withForty, withTwo, `a scrape sent ${withTwo} commands with 2 runs and ${withForty} with 40`);
      // Only our families: the default process metrics may hold NaN before the event loop was sampled.
      const ours = (await metrics.render())
        .split('\n')
        .filter((l) => /^(# (HELP|TYPE) )?compliance_sync_/.test(l) && !l.includes('compliance_sync_server_'));
      const stats = parsePrometheusText(ours.join('\n') + '\n');
      assert.equal(sampleValue(stats, 'compliance_sync_rows_total', { state: 'rejected' }), 40);
      assert.equal(sampleValue(stats, 'compliance_sync_rows_queued'), 40);
      assert.equal(sampleValue(stats, 'compliance_sync_runs_open', { state: 'running' }), 40);
      assert.equal(sampleValue(stats, 'compliance_sync_rows', { state: 'queued' }), 40, 'the deprecated name, for one release');
      // One scrape: no range over the run list, and two HGETALLs (the counters and the breaker), not one per run.
      await probe.config('RESETSTAT');
      await metrics.render();
      const commandStats = await probe.info('commandstats');
      assert.doesNotMatch(commandStats, /cmdstat_z(rev)?range/);
      assert.match(commandStats, /cmdstat_hgetall:calls=2,/, commandStats);
    } finally {
      await queue.close();
      probe.disconnect();
      await t.close();
      envs.splice(envs.indexOf(t), 1);
      await redisServer.stop();
    }
  });
});
