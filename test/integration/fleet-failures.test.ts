/**
 * How the fleet handles each kind of failure Graph can answer with, against the real simulator:
 * transient faults are retried until every row lands, permanent ones fail fast with Graph's reason,
 * 401 refreshes the token once, 403 stops the whole fleet until `resume`.
 */
import { WRITE_QUICK_RETRIES } from '../../src/pacing/retry-policy.js';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { TokenSource } from '../../src/graph/auth.js';
import { defaultTokens } from '../../src/simulator/index.js';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { PATCH_JOB_OPTIONS } from '../../src/queue/queues.js';
import { jobIdFor } from '../../src/redis-layout.js';
import {
  runCli,
  seedGraph,
  spawnWorker,
  startInProcessWorker,
  startTestEnv,
  validRows,
  waitForRun,
  type TestEnv,
} from '../support/harness.js';
import { assertAllSucceededOnce, queueRows, rowsOf, sleep } from './fleet-helpers.js';

/** A token source that counts forced refreshes, standing in for a credential whose cached token went stale. */
function countingTokens(): TokenSource & { refreshes: number } {
  return {
    description: 'test tokens',
    refreshes: 0,
    async getToken(forceRefresh = false) {
      if (forceRefresh) this.refreshes++;
      return 'sim-token';
    },
  };
}

async function withEnv(
  name: string,
  options: Parameters<typeof startTestEnv>[1],
  body: (t: TestEnv, workers: PatchWorker[]) => Promise<void>,
) {
  const t = await startTestEnv(name, options);
  const workers: PatchWorker[] = [];
  try {
    await body(t, workers);
  } finally {
    await Promise.all(workers.map((w) => w.close(5000)));
    await t.close();
  }
}

const sumAttempts = async (t: TestEnv, runId: string) =>
  [...(await rowsOf(t.redis, t.prefix, runId)).values()].reduce((n, r) => n + (r.attempts ?? 0), 0);

