import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isoBeside, withIsoTimes } from '../../src/domain/iso-times.js';

describe('timestamps as ISO 8601 UTC beside the ms fields', () => {
  it('adds createdAtIso, and finishedAtIso / cancelledAtIso only when the run has them; the ms fields stay', () => {
    const created = Date.UTC(2026, 11, 7, 10, 0, 0, 123);
    assert.deepEqual(withIsoTimes({ createdAt: created }), { createdAt: created, createdAtIso: '2026-12-07T10:00:00.123Z' });
    const finished = Date.UTC(2026, 11, 7, 23, 59, 59);
    assert.deepEqual(withIsoTimes({ createdAt: created, finishedAt: finished, cancelledAt: finished }), {
      createdAt: created,
      finishedAt: finished,
      cancelledAt: finished,
      createdAtIso: '2026-12-07T10:00:00.123Z',
      finishedAtIso: '2026-12-07T23:59:59.000Z',
      cancelledAtIso: '2026-12-07T23:59:59.000Z',
    });
  });
  it('isoBeside names the field <name>Iso, and gives nothing for an absent time', () => {
    assert.deepEqual(isoBeside('trippedAt', 0), { trippedAtIso: '1970-01-01T00:00:00.000Z' });
    assert.deepEqual(isoBeside('trippedAt', undefined), {});
  });
});
