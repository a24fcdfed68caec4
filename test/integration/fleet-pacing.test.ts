/**
 * Fleet-wide pacing against the simulator's Intune-style token buckets, in short windows
 * (20 writes per second instead of 100 per 20 s) so the file stays fast.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PatchWorker } from '../../jobs/patch-worker.js';
import { startInProcessWorker, startTestEnv, waitForRun } from '../support/harness.js';
import { assertAllSucceededOnce, peakRequests, queueRows, throttleShare } from './fleet-helpers.js';

/** 20 writes/s per app; the tenant bucket is twice that, as on Intune, so the app bucket is the one that binds. */
const SERVER_BUDGET = { perApp: { limit: 20, windowMs: 1000 }, perTenant: { limit: 40, windowMs: 1000 } };
const SERVER_RATE_PER_S = 20;

async function runFleet(name: string, rows: number, ourRate: string) {
  const t = await startTestEnv(name, { sim: { budget: SERVER_BUDGET }, env: { SYNC_RATE_LIMIT: ourRate } });
  const workers: PatchWorker[] = [];
  try {
    // Two workers, as two processes of the fleet would be: the budget in Redis is all they share.
    workers.push(await startInProcessWorker(t, { concurrency: 10 }), await startInProcessWorker(t, { concurrency: 10 }));
    const runId = await queueRows(t, rows);
    const started = Date.now();
    const status = await waitForRun(t.redis, t.prefix, runId, 120_000);
    const elapsedMs = Date.now() - started;
    await assertAllSucceededOnce(t.redis, t.prefix, t.sim, runId, status, rows);
    const share = throttleShare(t.sim);
    const peakPerSecond = peakRequests(t.sim, 1000);
    const figures = {
      rows,
      ourRate,
      elapsedMs,
      ...share,
      peakPerSecond,
      throttledCount: status.throttledCount,
      throttledMs: status.throttledMs,
    };
    console.log(`# ${name}: ${JSON.stringify(figures)}`);
    return { status, elapsedMs, share, peakPerSecond };
  } finally {
    await Promise.all(workers.map((w) => w.close(5000)));
    await t.close();
  }
}

describe('fleet pacing', { concurrency: 1 }, () => {
  it('our budget equal to the server budget: 600 rows, fewer than 1% answered 429, evenly spread', async () => {
    const rows = 600;
    const { elapsedMs, share, peakPerSecond } = await runFleet('pace-equal', rows, `${SERVER_RATE_PER_S}/s`);
    assert.ok(share.share < 0.01, `429 share ${share.throttled}/${share.requests}`);
    // Even spacing: no one-second window holds much more than the rate (a burst would hit 2x and more).
    assert.ok(peakPerSecond <= SERVER_RATE_PER_S * 1.5, `peak ${peakPerSecond} requests in one second`);
    // Paced, not bursty: 600 rows at 20/s cannot be done in much less than 30 s.
    assert.ok(elapsedMs >= ((rows - SERVER_RATE_PER_S) / SERVER_RATE_PER_S) * 1000 * 0.9, `finished in ${elapsedMs} ms`);
  });

  it('our budget 5x the server budget: converges to the server rate, records the throttling, no 429 storm', async () => {
    const rows = 300;
    const { status, elapsedMs, share } = await runFleet('pace-over', rows, '100/s');
    assert.ok(status.throttledCount > 0, 'the run records how often it was throttled');
    assert.ok(status.throttledMs > 0, 'the run records how long it was throttled');
    assert.ok(share.throttled > 0, 'the server did throttle us');
    assert.ok(share.share < 0.1, `429 share ${share.throttled}/${share.requests}`);
    // Converged: not far above the time the server's budget allows (rows/20 s, less its burst of 20).
    const idealMs = ((rows - SERVER_BUDGET.perApp.limit) / SERVER_RATE_PER_S) * 1000;
    assert.ok(elapsedMs < idealMs * 1.5, `took ${elapsedMs} ms; the server's budget allows ${idealMs} ms`);
  });
});