describe('fleet failure handling', { concurrency: 1 }, () => {
  it('transient faults (503, 504, dropped connections, timeouts) are retried until every row landed', async () => {
    const faults = { rate503: 0.05, rate504: 0.02, rateDrop: 0.02, rateSlow: 0.02, slowMs: 1500, retryAfter503Seconds: 0.2 };
    await withEnv(
      'faults',
      { sim: { faults, seed: 7 }, env: { SYNC_RATE_LIMIT: '200/s', SYNC_REQUEST_TIMEOUT_MS: '500' } },
      async (t, workers) => {
        workers.push(await startInProcessWorker(t, { concurrency: 10 }), await startInProcessWorker(t, { concurrency: 10 }));
        const rows = 300;
        const started = Date.now();
        const runId = await queueRows(t, rows);
        const status = await waitForRun(t.redis, t.prefix, runId, 60_000);
        await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, rows);

        const c = t.sim.counters();
        const figures = { rows, elapsedMs: Date.now() - started, requests: c.requests, byStatus: c.byStatus, appliedTwice: c.appliedTwice };
        console.log(`# faults: ${JSON.stringify(figures)}`);
        assert.ok(
          (c.byStatus['503'] ?? 0) > 0 && (c.byStatus['504'] ?? 0) > 0 && (c.byStatus.dropped ?? 0) > 0,
          'every fault kind happened',
        );
        // Slow answers (1.5 s) outlast the 500 ms request timeout: the simulator counts them as 200s, we saw timeouts and retried.
        assert.ok((c.byStatus['200'] ?? 0) > rows, 'some requests timed out and were sent again');
        // Every request the simulator saw is accounted to exactly one row.
        assert.equal(await sumAttempts(t, runId), c.requests);
      },
    );
  });

  it('a row still failing after the quick in-job retries goes back to BullMQ, which retries it later', async () => {
    await withEnv('bullmq-retry', {}, async (t, workers) => {
      const worker = await startInProcessWorker(t, { concurrency: 1 });
      workers.push(worker);
      // A completed patch job is removed at once (PATCH_JOB_OPTIONS): its attempts are read as it completes.
      const completed = new Map<string, number>();
      worker.worker.on('completed', (job) => completed.set(job.id!, job.attemptsMade));
      const failures = WRITE_QUICK_RETRIES + 2; // one more than the job's own tries (the first and its quick retries)
      t.sim.injectNext(failures, { status: 502, code: 'BadGateway' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 30_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 1);
      const attemptsMade = completed.get(jobIdFor(runId, 2, 0));
      // Completed on BullMQ's second attempt or later: the first ended with its quick retries used up.
      assert.ok(attemptsMade !== undefined && attemptsMade >= 2, `BullMQ attempts: ${attemptsMade}`);
      // Requests are counted across BullMQ attempts, not restarted from zero.
      assert.equal((await rowsOf(t.redis, t.prefix, runId)).get(2)?.attempts, failures + 1);
    });
  });

  it("a 503's Retry-After is honoured before the retry", async () => {
    await withEnv('retry-after-503', {}, async (t, workers) => {
      workers.push(await startInProcessWorker(t, { concurrency: 1 }));
      t.sim.injectNext(1, { status: 503, code: 'ServiceUnavailable', retryAfter: '1.5' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 1);
      const [refused, accepted] = t.sim.requestLog();
      assert.equal(refused.status, 503);
      assert.equal(accepted.status, 200);
      assert.ok(accepted.at - refused.at >= 1500, `retried after ${accepted.at - refused.at} ms`);
    });
  });

  it("permanent errors (400, 404, 409, 422) fail the row at once with Graph's code and message", async () => {
    await withEnv('permanent', {}, async (t, workers) => {
      const answers = [
        { status: 400, code: 'BadRequest', message: 'Invalid status value.' },
        { status: 404, code: 'ResourceNotFound', message: 'The configuration was not found.' },
        { status: 409, code: 'Conflict', message: 'The object was changed by another request.' },
        { status: 422, code: 'UnprocessableEntity', message: 'The entity could not be processed.' },
      ];
      for (const answer of answers) t.sim.injectNext(1, answer);
      workers.push(await startInProcessWorker(t, { concurrency: 1 }));
      const runId = await queueRows(t, answers.length);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      assert.equal(status.state, 'completed_with_errors');
      assert.equal(status.failed, answers.length);
      assert.equal(t.sim.counters().requests, answers.length, 'no retries');
      const rows = [...(await rowsOf(t.redis, t.prefix, runId)).values()];
      assert.deepEqual(rows.map((r) => r.reason).sort(), answers.map((a) => `${a.status} ${a.code}: ${a.message}`).sort());
      for (const row of rows) {
        assert.equal(row.state, 'failed');
        assert.equal(row.attempts, 1);
        assert.ok(row.requestId, 'the request id is kept for support cases');
        assert.ok(row.record, 'the record is kept so `retry` can send it again');
      }
    });
  });

  it('a 429 without Retry-After backs off exponentially, with jitter, through the fleet pause', async () => {
    await withEnv('no-retry-after', {}, async (t, workers) => {
      // Jitter fixed at its midpoint (x1.0), so the pauses are exactly 1, 2 and 4 s; nextStep's unit tests cover the jitter range.
      workers.push(await startInProcessWorker(t, { concurrency: 1, random: () => 0.5 }));
      t.sim.injectNext(3, { status: 429, code: 'TooManyRequests' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 30_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 1);
      assert.equal(status.throttledCount, 3);
      assert.equal(status.throttledMs, 1000 + 2000 + 4000);
      // The pause holds every request back for at least its length.
      const at = t.sim.requestLog().map((e) => e.at);
      assert.deepEqual(
        [at[1] - at[0] >= 1000, at[2] - at[1] >= 2000, at[3] - at[2] >= 4000],
        [true, true, true],
        `gaps ${at
          .slice(1)
          .map((v, i) => v - at[i])
          .join(', ')} ms`,
      );
    });
  });

  it('429s never use up attempts: a row refused more often than its retry budget still succeeds', async () => {
    await withEnv('many-429', {}, async (t, workers) => {
      const worker = await startInProcessWorker(t, { concurrency: 1 });
      workers.push(worker);
      // A completed patch job is removed at once (PATCH_JOB_OPTIONS): its attempts are read as it completes.
      const completed = new Map<string, number>();
      worker.worker.on('completed', (job) => completed.set(job.id!, job.attemptsMade));
      const refusals = (PATCH_JOB_OPTIONS.attempts ?? 1) + 10;
      t.sim.injectNext(refusals, { status: 429, code: 'TooManyRequests', retryAfter: '0.05' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 1);
      assert.equal(status.throttledCount, refusals);
      assert.equal(t.sim.counters().requests, refusals + 1);
      const attemptsMade = completed.get(jobIdFor(runId, 2, 0));
      assert.ok(attemptsMade === 1, `BullMQ attempts used: ${attemptsMade}`);
    });
  });

  it('a row that cannot be sent within SYNC_MAX_ROW_AGE_MS fails with a clear reason', async () => {
    await withEnv('max-age', { env: { SYNC_MAX_ROW_AGE_MS: '1500' } }, async (t, workers) => {
      seedGraph(t.sim, validRows(1));
      workers.push(await startInProcessWorker(t, { concurrency: 1 }));
      t.sim.injectNext(100, { status: 503, code: 'ServiceUnavailable' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      assert.equal(status.state, 'completed_with_errors');
      const [row] = (await rowsOf(t.redis, t.prefix, runId)).values();
      assert.equal(row.state, 'failed');
      assert.match(
        row.reason!,
        /^gave up: not sent within SYNC_MAX_ROW_AGE_MS \(1\.5 s\) of being queued; last error: 503 ServiceUnavailable/,
      );
    });
  });

  it('a pause never fails a row for age: 4 s of Retry-After pauses, a 1.5 s SYNC_MAX_ROW_AGE_MS, and the row succeeds', async () => {
    await withEnv('max-age-paused', { env: { SYNC_MAX_ROW_AGE_MS: '1500' } }, async (t, workers) => {
      seedGraph(t.sim, validRows(1));
      workers.push(await startInProcessWorker(t, { concurrency: 1 }));
      t.sim.injectNext(10, { status: 429, code: 'TooManyRequests', retryAfter: '0.4' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      assert.deepEqual([status.state, status.succeeded, status.throttledCount], ['completed', 1, 10]);
    });
  });

  it('a row that throttling held and that then runs out of time says "throttled" first', async () => {
    await withEnv('max-age-throttled', { env: { SYNC_MAX_ROW_AGE_MS: '1500' } }, async (t, workers) => {
      seedGraph(t.sim, validRows(1));
      workers.push(await startInProcessWorker(t, { concurrency: 1 }));
      t.sim.injectNext(2, { status: 429, code: 'TooManyRequests', retryAfter: '0.4' });
      t.sim.injectNext(100, { status: 503, code: 'ServiceUnavailable' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      assert.equal(status.state, 'completed_with_errors');
      const [row] = (await rowsOf(t.redis, t.prefix, runId)).values();
      assert.match(
        row.reason!,
        /^throttled: Graph's 429s held the row; gave up: not sent within SYNC_MAX_ROW_AGE_MS \(1\.5 s\) of being queued, /,
      );
      assert.match(row.reason!, /, time in fleet pauses not counted; last error: 503 ServiceUnavailable/);
    });
  });

  it('a 401 refreshes the token exactly once and the row succeeds; the bearer token reaches Graph', async () => {
    await withEnv('401-once', {}, async (t, workers) => {
      const tokens = countingTokens();
      workers.push(await startInProcessWorker(t, { concurrency: 1, tokens }));
      t.sim.injectNext(1, { status: 401, code: 'InvalidAuthenticationToken', message: 'Access token has expired.' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 1);
      assert.equal(tokens.refreshes, 1);
      assert.equal(t.sim.counters().authorizationSeen['sim-token'], 2);
      assert.equal((await rowsOf(t.redis, t.prefix, runId)).get(2)?.attempts, 2);
    });
  });

  it('two 401s in a row fail the row, saying the token was refreshed and still refused', async () => {
    await withEnv('401-twice', {}, async (t, workers) => {
      const tokens = countingTokens();
      workers.push(await startInProcessWorker(t, { concurrency: 1, tokens }));
      t.sim.injectNext(2, { status: 401, code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' });
      const runId = await queueRows(t, 1);
      const status = await waitForRun(t.redis, t.prefix, runId, 20_000);
      assert.equal(status.state, 'completed_with_errors');
      const row = (await rowsOf(t.redis, t.prefix, runId)).get(2)!;
      assert.equal(row.state, 'failed');
      assert.equal(row.httpStatus, 401);
      assert.match(row.reason!, /^401 InvalidAuthenticationToken: Access token validation failure\./);
      assert.match(row.reason!, /refreshed once/);
      assert.equal(tokens.refreshes, 1);
      assert.equal(t.sim.counters().requests, 2);
    });
  });

  it('403s stop the fleet after a bounded number of requests; `resume` finishes the run once permission is granted', async () => {
    const noPermission = { 'sim-token': { tenantId: 'sim-tenant', appId: 'sim-app', permissions: [] } };
    await withEnv('403', { sim: { tokens: noPermission }, env: { SYNC_RATE_LIMIT: '20/s' } }, async (t, workers) => {
      const rows = 40;
      const runId = await queueRows(t, rows);
      // The real CLI worker: with --until-idle it exits 3 once the fleet is blocked.
      const child = spawnWorker(t.env, ['--until-idle', '--concurrency', '5']);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 3, stderr);
      assert.match(stderr, /blocked: .*DeviceManagementConfiguration\.ReadWrite\.All/);
      assert.match(stderr, /compliance-sync resume/);

      const blocked = await waitForRun(t.redis, t.prefix, runId, 1000, (s) => s.state === 'blocked');
      assert.match(blocked.blockedReason!, /403 Forbidden/);
      assert.match(blocked.blockedReason!, /DeviceManagementConfiguration\.ReadWrite\.All/);
      const refused = t.sim.counters().requests;
      console.log(`# 403: ${refused} requests before the fleet stopped; ${blocked.failed} rows failed with 403`);
      assert.ok(refused >= 3 && refused <= 10, `${refused} requests were refused before the fleet stopped`);
      assert.equal(t.sim.counters().byStatus['403'], refused);
      assert.equal(blocked.succeeded, 0);

      // Still blocked: a worker started now sends nothing.
      workers.push(await startInProcessWorker(t, { concurrency: 5 }));
      await sleep(1000);
      assert.equal(t.sim.counters().requests, refused);

      t.sim.configure({ tokens: defaultTokens() });
      const resumed = await runCli(['resume', runId, '--json'], t.env);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(JSON.parse(resumed.stdout), { runId, requeued: blocked.failed });
      const status = await waitForRun(t.redis, t.prefix, runId, 30_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, rows);
      assert.equal(status.blockedReason, undefined);
    });
  });
});
