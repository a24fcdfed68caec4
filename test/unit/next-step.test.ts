import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextStep, type AttemptEvent, type AttemptState } from '../../jobs/next-step.js';
import { WRITE_QUICK_RETRIES } from '../../src/pacing/retry-policy.js';

const MAX_AGE = 60_000;

function state(overrides: Partial<AttemptState> = {}): AttemptState {
  return {
    now: 1_000,
    deadline: 61_000,
    pausedMs: 0,
    requests: 1,
    quickRetries: 0,
    throttleStreak: 0,
    tokenRefreshed: false,
    lastDelivery: false,
    random: 0.5,
    ...overrides,
  };
}

const refused = (
  kind: Extract<AttemptEvent, { type: 'refused' }>['kind'],
  extra: Partial<Extract<AttemptEvent, { type: 'refused' }>> = {},
): AttemptEvent => ({
  type: 'refused',
  kind,
  message: `${extra.status ?? 0} refused`,
  ...extra,
});

describe('nextStep: after a 429', () => {
  it('waits exactly the Retry-After, fractional milliseconds included, and uses no attempt', () => {
    assert.deepEqual(nextStep(refused('throttled', { status: 429, retryAfterMs: 1100 }), state(), MAX_AGE), {
      do: 'wait-out-throttle',
      waitMs: 1100,
    });
  });

  it('backs off exponentially with jitter when Retry-After is missing, capped at a minute', () => {
    assert.deepEqual(nextStep(refused('throttled'), state({ throttleStreak: 0, random: 0.5 }), MAX_AGE), {
      do: 'wait-out-throttle',
      waitMs: 1000,
    });
    assert.deepEqual(nextStep(refused('throttled'), state({ throttleStreak: 3, random: 0 }), MAX_AGE), {
      do: 'wait-out-throttle',
      waitMs: 4000,
    });
    assert.deepEqual(nextStep(refused('throttled'), state({ throttleStreak: 20, random: 0.999 }), MAX_AGE), {
      do: 'wait-out-throttle',
      waitMs: 89_940,
    });
  });

  it('waits out a 429 even on the last delivery and after the quick retries are spent', () => {
    const step = nextStep(
      refused('throttled', { retryAfterMs: 500 }),
      state({ lastDelivery: true, quickRetries: WRITE_QUICK_RETRIES }),
      MAX_AGE,
    );
    assert.equal(step.do, 'wait-out-throttle');
  });
});

describe('nextStep: transient failures (network, timeouts, 500/502/503/504)', () => {
  it('retries soon with exponential back-off, randomised between one and two times', () => {
    const delays = [0, 1, 2, 3].map((quickRetries) =>
      nextStep(refused('transient', { status: 503 }), state({ quickRetries, random: 0 }), MAX_AGE),
    );
    assert.deepEqual(
      delays.map((s) => (s.do === 'retry-soon' ? s.delayMs : -1)),
      [250, 500, 1000, 2000],
    );
    const slowest = nextStep(refused('transient'), state({ quickRetries: 3, random: 0.999 }), MAX_AGE);
    assert.deepEqual(slowest, { do: 'retry-soon', delayMs: 3998, refreshToken: false, why: '0 refused' });
  });

  it("honours a 503's Retry-After instead of its own back-off", () => {
    const step = nextStep(refused('transient', { status: 503, retryAfterMs: 200 }), state(), MAX_AGE);
    assert.deepEqual(step, { do: 'retry-soon', delayMs: 200, refreshToken: false, why: '503 refused' });
  });

  it('never sleeps past the deadline', () => {
    const step = nextStep(refused('transient', { retryAfterMs: 30_000 }), state({ now: 60_000 }), MAX_AGE);
    assert.deepEqual(step, { do: 'retry-soon', delayMs: 1000, refreshToken: false, why: '0 refused' });
  });

  it('hands the job back to BullMQ once the quick retries are spent, unless this is the last delivery', () => {
    assert.deepEqual(nextStep(refused('transient', { status: 502 }), state({ quickRetries: WRITE_QUICK_RETRIES }), MAX_AGE), {
      do: 'hand-back',
      why: '502 refused',
    });
    assert.deepEqual(
      nextStep(
        refused('transient', { status: 502, requestId: 'r-1' }),
        state({ quickRetries: WRITE_QUICK_RETRIES, lastDelivery: true, requests: 40 }),
        MAX_AGE,
      ),
      {
        do: 'fail',
        reason: '502 refused (still failing after 40 requests)',
        status: 502,
        requestId: 'r-1',
        tripsBreaker: false,
      },
    );
  });

  it('gives up at the deadline, quoting the last error', () => {
    const step = nextStep(refused('transient', { status: 503 }), state({ now: 61_000 }), 1500);
    assert.deepEqual(step, {
      do: 'fail',
      reason: 'gave up: not sent within SYNC_MAX_ROW_AGE_MS (1.5 s) of being queued; last error: 503 refused',
      status: 503,
      requestId: undefined,
      tripsBreaker: false,
    });
  });
});

