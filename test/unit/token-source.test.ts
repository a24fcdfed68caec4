import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RENEWAL, nextTokenStep, renewAtMs, type HeldToken } from '../../src/graph/token-renewal.js';

const MIN = 60_000;
const T0 = 1_800_000_000_000;
/** A token fetched at T0 that lives an hour, as Entra's usually do. */
const hour: HeldToken = { token: 't1', obtainedAtMs: T0, expiresAtMs: T0 + 60 * MIN };

describe('token renewal: when a cached token is used, renewed or waited for', () => {
  it('fetches when nothing is held, and uses a held token while it has more than 5 min left', () => {
    assert.equal(nextTokenStep({ fetching: false, forceRefresh: false, nowMs: T0 }), 'fetch');
    assert.equal(nextTokenStep({ held: hour, fetching: false, forceRefresh: false, nowMs: T0 + 1 }), 'use');
    assert.equal(nextTokenStep({ held: hour, fetching: false, forceRefresh: false, nowMs: T0 + 55 * MIN - 1 }), 'use');
  });

  it('renews 5 min before expiry, and of course once expired', () => {
    assert.equal(renewAtMs(hour), T0 + 55 * MIN);
    assert.equal(nextTokenStep({ held: hour, fetching: false, forceRefresh: false, nowMs: T0 + 55 * MIN }), 'fetch');
    assert.equal(nextTokenStep({ held: hour, fetching: false, forceRefresh: false, nowMs: T0 + 61 * MIN }), 'fetch');
  });

  it('renews a short-lived token at half its lifetime, so it is neither fetched on every call nor used once expired', () => {
    const short: HeldToken = { token: 's', obtainedAtMs: T0, expiresAtMs: T0 + 4 * MIN };
    assert.equal(renewAtMs(short), T0 + 2 * MIN);
    assert.equal(nextTokenStep({ held: short, fetching: false, forceRefresh: false, nowMs: T0 + 2 * MIN - 1 }), 'use');
    assert.equal(nextTokenStep({ held: short, fetching: false, forceRefresh: false, nowMs: T0 + 2 * MIN }), 'fetch');
  });

  it("follows Entra's refresh advice (refresh_in) when it comes earlier", () => {
    const advised: HeldToken = { ...hour, refreshAfterMs: T0 + 30 * MIN };
    assert.equal(renewAtMs(advised), T0 + 30 * MIN);
    assert.equal(nextTokenStep({ held: advised, fetching: false, forceRefresh: false, nowMs: T0 + 30 * MIN }), 'fetch');
    assert.equal(renewAtMs({ ...hour, refreshAfterMs: T0 + 58 * MIN }), T0 + 55 * MIN, 'never later than 5 min before expiry');
  });

  it('shares the fetch in flight: every caller joins it, forced or not, held token or not', () => {
    for (const forceRefresh of [false, true]) {
      assert.equal(nextTokenStep({ fetching: true, forceRefresh, nowMs: T0 }), 'join');
      assert.equal(nextTokenStep({ held: hour, fetching: true, forceRefresh, nowMs: T0 + 56 * MIN }), 'join');
    }
  });

  it(
    'a forced refresh (after a 401) fetches, unless another forced refresh fetched ' +
      'within the last 30 s: concurrent 401s make one fetch',
    () => {
      const at = T0 + 10 * MIN;
      assert.equal(nextTokenStep({ held: hour, fetching: false, forceRefresh: true, nowMs: at }), 'fetch');
      const fresh: HeldToken = { token: 't2', obtainedAtMs: at, expiresAtMs: at + 60 * MIN, forced: true };
      assert.equal(
        nextTokenStep({ held: fresh, fetching: false, forceRefresh: true, nowMs: at + DEFAULT_RENEWAL.forcedRefreshReuseMs - 1 }),
        'use',
      );
      assert.equal(
        nextTokenStep({ held: fresh, fetching: false, forceRefresh: true, nowMs: at + DEFAULT_RENEWAL.forcedRefreshReuseMs }),
        'fetch',
      );
    },
  );

  it('a token fetched in the ordinary way answers no 401, however recent: it may be the very token refused', () => {
    assert.equal(nextTokenStep({ held: hour, fetching: false, forceRefresh: true, nowMs: T0 + 1 }), 'fetch');
    assert.equal(nextTokenStep({ held: { ...hour, forced: false }, fetching: false, forceRefresh: true, nowMs: T0 + 1 }), 'fetch');
  });

  it('never reuses an expired token for a forced refresh, however recent', () => {
    const tiny: HeldToken = { token: 'x', obtainedAtMs: T0, expiresAtMs: T0 + 1_000, forced: true };
    assert.equal(nextTokenStep({ held: tiny, fetching: false, forceRefresh: true, nowMs: T0 + 1_000 }), 'fetch');
  });
});
