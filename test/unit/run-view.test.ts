import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Timeline, TimelineBucket } from '../../src/results/timeline.js';
import {
  budgetPerBar,
  groupByReason,
  NO_REASON,
  progressTone,
  reasonId,
  runPace,
  runPageRefreshSeconds,
} from '../../src/server/run-view.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');

/** A timeline of 10 s buckets from T0, `ended[i]` rows succeeding in bucket i. */
function timeline(ended: number[], failed: number[] = []): Timeline {
  const buckets: TimelineBucket[] = ended.map((n, i) => ({
    startMs: T0 + i * 10_000,
    start: new Date(T0 + i * 10_000).toISOString(),
    succeeded: n,
    failed: failed[i] ?? 0,
    throttled: 0,
    pausedMs: 0,
  }));
  return { bucketSeconds: 10, buckets };
}

describe('runPace', () => {
  it('measures a running run over the last five minutes of its timeline and gives the ETA of its pending rows', () => {
    // 60 buckets (10 min): 10 rows per bucket for the first 5 min, 5 (+1 failed) per bucket for the last 5 min.
    const tl = timeline([...Array(30).fill(10), ...Array(30).fill(5)], [...Array(30).fill(0), ...Array(30).fill(1)]);
    const now = T0 + 600_000; // the end of the last bucket
    const pace = runPace({ state: 'running', pending: 1800 }, tl, now);
    assert.equal(pace.overMs, 300_000);
    assert.equal(pace.rowsPerMinute, 36); // 6 rows per 10 s
    assert.equal(pace.etaMs, 3_000_000); // 1800 rows at 36/min = 50 min
    assert.equal(pace.eta, 'about 50 min');
  });

  it('counts the current partial bucket for the time it has run, and idle time up to now', () => {
    const tl = timeline([12, 12, 6]);
    // 25 s after T0: the third bucket is half over. The window is the whole run (shorter than five minutes).
    const partial = runPace({ state: 'running', pending: 60 }, tl, T0 + 25_000);
    assert.deepEqual(partial, { rowsPerMinute: 72, overMs: 25_000, etaMs: 50_000, eta: 'under a minute' });
    // Ten minutes later with nothing sent since: no ETA, and the page says why.
    const idle = runPace({ state: 'running', pending: 60 }, tl, T0 + 630_000);
    assert.equal(idle.rowsPerMinute, 0);
    assert.equal(idle.etaMs, undefined);
    assert.match(idle.eta, /^unknown: no row ended in the last 5 min$/);
  });

  it('gives no ETA before any row was sent, for a blocked run, nor once a run has ended (then its average rate)', () => {
    assert.deepEqual(runPace({ state: 'running', pending: 5 }, timeline([]), T0), { overMs: 0, eta: 'unknown: no row has been sent yet' });
    assert.equal(runPace({ state: 'blocked', pending: 5 }, timeline([4]), T0 + 10_000).eta, 'unknown: the run is blocked');
    assert.equal(runPace({ state: 'blocked', pending: 5 }, timeline([4]), T0 + 10_000).etaMs, undefined);
    for (const state of ['completed', 'completed_with_errors', 'cancelled'] as const) {
      const ended = runPace({ state, pending: 0 }, timeline([10, 0, 20]), T0 + 3_600_000);
      assert.deepEqual(ended, { rowsPerMinute: 60, overMs: 30_000, eta: 'done' }, state);
    }
    assert.equal(runPace({ state: 'running', pending: 0 }, timeline([10]), T0 + 10_000).eta, 'any moment');
  });

  it('survives a page clock behind the workers (now before the last bucket ends)', () => {
    const pace = runPace({ state: 'running', pending: 10 }, timeline([6, 6]), T0);
    assert.equal(pace.overMs, 20_000);
    assert.equal(pace.rowsPerMinute, 36);
  });
});

describe('progressTone and refresh', () => {
  it('colours the bar by state, telling a completed run with rejected rows from a clean one', () => {
    assert.equal(progressTone({ state: 'running', rejected: 3 }), 'running');
    assert.equal(progressTone({ state: 'completed', rejected: 0 }), 'completed');
    assert.equal(progressTone({ state: 'completed', rejected: 2 }), 'rejected');
    assert.equal(progressTone({ state: 'completed_with_errors', rejected: 0 }), 'errors');
    assert.equal(progressTone({ state: 'blocked', rejected: 0 }), 'blocked');
    assert.equal(progressTone({ state: 'cancelled', rejected: 0 }), 'cancelled');
  });

  it('refreshes a run page only while its rows may still move', () => {
    assert.equal(runPageRefreshSeconds({ state: 'running' }), 10);
    assert.equal(runPageRefreshSeconds({ state: 'blocked' }), 10);
    for (const state of ['completed', 'completed_with_errors', 'cancelled'] as const) {
      assert.equal(runPageRefreshSeconds({ state }), undefined);
    }
  });
});

describe('groupByReason', () => {
  it('counts rows per reason, largest first, with the HTTP statuses seen, and folds the tail into one figure', () => {
    const rows = [
      { reason: '404 Not Found', httpStatus: 404 },
      { reason: 'timeout' },
      { reason: '404 Not Found', httpStatus: 404 },
      { reason: '5xx', httpStatus: 503 },
      { reason: '5xx', httpStatus: 500 },
      { reason: '5xx', httpStatus: 503 },
      {},
    ];
    assert.deepEqual(groupByReason(rows), {
      groups: [
        { reason: '5xx', id: reasonId('5xx'), count: 3, httpStatuses: [500, 503] },
        { reason: '404 Not Found', id: reasonId('404 Not Found'), count: 2, httpStatuses: [404] },
        { reason: NO_REASON, id: reasonId(NO_REASON), count: 1, httpStatuses: [] },
        { reason: 'timeout', id: reasonId('timeout'), count: 1, httpStatuses: [] },
      ],
      otherRows: 0,
      otherReasons: 0,
    });
    const capped = groupByReason(rows, 2);
    assert.deepEqual(
      capped.groups.map((g) => g.reason),
      ['5xx', '404 Not Found'],
    );
    assert.deepEqual([capped.otherRows, capped.otherReasons], [2, 2]);
    assert.deepEqual(groupByReason([]), { groups: [], otherRows: 0, otherReasons: 0 });
  });

  it('gives each reason a short URL-safe id, however long or hostile the reason', () => {
    assert.match(reasonId('x'.repeat(1_000_000)), /^[0-9a-f]{16}$/);
    assert.match(reasonId('"><script>alert(1)</script>'), /^[0-9a-f]{16}$/);
    assert.notEqual(reasonId('a'), reasonId('b'));
    assert.equal(reasonId('404 Not Found'), reasonId('404 Not Found'));
  });
});

describe('budgetPerBar', () => {
  it('turns SYNC_RATE_LIMIT into rows per bar', () => {
    assert.equal(budgetPerBar({ limit: 100, windowMs: 20_000 }, 10), 50);
    assert.equal(budgetPerBar({ limit: 5, windowMs: 1000 }, 20), 100);
    assert.equal(budgetPerBar({ limit: 1, windowMs: 60_000 }, 10), 1 / 6);
  });
});
