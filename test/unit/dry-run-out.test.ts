import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dryRunOutFormat, dryRunOutRecord, wouldSend } from '../../src/cli/dry-run-out.js';
import { asImportWords } from '../../src/producer/dry-run.js';

describe('import --dry-run --out decisions', () => {
  it('--out-format wins; else .ndjson or .jsonl is NDJSON and anything else CSV', () => {
    assert.equal(dryRunOutFormat('rows.ndjson'), 'ndjson');
    assert.equal(dryRunOutFormat('ROWS.JSONL'), 'ndjson');
    assert.equal(dryRunOutFormat('rows.csv'), 'csv');
    assert.equal(dryRunOutFormat('rows'), 'csv');
    assert.equal(dryRunOutFormat('rows.ndjson', 'csv'), 'csv');
    assert.equal(dryRunOutFormat('rows.csv', 'ndjson'), 'ndjson');
  });

  it('only new and changed rows would be sent', () => {
    for (const [verdict, sent] of [
      ['new', true],
      ['changed', true],
      ['unchanged', false],
      ['stale', false],
      ['rejected', false],
    ] as const) {
      assert.equal(wouldSend({ line: 2, key: 'k', verdict }), sent, verdict);
    }
  });

  it('a record holds line, key, decision and the properties set, without absent ones', () => {
    assert.deepEqual(
      dryRunOutRecord({
        line: 7,
        key: 'mobileAppConfiguration/c/u',
        verdict: 'changed',
        properties: { status: 'compliant', devicesCount: 0, userDisplayName: undefined },
      }),
      {
        line: 7,
        key: 'mobileAppConfiguration/c/u',
        decision: 'changed',
        status: 'compliant',
        devicesCount: 0,
      },
    );
  });
});

describe("a dry run's counts in an import's words", () => {
  it('new + changed are enqueued, stale is superseded, every row not rejected is accepted', () => {
    assert.deepEqual(asImportWords({ rows: 10, new: 2, changed: 3, unchanged: 1, rejected: 2, stale: 2 }), {
      accepted: 8,
      enqueued: 5,
      superseded: 2,
    });
  });
});
