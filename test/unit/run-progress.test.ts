import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runProgressLine, runSummary } from '../../jobs/run-progress.js';
import type { RunStatus } from '../../src/interfaces.js';

const status = (over: Partial<RunStatus>): RunStatus => ({
  runId: 'r1',
  state: 'running',
  total: 1000,
  rejected: 0,
  pending: 1000,
  succeeded: 0,
  failed: 0,
  unchanged: 0,
  superseded: 0,
  cancelled: 0,
  accepted: 1000,
  enqueued: 1000,
  importFinished: true,
  createdAt: 0,
  throttledCount: 0,
  throttledMs: 0,
  ...over,
});

describe("a run's progress line", () => {
  it('has no ETA on its first line, only the counts', () => {
    const { line, sample } = runProgressLine(status({ succeeded: 90, failed: 10, pending: 900, throttledCount: 4 }), undefined, 60_000);
    assert.deepEqual(line, { runId: 'r1', sent: 90, failed: 10, throttled: 4, pending: 900, eta: 'unknown until the next line' });
    assert.deepEqual(sample, { at: 60_000, ended: 100 });
  });

  it('estimates the ETA from the rows ended since the previous line', () => {
    // 300 rows ended in one minute; 600 left: two minutes.
    const { line } = runProgressLine(status({ succeeded: 380, failed: 20, pending: 600 }), { at: 60_000, ended: 100 }, 120_000);
    assert.equal(line.rowsPerMinute, 300);
    assert.equal(line.etaMs, 120_000);
    assert.equal(line.eta, 'about 2 min');
  });

  it('says the ETA is unknown when nothing ended in the interval (a fleet pause, a blocked tenant)', () => {
    const { line } = runProgressLine(status({ succeeded: 100, pending: 900 }), { at: 0, ended: 100 }, 60_000);
    assert.equal(line.rowsPerMinute, 0);
    assert.equal(line.etaMs, undefined);
    assert.match(line.eta, /^unknown/);
  });

  it('summarises a finished run with its duration', () => {
    const summary = runSummary(
      status({ state: 'completed_with_errors', pending: 0, succeeded: 990, failed: 10, createdAt: 0, finishedAt: 2 * 3_600_000 }),
      9e12,
    );
    assert.equal(summary.sent, 990);
    assert.equal(summary.failed, 10);
    assert.equal(summary.state, 'completed_with_errors');
    assert.equal(summary.tookMs, 7_200_000);
    assert.equal(summary.took, 'about 2 h');
  });
});
