import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeBudget, describeRoughDuration, describeSendTime, sendDurationMs } from '../../src/cli/send-estimate.js';
import { parseRateLimit } from '../../src/config.js';

describe('send-time estimate after an import', () => {
  it("is rows ÷ the budget, in the budget's own words", () => {
    // 200 000 rows at 100 per 20 s: 2000 windows of 20 s, 40 000 s, a little over 11 hours.
    assert.equal(
      describeSendTime(200_000, parseRateLimit('100/20s')),
      'sending 200000 rows takes about 11 h at 100 per 20 s (SYNC_RATE_LIMIT)',
    );
    assert.equal(sendDurationMs(200_000, parseRateLimit('100/20s')), 40_000_000);
  });

  it('says nothing when nothing is queued', () => {
    assert.equal(describeSendTime(0, parseRateLimit('100/20s')), undefined);
  });

  it('names a single row and a short send', () => {
    assert.equal(describeSendTime(1, parseRateLimit('100/20s')), 'sending 1 row takes under a minute at 100 per 20 s (SYNC_RATE_LIMIT)');
  });

  it('writes budgets as an operator would', () => {
    assert.equal(describeBudget(parseRateLimit('100/20s')), '100 per 20 s');
    assert.equal(describeBudget(parseRateLimit('5/s')), '5 per s');
    assert.equal(describeBudget(parseRateLimit('300/1m')), '300 per min');
    assert.equal(describeBudget(parseRateLimit('1000/2h')), '1000 per 2 h');
    assert.equal(describeBudget(parseRateLimit('20/500ms')), '20 per 500 ms');
    assert.equal(describeBudget(parseRateLimit('3/1.5s')), '3 per 1500 ms');
  });

  it('rounds durations roughly: minutes, hours with a decimal below ten, whole hours, then days', () => {
    assert.equal(describeRoughDuration(59_999), 'under a minute');
    assert.equal(describeRoughDuration(60_000), 'about 1 min');
    assert.equal(describeRoughDuration(40 * 60_000), 'about 40 min');
    assert.equal(describeRoughDuration(90 * 60_000), 'about 1.5 h');
    assert.equal(describeRoughDuration(11.1 * 3_600_000), 'about 11 h');
    assert.equal(describeRoughDuration(47 * 3_600_000), 'about 47 h');
    assert.equal(describeRoughDuration(72 * 3_600_000), 'about 3 d');
  });
});
