import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawRow, RunStatus } from '../../src/interfaces.js';
import { importRun } from '../../src/producer/import-run.js';
import { PermissionBreaker } from '../../src/pacing/breaker.js';
import { createPatchQueue, queueDepth } from '../../src/queue/queues.js';
import { redisKeys } from '../../src/redis-layout.js';
import { ResultStore } from '../../src/results/store.js';
import {
  BIN,
  REPO_ROOT,
  runCli,
  SEEDED_VALUES,
  seedRecords,
  simKey,
  startInProcessWorker,
  testEnvs,
  waitForRun,
  type TestEnv,
} from '../support/harness.js';
import { API_TOKEN, OTHER_TOKEN, authHeaders, eventRecord, freePort, postEvents, startTestServer } from '../support/server-helpers.js';

const env = testEnvs();

/** Nothing queued and no run recorded under the env's prefix. */
async function assertNothingEnqueued(t: TestEnv): Promise<void> {
  const queue = createPatchQueue(t.redis, t.prefix);
  const depth = await queueDepth(queue);
  const completed = await queue.getJobCountByTypes('completed');
  await queue.close();
  assert.deepEqual(depth, { waiting: 0, prioritized: 0, delayed: 0, active: 0, paused: 0, failed: 0 });
  assert.equal(completed, 0);
  assert.equal(await t.redis.zcard(redisKeys(t.prefix).runs), 0, 'no run may be created');
}

async function getJson(url: string, token: string | null = API_TOKEN): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, json: await res.json() };
}

