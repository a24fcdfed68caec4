import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ResultStore } from '../../src/results/store.js';
import { timelineBucket, type TimelineBucket } from '../../src/results/timeline.js';
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
import { authHeaders, startTestServer } from '../support/server-helpers.js';

const envs: TestEnv[] = [];
after(async () => {
  await Promise.all(envs.map((t) => t.close()));
});

interface TimelineJson {
  runId: string;
  bucketSeconds: number;
  buckets: TimelineBucket[];
}

describe('run timeline', () => {
  it('GET /v1/runs/<id>/timeline counts every finished row in the bucket of its finishedAt, and every 429 with its pause', async () => {
    // A tight Graph budget makes the simulator answer 429s; cfg-5 does not exist there, so its rows fail.
    const t = await startTestEnv('timeline-api', {
      sim: { budget: { perApp: { limit: 6, windowMs: 1000 } }, missingConfigurations: ['cfg-5'] },
    });
    envs.push(t);
    const server = await startTestServer(t);
    const worker = await startInProcessWorker(t);
    try {
      const csv = await writeTemp(t, 'in.csv', [HEADER, ...seededValidRows(t.sim, 30), ''].join('\n'));
      const imported = await runCli(['import', csv, '--json', '--no-progress'], t.env);
      assert.equal(imported.code, 0, imported.stderr);
      const runId = lastJsonLine<{ runId: string }>(imported.stdout).runId;
      const status = await waitForRun(t.redis, t.prefix, runId, 60_000);
      assert.ok(status.throttledCount > 0, 'the simulator must have throttled some requests');
      assert.ok(status.failed > 0 && status.succeeded > 0);

      const res = await fetch(`${server.url}/v1/runs/${runId}/timeline`, { headers: authHeaders() });
      assert.equal(res.status, 200);
      const timeline = (await res.json()) as TimelineJson;
      assert.equal(timeline.runId, runId);
      assert.equal(timeline.bucketSeconds, 10);

      // Expected from the rows themselves, read independently of the timeline hash.
      const expected = new Map<number, { succeeded: number; failed: number }>();
      for await (const row of new ResultStore(t.redis, t.prefix).iterateRows(runId, ['succeeded', 'failed'])) {
        const sec = timelineBucket(row.finishedAt!);
        const e = expected.get(sec) ?? { succeeded: 0, failed: 0 };
        e[row.state as 'succeeded' | 'failed']++;
        expected.set(sec, e);
      }
      for (const b of timeline.buckets) {
        const e = expected.get(b.startMs / 1000) ?? { succeeded: 0, failed: 0 };
        assert.deepEqual({ succeeded: b.succeeded, failed: b.failed }, e, `bucket ${b.start}`);
        assert.equal(b.start, new Date(b.startMs).toISOString());
      }
      const starts = [...expected.keys()].sort((a, b) => a - b);
      assert.ok(timeline.buckets[0].startMs / 1000 <= starts[0]);
      assert.ok(timeline.buckets.at(-1)!.startMs / 1000 >= starts.at(-1)!);
      for (let i = 1; i < timeline.buckets.length; i++)
        assert.equal(timeline.buckets[i].startMs - timeline.buckets[i - 1].startMs, 10_000, 'contiguous buckets');

      const total = (field: 'succeeded' | 'failed' | 'throttled' | 'pausedMs') => timeline.buckets.reduce((n, b) => n + b[field], 0);
      assert.equal(total('succeeded'), status.succeeded);
      assert.equal(total('failed'), status.failed);
      assert.equal(total('throttled'), status.throttledCount);
      assert.equal(total('pausedMs'), status.throttledMs);
    } finally {
      await worker.close();
      await server.close();
    }
  });

  it('answers 404 for an unknown run, 400 for an id no run can have, and 401 without a token', async () => {
    const t = await startTestEnv('timeline-errors');
    envs.push(t);
    const server = await startTestServer(t);
    try {
      const unknown = await fetch(`${server.url}/v1/runs/no-such-run/timeline`, { headers: authHeaders() });
      assert.equal(unknown.status, 404);
      assert.match(((await unknown.json()) as { message: string }).message, /no run no-such-run/);
      for (const bad of ['a%20b', 'a:b', 'a%2Fb', '%3Cscript%3E', 'a%0Ab']) {
        const res = await fetch(`${server.url}/v1/runs/${bad}/timeline`, { headers: authHeaders() });
        assert.equal(res.status, 400, bad);
      }
      const anonymous = await fetch(`${server.url}/v1/runs/no-such-run/timeline`);
      assert.equal(anonymous.status, 401);
    } finally {
      await server.close();
    }
  });
});
