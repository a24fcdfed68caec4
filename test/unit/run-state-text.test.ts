import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunStatus } from '../../src/interfaces.js';
import { rejectedNote, runStateText } from '../../src/domain/run-state-text.js';
import { formatStatus } from '../../src/cli/status.js';
import { runPage, runsPage } from '../../src/server/runs-page.js';

const status = (over: Partial<RunStatus> = {}): RunStatus => ({
  runId: 'r1',
  state: 'completed',
  total: 10,
  rejected: 3,
  pending: 0,
  succeeded: 7,
  failed: 0,
  unchanged: 0,
  superseded: 0,
  cancelled: 0,
  accepted: 7,
  enqueued: 7,
  importFinished: true,
  createdAt: Date.UTC(2026, 11, 7, 10, 0, 0),
  finishedAt: Date.UTC(2026, 11, 7, 10, 1, 0),
  throttledCount: 0,
  throttledMs: 0,
  ...over,
});

describe('a finished run with rejected rows says so', () => {
  it('"completed, N rejected" for a completed run (or one with errors) that rejected rows; the bare state otherwise', () => {
    assert.equal(runStateText(status()), 'completed, 3 rejected');
    assert.equal(runStateText(status({ state: 'completed_with_errors', failed: 1 })), 'completed_with_errors, 3 rejected');
    assert.equal(runStateText(status({ rejected: 0 })), 'completed');
    assert.equal(runStateText(status({ state: 'running', pending: 2 })), 'running', 'a running run may still reject rows: no count yet');
    assert.equal(runStateText(status({ state: 'cancelled' })), 'cancelled');
    assert.equal(rejectedNote(status({ rejected: 0 })), '');
  });

  it('status (without --json) reads "completed, N rejected"', () => {
    assert.equal(formatStatus(status()).split('\n')[0], 'run r1: completed, 3 rejected');
  });

  it('the dashboard\'s run list and run page read "completed, N rejected"; data-field=state keeps the bare state', () => {
    for (const page of [runsPage([status()]), runPage({ status: status(), rows: [] })]) {
      assert.ok(page.includes('<span class="state state-completed"><span data-field="state">completed</span>, 3 rejected</span>'), page);
    }
    const clean = runsPage([status({ rejected: 0 })]);
    assert.ok(clean.includes('<span data-field="state">completed</span></span>'));
    assert.ok(!clean.includes('0 rejected</span>'));
  });
});
