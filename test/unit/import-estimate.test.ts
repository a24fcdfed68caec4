import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeImportRows, estimateImport } from '../../src/cli/import-estimate.js';

describe("the import bar's row count and ETA", () => {
  it('estimates the rows from the bytes read until the input is read', () => {
    // 1000 rows in the first 10% of the file, in 2 s: ~10 000 rows, 9000 left at 500/s: 18 s.
    const e = estimateImport({ rows: 1000, bytesRead: 100_000, totalBytes: 1_000_000, elapsedMs: 2000 });
    assert.equal(e.totalRows, 10_000);
    assert.equal(e.estimated, true);
    assert.equal(e.etaMs, 18_000);
    assert.equal(e.eta, 'under a minute');
    assert.equal(describeImportRows(e), '1000 of ~10000 rows');
  });

  it('knows the rows once every byte is read', () => {
    const e = estimateImport({ rows: 9876, bytesRead: 1_000_000, totalBytes: 1_000_000, elapsedMs: 20_000 });
    assert.deepEqual(e, { rows: 9876, totalRows: 9876, estimated: false, etaMs: 0, eta: 'done' });
    assert.equal(describeImportRows(e), '9876 of 9876 rows');
  });

  it('never estimates fewer rows than it has read (the bytes counted may be a chunk ahead of the parser, or behind)', () => {
    const e = estimateImport({ rows: 500, bytesRead: 900_000, totalBytes: 1_000_000, elapsedMs: 1000 });
    assert.ok(e.totalRows! >= 500);
  });

  it('reports minutes for a long import', () => {
    // 10 000 rows of 1 000 000 after 60 s: 990 000 left at 10 000/min: 99 min.
    const e = estimateImport({ rows: 10_000, bytesRead: 1_710_000, totalBytes: 171_000_000, elapsedMs: 60_000 });
    assert.equal(e.totalRows, 1_000_000);
    assert.equal(e.eta, 'about 1.7 h');
  });

  it('counts rows without a total or ETA when the input has no size (stdin, PostgreSQL), or before the first row', () => {
    assert.deepEqual(estimateImport({ rows: 42, elapsedMs: 1000 }), { rows: 42, estimated: false, eta: 'unknown' });
    assert.equal(describeImportRows(estimateImport({ rows: 42, elapsedMs: 1000 })), '42 rows');
    assert.equal(estimateImport({ rows: 0, bytesRead: 0, totalBytes: 1000, elapsedMs: 0 }).totalRows, undefined);
  });
});
