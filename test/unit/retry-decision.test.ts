import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeLeftOut, retryDecision } from '../../src/producer/retry-decision.js';

describe('retryDecision: which failed rows retry resends by default', () => {
  it('resends transient failures: 5xx, 429, 408, and rows Graph never answered (timeouts, network, age limit)', () => {
    for (const httpStatus of [500, 502, 503, 504, 429, 408, undefined, 0])
      assert.deepEqual(retryDecision({ httpStatus }), { resend: true, why: 'transient' }, String(httpStatus));
  });
  it('leaves permanent refusals out: 400, 401, 403, 404, 409, 422', () => {
    for (const httpStatus of [400, 401, 403, 404, 409, 422])
      assert.deepEqual(retryDecision({ httpStatus }), { resend: false, why: 'permanent', status: httpStatus });
  });
  it('says what it left out and why, by status', () => {
    assert.equal(describeLeftOut({ total: 0, byStatus: {} }), undefined);
    const line = describeLeftOut({ total: 5, byStatus: { '404': 3, '400': 2 } });
    assert.match(line!, /left out 5 failed rows Graph refused for good \(2 × 400, 3 × 404\)/);
    assert.match(line!, /retry --all/);
  });
});
