/**
 * Crashes lose nothing: workers SIGKILLed at random moments, a graceful SIGTERM with and without enough time,
 * and a Redis restart mid-run. Workers are the real CLI processes; every row must end succeeded exactly once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { createPatchQueue, queueDepth } from '../../src/queue/queues.js';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { ResultStore } from '../../src/results/store.js';
import { spawnWorker, startInProcessWorker, startTestEnv, waitForRun, type TestEnv } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';
import { seededRandom, testSeed } from '../support/seeded-random.js';
import { assertAllSucceededOnce, queueRows, sleep } from './fleet-helpers.js';

const LOCK_MS = 2000;

interface RunningWorker {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr(): string;
}

function startWorker(t: TestEnv, args: string[] = []): RunningWorker {
  const child = spawnWorker(t.env, ['--lock-duration', String(LOCK_MS), ...args]);
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, stderr: () => stderr };
}

async function stopAll(workers: RunningWorker[]): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
}

/** Waits until the simulator has received `n` PATCH requests. */
async function untilRequests(t: TestEnv, n: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (t.sim.counters().requests < n) {
    if (Date.now() > deadline) throw new Error(`the simulator saw only ${t.sim.counters().requests} of ${n} requests`);
    await sleep(20);
  }
}

describe('crashes lose nothing', { concurrency: 1 }, () => {
  it('three workers SIGKILLed at random moments and restarted: every row succeeds exactly once', async () => {
    const t = await startTestEnv('kill', { sim: { latencyMs: 40 }, env: { SYNC_RATE_LIMIT: '80/s' } });
    const workers: RunningWorker[] = [];
    try {
      const rows = 400;
      const runId = await queueRows(t, rows);
      const fleet = [0, 1, 2].map(() => startWorker(t, ['--concurrency', '5']));
      workers.push(...fleet);
      await untilRequests(t, 20);
      const started = Date.now();
      let kills = 0;
      // Kill one worker at a random moment every 0.4-1.2 s while the run goes on, restarting it at once.
      const seed = testSeed();
      const random = seededRandom(seed);
      const store = new ResultStore(t.redis, t.prefix);
      while ((await store.status(runId))!.pending > 50 && kills < 8) {
        await sleep(400 + random() * 800);
        const slot = Math.floor(random() * fleet.length);
        fleet[slot].child.kill('SIGKILL');
        await fleet[slot].exited;
        kills++;
        fleet[slot] = startWorker(t, ['--concurrency', '5']);
        workers.push(fleet[slot]);
      }
      const status = await waitForRun(t.redis, t.prefix, runId, 60_000);
      console.log(
        `# kill (TEST_SEED=${seed}): ${kills} SIGKILLs, finished ${Date.now() - started}` +
          ` ms after the ` +
          `first; ${JSON.stringify({ requests: t.sim.counters().requests, appliedTwice: t.sim.counters().appliedTwice })}`,
      );
      assert.ok(kills >= 3, `only ${kills} kills happened`);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, rows);
      const queue = createPatchQueue(t.redis, t.prefix);
      assert.equal((await queueDepth(queue)).failed, 0, 'no job failed');
      await queue.close();
    } finally {
      await stopAll(workers);
      await t.close();
    }
  });

  it('SIGTERM lets in-flight requests finish and record their rows before the worker exits', async () => {
    const t = await startTestEnv('sigterm', { sim: { latencyMs: 1500 } });
    const workers: RunningWorker[] = [];
    try {
      const runId = await queueRows(t, 5);
      const worker = startWorker(t, ['--concurrency', '5']);
      workers.push(worker);
      await untilRequests(t, 5);
      const signalled = Date.now();
      worker.child.kill('SIGTERM');
      assert.equal(await worker.exited, 0, worker.stderr());
      const waited = Date.now() - signalled;
      // Recorded by the exiting worker itself: no other worker exists to recover them.
      const status = await waitForRun(t.redis, t.prefix, runId, 1000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 5);
      assert.ok(waited >= 500, `exited ${waited} ms after SIGTERM, before its requests were answered`);
    } finally {
      await stopAll(workers);
      await t.close();
    }
  });

  it('SIGTERM with --shutdown-timeout shorter than the requests: exits on time and stalled-job recovery finishes the rows', async () => {
    const t = await startTestEnv('sigterm-deadline', { sim: { latencyMs: 6000 } });
    const workers: RunningWorker[] = [];
    let rescuer: PatchWorker | undefined;
    try {
      const runId = await queueRows(t, 3);
      const worker = startWorker(t, ['--concurrency', '3', '--shutdown-timeout', '500']);
      workers.push(worker);
      await untilRequests(t, 3);
      const signalled = Date.now();
      worker.child.kill('SIGTERM');
      assert.equal(await worker.exited, 0, worker.stderr());
      const waited = Date.now() - signalled;
      assert.ok(waited < 4000, `exited ${waited} ms after SIGTERM; the deadline was 500 ms`);
      assert.equal((await new ResultStore(t.redis, t.prefix).status(runId))!.pending, 3, 'the rows are still waiting');

      t.sim.setLatencyMs(0);
      rescuer = await startInProcessWorker(t, { concurrency: 3, lockDurationMs: LOCK_MS });
      const status = await waitForRun(t.redis, t.prefix, runId, 30_000);
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, 3);
    } finally {
      await rescuer?.close(5000);
      await stopAll(workers);
      await t.close();
    }
  });

  it('a Redis restart mid-run (AOF on) loses no accepted row, and the workers reconnect by themselves', async () => {
    const redis = await PrivateRedis.start();
    const t = await startTestEnv('redis-restart', { redisUrl: redis.url, sim: { latencyMs: 20 }, env: { SYNC_RATE_LIMIT: '50/s' } });
    t.redis.on('error', () => undefined); // ECONNREFUSED while Redis is down is expected; the connection retries
    const workers: RunningWorker[] = [];
    try {
      const rows = 250;
      const runId = await queueRows(t, rows);
      workers.push(startWorker(t, ['--concurrency', '5']), startWorker(t, ['--concurrency', '5']));
      await untilRequests(t, 60);
      await redis.kill();
      const requestsWhileDown = t.sim.counters().requests;
      await sleep(1500);
      await redis.startProcess();
      const restarted = Date.now();
      const status = await waitForRun(t.redis, t.prefix, runId, 60_000);
      console.log(
        `# redis-restart: ${requestsWhileDown} requests before the kill; ` +
          `finished ${Date.now() - restarted} ms after the ` +
          `restart; ${JSON.stringify({ requests: t.sim.counters().requests, appliedTwice: t.sim.counters().appliedTwice })}`,
      );
      await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, rows);
      for (const w of workers) assert.equal(w.child.exitCode, null, `a worker exited: ${w.stderr()}`);
    } finally {
      await stopAll(workers);
      await t.close();
      await redis.stop();
    }
  });
});