describe('serve command', () => {
  it('refuses to start without SYNC_API_TOKENS, or with a short token, exit code 2', async () => {
    const t = await env('serve-cli-refuse');
    const missing = await runCli(['serve', '--port', '0'], { ...t.env, SYNC_API_TOKENS: '' });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /SYNC_API_TOKENS is not set/);
    const weak = await runCli(['serve', '--port', '0'], { ...t.env, SYNC_API_TOKENS: `${API_TOKEN},short` });
    assert.equal(weak.code, 2, weak.stderr);
    assert.match(weak.stderr, /token 2 is shorter than 16 characters/);
    assert.ok(!weak.stderr.includes('short,') && !weak.stderr.includes(API_TOKEN), 'the error must not print the tokens');
    const badPort = await runCli(['serve', '--port', 'eighty'], { ...t.env, SYNC_API_TOKENS: API_TOKEN });
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port must be a whole number/);
  });

  it('serves events and health as a process, logs JSON without tokens, and stops cleanly on SIGTERM', async () => {
    const t = await env('serve-cli');
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...t.env, SYNC_API_TOKENS: `${API_TOKEN}, ${OTHER_TOKEN}`, SYNC_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      for (;;) {
        const up = await fetch(`${url}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (up) break;
        assert.ok(Date.now() < deadline, `serve did not come up: ${stderr}`);
        await sleep(200);
      }
      const accepted = await postEvents(url, eventRecord(1), authHeaders(OTHER_TOKEN));
      assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
      const refused = await postEvents(url, eventRecord(2), authHeaders('wrong-token-but-long-enough'));
      assert.equal(refused.status, 401);
      assert.equal((await getJson(`${url}/v1/runs/${accepted.json.runId}`)).json.runId, accepted.json.runId);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    const lines = stderr.trim().split('\n');
    for (const line of lines) JSON.parse(line); // every log line is JSON
    assert.ok(lines.some((l) => l.includes('"events accepted"') && l.includes('"runId"')));
    for (const secret of [API_TOKEN, OTHER_TOKEN, 'wrong-token-but-long-enough'])
      assert.ok(!stderr.includes(secret), `the log must not hold ${secret}`);
    assert.ok(!/authorization/i.test(stderr), 'no Authorization header in the log');
  });
});

describe('HTTP API', () => {
  it('refuses unauthenticated, over-size, malformed, too many and all-invalid requests, and enqueues nothing', async () => {
    const t = await env('server-refusals');
    const server = await startTestServer(t);
    const small = await startTestServer(t, { env: { SYNC_API_BODY_LIMIT_BYTES: '2048' } });
    try {
      const { url } = server;
      const valid = [eventRecord(1), eventRecord(2)];
      assert.equal((await postEvents(url, valid, { 'content-type': 'application/json' })).status, 401);
      assert.equal((await postEvents(url, valid, authHeaders('not-a-token-of-ours-at-all'))).status, 401);
      assert.equal((await postEvents(url, valid, { ...authHeaders(), authorization: `Basic ${API_TOKEN}` })).status, 401);
      assert.equal((await postEvents(url, valid, { ...authHeaders(), authorization: `Bearer ${API_TOKEN}x` })).status, 401);

      // Over 1 MiB of otherwise valid records.
      const padded = Array.from({ length: 900 }, (_, i) => ({ ...eventRecord(i), userDisplayName: 'x'.repeat(1000) }));
      const tooBig = await postEvents(url, padded);
      assert.equal(tooBig.status, 413);
      assert.match(tooBig.json.message, /SYNC_API_BODY_LIMIT_BYTES \(1048576 bytes\)/);
      const overSmallLimit = await postEvents(
        small.url,
        Array.from({ length: 20 }, (_, i) => eventRecord(i)),
      );
      assert.equal(overSmallLimit.status, 413);
      assert.match(overSmallLimit.json.message, /2048 bytes/);

      const malformed = await postEvents(url, '[{"configurationId": "cfg-1", ');
      assert.equal(malformed.status, 400);
      assert.match(malformed.json.message, /not valid JSON/);

      const tooMany = await postEvents(
        url,
        Array.from({ length: 1001 }, (_, i) => ({ configurationId: 'c', userStatusId: `u${i}`, status: 'compliant' })),
      );
      assert.equal(tooMany.status, 413);
      assert.match(tooMany.json.message, /1001 records in one request; at most 1000/);

      assert.equal((await postEvents(url, [])).status, 400);
      assert.equal((await postEvents(url, '"just a string"')).status, 400);
      assert.equal((await postEvents(url, valid, { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'text/csv' })).status, 415);

      const allBad = await postEvents(url, [
        { configurationId: 'cfg-1', status: 'compliant' },
        'not an object',
        { configurationId: 'a/b', userStatusId: 'u', devicesCount: 1.5 },
      ]);
      assert.equal(allBad.status, 400);
      assert.equal(allBad.json.accepted, 0);
      assert.equal(allBad.json.rejected, 3);
      assert.deepEqual(
        allBad.json.errors.map((e: { index: number; errors: { column: string }[] }) => [e.index, e.errors.map((x) => x.column)]),
        [
          [0, ['userStatusId']],
          [1, ['(row)']],
          [2, ['configurationId', 'devicesCount']],
        ],
      );
      assert.equal(allBad.json.runId, undefined);

      // Reads need the token too; health and metrics do not.
      assert.equal((await getJson(`${url}/v1/runs`, null)).status, 401);
      assert.equal((await getJson(`${url}/healthz`, null)).status, 200);
      assert.equal((await fetch(`${url}/admin/runs`)).status, 401);
      assert.equal((await fetch(`${url}/admin/queues`)).status, 401);
      assert.equal((await fetch(`${url}/admin/queues/api/queues`)).status, 401);

      await assertNothingEnqueued(t);
      // The server is still fine after all that.
      assert.equal((await postEvents(url, valid)).status, 202);
    } finally {
      await Promise.all([server.close(), small.close()]);
    }
  });

  it('events posted over HTTP reach the simulator, and the runs API reports them like status and report', async () => {
    const t = await env('server-events');
    // Events of one hour share a run; a fixed clock keeps this test's three requests in one hour.
    const server = await startTestServer(t, { now: () => Date.UTC(2026, 10, 20, 10, 59, 59) });
    const worker = await startInProcessWorker(t);
    try {
      const { url } = server;
      seedRecords(
        t.sim,
        [1, 2, 3, 4, 5, 6, 7].map((i) => eventRecord(i)),
      );
      const all = await postEvents(url, [eventRecord(1), eventRecord(2), eventRecord(3)]);
      assert.equal(all.status, 202, JSON.stringify(all.json));
      assert.equal(all.json.runId, 'evt-20261120T10');
      assert.equal(all.json.firstLine, 1);
      assert.deepEqual(
        all.json.jobIds,
        [1, 2, 3].map((line) => `${all.json.runId}:${line}:0`),
      );
      assert.equal(all.json.accepted, 3);
      assert.equal(all.json.rejected, 0);
      assert.equal(all.json.enqueued, 3, "the rows it queued, in import --json's word");

      const single = await postEvents(url, { ...eventRecord(4), favouriteColour: 'blue' }, authHeaders(OTHER_TOKEN));
      assert.equal(single.status, 202);
      assert.deepEqual(single.json.ignoredFields, ['favouriteColour']);
      assert.equal(single.json.runId, all.json.runId, 'events of the same hour share a run');
      assert.equal(single.json.firstLine, 4);

      const mixed = await postEvents(url, [eventRecord(5), { ...eventRecord(6), status: 'sortOfOk' }, eventRecord(7)]);
      assert.equal(mixed.status, 207);
      assert.equal(mixed.json.accepted, 2);
      assert.equal(mixed.json.rejected, 1);
      assert.equal(mixed.json.firstLine, 5);
      assert.deepEqual(
        mixed.json.jobIds,
        [5, 7].map((line) => `${all.json.runId}:${line}:0`),
      );
      assert.equal(mixed.json.enqueued, 2);
      assert.deepEqual(mixed.json.errors, [
        {
          index: 1,
          errors: [
            {
              column: 'status',
              reason: '"sortOfOk" is not one of unknown, notApplicable, compliant, remediated, nonCompliant, error, conflict, notAssigned',
            },
          ],
        },
      ]);

      const finals: RunStatus[] = [await waitForRun(t.redis, t.prefix, all.json.runId, 30_000)];
      assert.deepEqual([finals[0].total, finals[0].accepted, finals[0].rejected, finals[0].succeeded], [7, 6, 1, 6]);
      const state = t.sim.state();
      for (const i of [1, 2, 3, 4, 5, 7]) {
        const expected = eventRecord(i);
        assert.equal(state[simKey(i)]?.status, expected.status, `user-${i} must be in the simulator`);
        // Graph answers its dates in UTC with seven fraction digits.
        assert.equal(state[simKey(i)]?.lastReportedDateTime, String(expected.lastReportedDateTime).replace('Z', '.0000000Z'));
      }
      assert.equal(state[simKey(6)]?.status, SEEDED_VALUES.status, 'a rejected event is never sent');

      // GET /v1/runs/:id and /v1/runs hold exactly what `status --json` prints.
      const cli = await runCli(['status', mixed.json.runId, '--json'], t.env);
      assert.equal(cli.code, 0, cli.stderr);
      const viaApi = await getJson(`${url}/v1/runs/${mixed.json.runId}`);
      assert.equal(viaApi.status, 200);
      assert.deepEqual(viaApi.json, JSON.parse(cli.stdout));
      assert.equal(viaApi.json.state, 'completed');
      assert.equal(viaApi.json.source, 'http POST /v1/user-statuses');
      const list = await getJson(`${url}/v1/runs?limit=10`);
      assert.deepEqual(list.json.runs.map((r: RunStatus) => r.runId).sort(), finals.map((s) => s.runId).sort());
      // Every timestamp also as ISO 8601 UTC, beside the ms fields.
      assert.equal(viaApi.json.createdAtIso, new Date(viaApi.json.createdAt).toISOString());
      assert.equal(viaApi.json.finishedAtIso, new Date(viaApi.json.finishedAt).toISOString());
      for (const r of list.json.runs as (RunStatus & { createdAtIso: string })[])
        assert.equal(r.createdAtIso, new Date(r.createdAt).toISOString());
      assert.equal((await getJson(`${url}/v1/runs?limit=0`)).status, 400);

      // Rows: the report's NDJSON records, filtered and paged.
      const report = await runCli(['report', mixed.json.runId, '--format', 'ndjson'], t.env);
      const reportLines = report.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const rows = await getJson(`${url}/v1/runs/${mixed.json.runId}/rows`);
      assert.deepEqual(rows.json.rows, reportLines);
      const rejected = await getJson(`${url}/v1/runs/${mixed.json.runId}/rows?state=rejected`);
      assert.deepEqual(
        rejected.json.rows.map((r: { line: number; state: string }) => [r.line, r.state]),
        [[6, 'rejected']],
      );
      assert.equal(rejected.json.rows[0].errors[0].column, 'status');
      // The mixed request's records, followed by its run id and first line.
      const page1 = await getJson(`${url}/v1/runs/${mixed.json.runId}/rows?limit=2&after=${mixed.json.firstLine - 1}`);
      assert.deepEqual(
        page1.json.rows.map((r: { line: number }) => r.line),
        [5, 6],
      );
      assert.equal(page1.json.nextAfter, 6);
      const page2 = await getJson(`${url}/v1/runs/${mixed.json.runId}/rows?limit=2&after=6`);
      assert.deepEqual(
        page2.json.rows.map((r: { line: number }) => r.line),
        [7],
      );
      assert.equal(page2.json.nextAfter, undefined);
      assert.equal((await getJson(`${url}/v1/runs/${mixed.json.runId}/rows?state=bogus`)).status, 400);
      assert.equal((await getJson(`${url}/v1/runs/no-such-run`)).status, 404);
      assert.equal((await getJson(`${url}/v1/runs/no-such-run/rows?state=failed`)).status, 404);
    } finally {
      await worker.close();
      await server.close();
    }
  });

  it('an event is not starved behind a big bulk run, and newest-wins holds between them', async () => {
    const t = await env('server-race', { env: { SYNC_RATE_LIMIT: '50/s' } });
    const store = new ResultStore(t.redis, t.prefix);
    const queue = createPatchQueue(t.redis, t.prefix);
    const server = await startTestServer(t);
    async function* bulkRows(): AsyncGenerator<RawRow> {
      for (let i = 0; i < 2000; i++) yield { line: i + 2, fields: eventRecord(i) };
    }
    seedRecords(
      t.sim,
      Array.from({ length: 2000 }, (_, i) => eventRecord(i)),
    );
    await importRun(store, queue, { runId: 'bulk-2000', rows: bulkRows(), sourceLabel: 'bulk test' });
    const worker = await startInProcessWorker(t);
    try {
      await waitForRun(t.redis, t.prefix, 'bulk-2000', 30_000, (s) => s.succeeded >= 20);
      const newer = eventRecord(1500, { day: 21, status: 'error' });
      const older = eventRecord(1600, { day: 19, status: 'unknown' });
      const posted = await postEvents(server.url, [newer, older]);
      assert.equal(posted.status, 202, JSON.stringify(posted.json));
      assert.equal(posted.json.accepted, 2);
      assert.equal(posted.json.superseded, 1, 'the event older than the waiting bulk row loses');
      assert.deepEqual(posted.json.jobIds, [`${posted.json.runId}:1:0`]);

      await waitForRun(t.redis, t.prefix, posted.json.runId, 20_000);
      const eventRow = (await store.getRow(posted.json.runId, 1))!;
      assert.equal(eventRow.state, 'succeeded');
      const bulk = (await store.status('bulk-2000'))!;
      assert.equal(bulk.state, 'running', 'the bulk run is still going when the event is done');
      let bulkDoneBeforeEvent = 0;
      for await (const row of store.iterateRows('bulk-2000', ['succeeded']))
        if (row.finishedAt! <= eventRow.finishedAt!) bulkDoneBeforeEvent++;
      assert.ok(bulkDoneBeforeEvent < 300, `the event waited for ${bulkDoneBeforeEvent} bulk rows`);

      // The newer event replaced the waiting bulk row of the same key; the older event was itself replaced.
      assert.equal((await store.getRow('bulk-2000', 1502))!.state, 'superseded');
      assert.equal(t.sim.state()[simKey(1500)]?.status, 'error');
      assert.equal(t.sim.state()[simKey(1500)]?.lastReportedDateTime, String(newer.lastReportedDateTime).replace('Z', '.0000000Z'));
      const olderRow = (await store.getRow(posted.json.runId, 2))!;
      assert.equal(olderRow.state, 'superseded');
      assert.deepEqual(olderRow.supersededBy, { runId: 'bulk-2000', line: 1602 });
    } finally {
      await worker.close(5000);
      await queue.close();
      await server.close();
    }
  });

  it('/readyz is 503 while the permission breaker holds the fleet, /healthz stays 200', async () => {
    const t = await env('server-ready');
    const server = await startTestServer(t);
    try {
      assert.deepEqual((await getJson(`${server.url}/readyz`, null)).json, { ready: true, redis: 'ok', breaker: { tripped: false } });
      const breaker = new PermissionBreaker(t.redis, t.prefix);
      for (let i = 0; i < breaker.threshold; i++) await breaker.recordForbidden('403 from Graph (missing permission)');
      const blocked = await getJson(`${server.url}/readyz`, null);
      assert.equal(blocked.status, 503);
      assert.deepEqual(blocked.json.breaker, { tripped: true, reason: '403 from Graph (missing permission)' });
      assert.equal((await getJson(`${server.url}/healthz`, null)).status, 200);
      await breaker.reset();
      assert.equal((await getJson(`${server.url}/readyz`, null)).status, 200);
    } finally {
      await server.close();
    }
  });
});
