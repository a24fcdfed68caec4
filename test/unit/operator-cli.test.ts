import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunStatus } from '../../src/interfaces.js';
import { formatRunsTable, runListEntry } from '../../src/cli/runs.js';
import { describeInterruptedImport, ImportInterrupted, untilInterrupted } from '../../src/cli/interrupt.js';

const status = (over: Partial<RunStatus> = {}): RunStatus => ({
  runId: 'r1',
  state: 'running',
  total: 10,
  rejected: 1,
  pending: 4,
  succeeded: 3,
  failed: 2,
  unchanged: 0,
  superseded: 0,
  cancelled: 0,
  accepted: 9,
  enqueued: 9,
  importFinished: true,
  createdAt: Date.UTC(2026, 11, 7, 10, 0, 0),
  throttledCount: 0,
  throttledMs: 0,
  ...over,
});

describe('runs: one entry per run', () => {
  it('has exactly the documented fields, timestamps as ISO 8601 UTC, finishedAt null while running', () => {
    assert.deepEqual(runListEntry(status({ source: 'a.csv (csv)' })), {
      runId: 'r1',
      state: 'running',
      createdAt: '2026-12-07T10:00:00.000Z',
      finishedAt: null,
      total: 10,
      pending: 4,
      succeeded: 3,
      failed: 2,
      source: 'a.csv (csv)',
    });
    assert.equal(runListEntry(status({ finishedAt: Date.UTC(2026, 11, 7, 11, 30, 0) })).finishedAt, '2026-12-07T11:30:00.000Z');
  });
  it('the table has a header and aligned columns; no runs says so', () => {
    const table = formatRunsTable([
      runListEntry(status()),
      runListEntry(status({ runId: 'a-much-longer-run-id', state: 'cancelled' })),
    ]).split('\n');
    assert.equal(table.length, 3);
    assert.match(table[0], /^RUN\s+STATE\s+CREATED \(UTC\)\s+FINISHED \(UTC\)\s+TOTAL\s+PENDING\s+SUCCEEDED\s+FAILED\s+SOURCE$/);
    assert.equal(table[1].indexOf('running'), table[2].indexOf('cancelled'));
    assert.equal(formatRunsTable([]), 'no runs');
  });
});

describe('Ctrl-C during an import', () => {
  it('ends a source that is waiting for input as soon as the signal aborts', async () => {
    const controller = new AbortController();
    async function* slow() {
      yield 1;
      await new Promise(() => undefined); // a pipe with nothing more to say
    }
    const seen: number[] = [];
    const reading = (async () => {
      for await (const n of untilInterrupted(slow(), controller.signal)) {
        seen.push(n);
        controller.abort();
      }
    })();
    await assert.rejects(reading, ImportInterrupted);
    assert.deepEqual(seen, [1]);
  });
  it('says what was queued and how to cancel or resume', () => {
    const text = describeInterruptedImport('r1', 'in.csv (csv)', { total: 500, enqueued: 480, pending: 470 });
    assert.match(text, /run r1 holds the 500 rows read so far, 480 queued to send \(470 still waiting/);
    assert.match(text, /compliance-sync cancel r1/);
    assert.match(text, /--run-id r1/);
    assert.match(describeInterruptedImport('r1', 'in.csv (csv)', undefined), /before anything was queued/);
  });
});
