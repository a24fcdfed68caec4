import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReasonLimiter } from '../../jobs/reason-limiter.js';

describe('failure reasons at warn: at most one line per reason per interval', () => {
  it('logs a reason once, holds back repeats within the interval, and counts them on its next line', () => {
    const limiter = new ReasonLimiter(60_000);
    assert.deepEqual(limiter.offer('404 not found', 0), { log: true, suppressed: 0 });
    assert.deepEqual(limiter.offer('404 not found', 1_000), { log: false });
    assert.deepEqual(limiter.offer('404 not found', 59_999), { log: false });
    assert.deepEqual(limiter.offer('404 not found', 60_000), { log: true, suppressed: 2 });
    assert.deepEqual(limiter.offer('404 not found', 60_001), { log: false });
  });

  it('limits each reason on its own', () => {
    const limiter = new ReasonLimiter(60_000);
    assert.equal(limiter.offer('a', 0).log, true);
    assert.equal(limiter.offer('b', 10).log, true);
    assert.equal(limiter.offer('a', 20).log, false);
    assert.equal(limiter.offer('b', 30).log, false);
  });

  it('reports held-back repeats of a reason that stopped recurring once its interval has passed, and only once', () => {
    const limiter = new ReasonLimiter(1_000);
    limiter.offer('a', 0);
    limiter.offer('a', 100);
    limiter.offer('a', 200);
    limiter.offer('b', 0);
    assert.deepEqual(limiter.due(999), []);
    assert.deepEqual(limiter.due(1_000), [{ reason: 'a', suppressed: 2 }]);
    assert.deepEqual(limiter.due(5_000), []);
    // The flush counts as a line: a repeat right after it waits for the next interval.
    assert.deepEqual(limiter.offer('a', 1_500), { log: false });
    assert.deepEqual(limiter.offer('a', 2_000), { log: true, suppressed: 1 });
  });
});
