import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareWithGraph } from '../../src/domain/compare.js';
import { decideAfterReadFailure, READ_TRANSIENT_RETRIES, type ReadAttempts } from '../../src/pacing/read-decision.js';

describe('compareWithGraph: what Graph holds against what a row sets', () => {
  const graph = {
    id: 'u',
    status: 'compliant',
    devicesCount: 3,
    lastReportedDateTime: '2026-11-20T10:00:00Z',
    userDisplayName: 'Ann',
    userPrincipalName: null,
  };

  it('compares only the properties the row sets', () => {
    assert.deepEqual(compareWithGraph({ status: 'compliant' }, graph), { kind: 'equal' });
    assert.deepEqual(compareWithGraph({ devicesCount: 3, userDisplayName: 'Ann' }, { ...graph, status: 'error' }), { kind: 'equal' });
  });

  it('treats enum case and date-time offsets and fractional digits as Graph does', () => {
    assert.deepEqual(compareWithGraph({ status: 'nonCompliant' }, { status: 'NONCOMPLIANT' }), { kind: 'equal' });
    assert.deepEqual(compareWithGraph({ lastReportedDateTime: '2026-11-20T11:00:00+01:00' }, graph), { kind: 'equal' });
    assert.deepEqual(
      compareWithGraph({ lastReportedDateTime: '2026-11-20T10:00:00.5Z' }, { lastReportedDateTime: '2026-11-20T10:00:00.5000000Z' }),
      { kind: 'equal' },
    );
    assert.deepEqual(compareWithGraph({ lastReportedDateTime: '2026-11-20T10:00:00.0000001Z' }, graph), {
      kind: 'differs',
      properties: ['lastReportedDateTime'],
    });
    // Graph answers every date in UTC with seven fraction digits, whatever offset was written.
    assert.deepEqual(
      compareWithGraph({ lastReportedDateTime: '2026-11-20T12:00:05+02:00' }, { lastReportedDateTime: '2026-11-20T10:00:05.0000000Z' }),
      { kind: 'equal' },
    );
    assert.deepEqual(
      compareWithGraph({ lastReportedDateTime: '2026-11-20T12:00:05+02:00' }, { lastReportedDateTime: '2026-11-20T12:00:05.0000000Z' }),
      { kind: 'differs', properties: ['lastReportedDateTime'] },
    );
  });

  it('compares strings and numbers exactly, and names every differing property', () => {
    assert.deepEqual(compareWithGraph({ userDisplayName: 'ann', devicesCount: 4, status: 'compliant' }, graph), {
      kind: 'differs',
      properties: ['userDisplayName', 'devicesCount'],
    });
    assert.deepEqual(compareWithGraph({ devicesCount: 3 }, { devicesCount: '3' }), { kind: 'differs', properties: ['devicesCount'] });
    assert.deepEqual(
      compareWithGraph({ userPrincipalName: 'a@b' }, graph),
      { kind: 'differs', properties: ['userPrincipalName'] },
      'null in Graph differs from a value',
    );
  });

  it('counts a value Graph holds that is not a date-time as different, and an unlisted object as missing', () => {
    assert.deepEqual(compareWithGraph({ lastReportedDateTime: '2026-11-20T10:00:00Z' }, { lastReportedDateTime: 'yesterday' }), {
      kind: 'differs',
      properties: ['lastReportedDateTime'],
    });
    assert.deepEqual(compareWithGraph({ status: 'compliant' }, undefined), { kind: 'missing' });
  });
});

describe('decideAfterReadFailure: what a read does after Graph refused it', () => {
  const fresh: ReadAttempts = { transientFailures: 0, throttleStreak: 0, tokenRefreshed: false };

  it('waits out a 429 for its fractional Retry-After, however many came before, without using an attempt', () => {
    assert.deepEqual(
      decideAfterReadFailure(
        { kind: 'throttled', retryAfterMs: 1500, message: '429' },
        { ...fresh, throttleStreak: 40, transientFailures: READ_TRANSIENT_RETRIES },
      ),
      { do: 'wait-out-throttle', waitMs: 1500 },
    );
  });

  it('backs off exponentially on a 429 without Retry-After, capped at a minute', () => {
    assert.deepEqual(decideAfterReadFailure({ kind: 'throttled', message: '429' }, { ...fresh, throttleStreak: 2 }, 0.5), {
      do: 'wait-out-throttle',
      waitMs: 4000,
    });
    assert.deepEqual(decideAfterReadFailure({ kind: 'throttled', message: '429' }, { ...fresh, throttleStreak: 30 }, 0.5), {
      do: 'wait-out-throttle',
      waitMs: 60_000,
    });
  });

  it('refreshes the token once after a 401, then fails', () => {
    assert.deepEqual(decideAfterReadFailure({ kind: 'unauthorized', message: '401' }, fresh), {
      do: 'retry-soon',
      delayMs: 0,
      refreshToken: true,
      why: '401 from Graph: refreshing the token once',
    });
    const second = decideAfterReadFailure(
      { kind: 'unauthorized', message: '401 InvalidAuthenticationToken' },
      { ...fresh, tokenRefreshed: true },
    );
    assert.equal(second.do, 'fail');
    assert.match((second as { reason: string }).reason, /refreshed once/);
  });

  it('retries transient failures with back-off, honouring a 503 Retry-After, then gives up naming the count', () => {
    assert.deepEqual(decideAfterReadFailure({ kind: 'transient', message: 'network' }, { ...fresh, transientFailures: 1 }, 0.5), {
      do: 'retry-soon',
      delayMs: 500,
      refreshToken: false,
      why: 'network',
    });
    assert.deepEqual(decideAfterReadFailure({ kind: 'transient', retryAfterMs: 2000, message: '503' }, fresh), {
      do: 'retry-soon',
      delayMs: 2000,
      refreshToken: false,
      why: '503',
    });
    const last = decideAfterReadFailure(
      { kind: 'transient', message: '504 GatewayTimeout' },
      { ...fresh, transientFailures: READ_TRANSIENT_RETRIES },
    );
    assert.deepEqual(last, { do: 'fail', reason: `504 GatewayTimeout (still failing after ${READ_TRANSIENT_RETRIES + 1} reads)` });
  });

  it('fails at once on 403 (naming the read permissions) and on 404 or 400', () => {
    const forbidden = decideAfterReadFailure({ kind: 'forbidden', status: 403, message: '403 Forbidden' }, fresh);
    assert.equal(forbidden.do, 'fail');
    assert.match((forbidden as { reason: string }).reason, /Read\.All/);
    assert.deepEqual(decideAfterReadFailure({ kind: 'permanent', status: 404, message: '404 ResourceNotFound: gone' }, fresh), {
      do: 'fail',
      reason: '404 ResourceNotFound: gone',
    });
  });
});