describe('nextStep: refusals that retrying cannot fix', () => {
  it('refreshes the token once after a 401, at once, then fails', () => {
    assert.deepEqual(nextStep(refused('unauthorized', { status: 401 }), state(), MAX_AGE), {
      do: 'retry-soon',
      delayMs: 0,
      refreshToken: true,
      why: '401 from Graph: refreshing the token once',
    });
    const after = nextStep(refused('unauthorized', { status: 401 }), state({ tokenRefreshed: true }), MAX_AGE);
    assert.deepEqual(after, {
      do: 'fail',
      reason: '401 refused (the token was refreshed once and Graph still refused it)',
      status: 401,
      requestId: undefined,
      tripsBreaker: false,
    });
  });

  it('fails a 403 naming the missing permission, and reports it to the breaker', () => {
    const step = nextStep(refused('forbidden', { status: 403 }), state(), MAX_AGE);
    assert.equal(step.do, 'fail');
    assert.ok(step.do === 'fail' && step.tripsBreaker);
    assert.match(
      step.do === 'fail' ? step.reason : '',
      /^403 refused \(the app lacks DeviceManagementConfiguration\.ReadWrite\.All or DeviceManagementApps\.ReadWrite\.All/,
    );
  });

  it('counts a 400 toward the refusal breaker, with its shape, instead of failing the row at once', () => {
    const step = nextStep(refused('permanent', { status: 400, code: 'BadRequest', requestId: 'r-4' }), state(), MAX_AGE);
    assert.deepEqual(step, { do: 'count-refusal', reason: '400 refused', shape: 'BadRequest|<n> refused', status: 400, requestId: 'r-4' });
  });

  it("fails a permanent refusal at once with Graph's message, even with retries and deliveries left", () => {
    assert.deepEqual(nextStep(refused('permanent', { status: 404, requestId: 'r-9' }), state(), MAX_AGE), {
      do: 'fail',
      reason: '404 refused',
      status: 404,
      requestId: 'r-9',
      tripsBreaker: false,
    });
  });
});

describe('nextStep: before sending', () => {
  it('skips a row that another delivery finished or a newer update superseded', () => {
    assert.deepEqual(nextStep({ type: 'not-claimed', decision: 'superseded' }, state(), MAX_AGE), { do: 'skip', decision: 'superseded' });
    assert.deepEqual(nextStep({ type: 'not-claimed', decision: 'done|succeeded' }, state(), MAX_AGE), {
      do: 'skip',
      decision: 'done|succeeded',
    });
    assert.deepEqual(nextStep({ type: 'not-claimed', decision: 'missing' }, state(), MAX_AGE), { do: 'skip', decision: 'missing' });
  });

  it('postpones, with jitter, while an older update of the key is in flight', () => {
    assert.deepEqual(nextStep({ type: 'not-claimed', decision: 'locked' }, state({ random: 0 }), MAX_AGE), {
      do: 'postpone',
      delayMs: 250,
      why: 'an older update of this key is in flight',
    });
    assert.deepEqual(nextStep({ type: 'not-claimed', decision: 'locked' }, state({ random: 0.999 }), MAX_AGE), {
      do: 'postpone',
      delayMs: 750,
      why: 'an older update of this key is in flight',
    });
  });

  it('postpones while the permission breaker holds the fleet, without failing the row', () => {
    assert.deepEqual(nextStep({ type: 'budget-blocked' }, state({ lastDelivery: true }), MAX_AGE), {
      do: 'postpone',
      delayMs: 2000,
      why: 'the fleet is paused by the permission breaker',
    });
  });

  it('fails a row whose next send slot lies beyond its deadline', () => {
    assert.deepEqual(nextStep({ type: 'deadline-passed' }, state(), 21_600_000), {
      do: 'fail',
      reason: 'gave up: not sent within SYNC_MAX_ROW_AGE_MS (21600 s) of being queued',
      tripsBreaker: false,
    });
  });

  it('records a success', () => {
    assert.deepEqual(nextStep({ type: 'succeeded' }, state(), MAX_AGE), { do: 'record-success' });
  });
});

describe('nextStep: failures outside Graph (Redis, bugs)', () => {
  it('hands the job back while deliveries and time remain, then fails the row with the reason', () => {
    assert.deepEqual(nextStep({ type: 'crashed', message: 'Connection is closed.' }, state(), MAX_AGE), {
      do: 'hand-back',
      why: 'Connection is closed.',
    });
    assert.deepEqual(nextStep({ type: 'crashed', message: 'Connection is closed.' }, state({ lastDelivery: true }), MAX_AGE), {
      do: 'fail',
      reason: 'could not be processed: Connection is closed.',
      tripsBreaker: false,
    });
  });
});

describe('nextStep: SYNC_MAX_RETRY_AFTER and rows held by throttling', () => {
  it('caps any Retry-After at SYNC_MAX_RETRY_AFTER, on a 429 and on a 503, and a missing one backs off no longer either', () => {
    const tenMinutes = 600_000;
    assert.deepEqual(nextStep(refused('throttled', { status: 429, retryAfterMs: 86_400_000 * 365 }), state(), MAX_AGE, tenMinutes), {
      do: 'wait-out-throttle',
      waitMs: tenMinutes,
    });
    assert.deepEqual(nextStep(refused('throttled', { status: 429, retryAfterMs: 2 ** 40 }), state(), MAX_AGE, 5_000), {
      do: 'wait-out-throttle',
      waitMs: 5_000,
    });
    assert.deepEqual(nextStep(refused('throttled', { status: 429 }), state({ throttleStreak: 20 }), MAX_AGE, 5_000), {
      do: 'wait-out-throttle',
      waitMs: 5_000,
    });
    const transient = nextStep(
      refused('transient', { status: 503, retryAfterMs: 10 ** 12 }),
      state({ deadline: Infinity }),
      MAX_AGE,
      3_000,
    );
    assert.equal(transient.do, 'retry-soon');
    assert.equal((transient as { delayMs: number }).delayMs, 3_000);
  });

  it('defaults to a 10 minute cap, within what a timer can wait', () => {
    assert.deepEqual(nextStep(refused('throttled', { retryAfterMs: 2 ** 31 }), state(), MAX_AGE), {
      do: 'wait-out-throttle',
      waitMs: 600_000,
    });
  });

  it('says "throttled" when a row held by 429s or fleet pauses still passes its deadline', () => {
    const afterPause = nextStep({ type: 'deadline-passed' }, state({ pausedMs: 30_000 }), 60_000);
    assert.equal(afterPause.do, 'fail');
    assert.match(
      (afterPause as { reason: string }).reason,
      /^throttled: Graph's 429s held the row; gave up: not sent within SYNC_MAX_ROW_AGE_MS \(60 s\)/,
    );
    const afterThrottle = nextStep(refused('transient', { status: 503 }), state({ throttleStreak: 2, now: 70_000 }), 60_000);
    assert.match((afterThrottle as { reason: string }).reason, /^throttled: .*; last error: 503 refused$/);
    const plain = nextStep({ type: 'deadline-passed' }, state(), 60_000);
    assert.match((plain as { reason: string }).reason, /^gave up: /, 'not throttled: the plain reason');
  });
});
