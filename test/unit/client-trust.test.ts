import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeFleetPauses } from '../../src/cli/doctor-checks.js';
import { loadConfig } from '../../src/config.js';
import { pageProblem } from '../../src/graph/client.js';
import { capRetryAfter, classifyResponse, MAX_TIMER_MS } from '../../src/graph/errors.js';
import { pausedWithin } from '../../src/pacing/budget.js';
import { pauseInForce } from '../../src/pacing/pauses.js';
import { decideAfterReadFailure } from '../../src/pacing/read-decision.js';

const headers = (h: Record<string, string>) => (name: string) => h[name.toLowerCase()] ?? null;

describe('classifyResponse: a failed answer, whatever its body', () => {
  it("honours a 429's Retry-After on an HTML body, and says the body was not Graph JSON", () => {
    const err = classifyResponse({
      status: 429,
      header: headers({ 'retry-after': '7', 'content-type': 'text/html; charset=utf-8' }),
      body: '<html><body>Too many</body></html>',
    });
    assert.equal(err.kind, 'throttled');
    assert.equal(err.retryAfterMs, 7000);
    assert.equal(err.message, '429: a body that is not Graph JSON (text/html, 34 bytes)');
  });

  it("reads Graph's error JSON: code, message and request-id", () => {
    const body = JSON.stringify({ error: { code: 'Forbidden', message: 'no permission', innerError: { 'request-id': 'r-1' } } });
    const err = classifyResponse({ status: 403, header: headers({}), body });
    assert.deepEqual([err.kind, err.message, err.code, err.requestId], ['forbidden', '403 Forbidden: no permission', 'Forbidden', 'r-1']);
  });

  it('makes a 3xx a permanent failure naming the Location host, never a success', () => {
    const err = classifyResponse({ status: 302, header: headers({ location: 'https://login.evil.example/steal?x=1' }), body: '' });
    assert.equal(err.kind, 'permanent');
    assert.equal(err.message, '302: Graph answered with a redirect to Location host login.evil.example; redirects are never followed');
    assert.match(classifyResponse({ status: 307, header: headers({ location: '/beta/x' }), body: '' }).message, /relative Location/);
    assert.match(classifyResponse({ status: 301, header: headers({}), body: '' }).message, /no Location/);
  });
});

describe('capRetryAfter', () => {
  it('cuts at the configured cap and never beyond what a timer can wait', () => {
    assert.equal(capRetryAfter(undefined, 1000), undefined);
    assert.equal(capRetryAfter(500, 1000), 500);
    assert.equal(capRetryAfter(5000, 1000), 1000);
    assert.equal(capRetryAfter(2 ** 53, 2 ** 40), MAX_TIMER_MS);
  });
});

describe('decideAfterReadFailure: SYNC_MAX_RETRY_AFTER', () => {
  it('caps a 429 and a 503 Retry-After on reads', () => {
    const fresh = { transientFailures: 0, throttleStreak: 0, tokenRefreshed: false };
    assert.deepEqual(decideAfterReadFailure({ kind: 'throttled', retryAfterMs: 10 ** 12, message: '429' }, fresh, 0.5, 5, 60_000), {
      do: 'wait-out-throttle',
      waitMs: 60_000,
    });
    assert.deepEqual(decideAfterReadFailure({ kind: 'transient', retryAfterMs: 10 ** 12, message: '503' }, fresh, 0.5, 5, 60_000), {
      do: 'retry-soon',
      delayMs: 60_000,
      refreshToken: false,
      why: '503',
    });
    assert.deepEqual(
      decideAfterReadFailure({ kind: 'throttled', retryAfterMs: 2 ** 31, message: '429' }, fresh),
      { do: 'wait-out-throttle', waitMs: 600_000 },
      'the default cap is 10 minutes',
    );
  });
});

describe('pageProblem: nothing in a listing is dropped silently', () => {
  it('names a null item, an item without a string id, and a page over $top', () => {
    assert.equal(pageProblem([{ id: 'a' }, { id: 'b' }], 2), undefined);
    assert.equal(pageProblem([{ id: 'a' }, null], 10), 'item 2 is null');
    assert.equal(pageProblem([{ id: 7 }], 10), 'item 1 has no string id');
    assert.equal(pageProblem([{ userPrincipalName: 'x' }], undefined), 'item 1 has no string id');
    assert.equal(pageProblem(['a'], undefined), 'item 1 has no string id');
    assert.equal(pageProblem([{ id: '' }], undefined), 'item 1 has no string id');
    assert.equal(pageProblem([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2), 'holds 3 items, more than the 2 asked for ($top)');
  });
});

describe('fleet pauses: status and doctor', () => {
  it('pauseInForce: only a pause still ahead of now, and when it ends', () => {
    assert.equal(pauseInForce(undefined, 1_000_000), undefined);
    assert.equal(pauseInForce(999_000, 1_000_000), undefined);
    assert.deepEqual(pauseInForce(3_500_000, 1_000_000), { untilMs: 3_500, remainingMs: 2_500 });
  });

  it('judgeFleetPauses: ok without a pause, a warning naming each pause and its end otherwise', () => {
    assert.equal(judgeFleetPauses([]).result, 'ok');
    const held = judgeFleetPauses([{ tenant: 'default', budget: 'write', until: '2026-12-07T20:00:00.000Z', remainingMs: 41_200 }]);
    assert.equal(held.result, 'warn');
    assert.equal(held.name, 'fleet.pause');
    assert.equal(held.detail, "Graph's Retry-After pauses the fleet: tenant default writes until 2026-12-07T20:00:00.000Z (42 s left)");
  });
});

describe("pausedWithin: the fleet's pauses a row has lived through", () => {
  it('sums the stretches after the row was queued, the part of a stretch it saw, and a pause still to come', () => {
    assert.equal(pausedWithin([], 0), 0);
    assert.equal(pausedWithin(['100:200', '300:450'], 0), 250);
    assert.equal(pausedWithin(['100:200', '300:450'], 150), 200);
    assert.equal(pausedWithin(['100:200', '300:450'], 400), 50);
    assert.equal(pausedWithin(['100:200', 'junk', '300:x'], 0), 100);
  });
});

describe('SYNC_MAX_RETRY_AFTER', () => {
  it('is a duration, 10 minutes by default, refused when not one or longer than a timer can wait', () => {
    assert.equal(loadConfig({}).maxRetryAfterMs, 600_000);
    assert.equal(loadConfig({ SYNC_MAX_RETRY_AFTER: '90s' }).maxRetryAfterMs, 90_000);
    assert.equal(loadConfig({ SYNC_MAX_RETRY_AFTER: '2h' }).maxRetryAfterMs, 7_200_000);
    assert.throws(() => loadConfig({ SYNC_MAX_RETRY_AFTER: 'soon' }), /SYNC_MAX_RETRY_AFTER "soon" is not a positive duration/);
    assert.throws(() => loadConfig({ SYNC_MAX_RETRY_AFTER: '0s' }), /SYNC_MAX_RETRY_AFTER/);
    assert.throws(() => loadConfig({ SYNC_MAX_RETRY_AFTER: '30d' }), /longer than the 24 days a timer can wait/);
  });
});
