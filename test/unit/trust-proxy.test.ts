import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseTrustProxy } from '../../src/config.js';
import { fastifyTrustProxy, requestTimeouts } from '../../src/server/app.js';

describe('SYNC_TRUST_PROXY', () => {
  it('trusts no proxy unless told, and reads true, a hop count or addresses', () => {
    assert.equal(loadConfig({}).trustProxy, false);
    for (const off of [undefined, '', ' ', 'false', '0']) assert.equal(parseTrustProxy(off), false, String(off));
    assert.equal(parseTrustProxy('true'), true);
    assert.equal(parseTrustProxy('2'), 2);
    const list = parseTrustProxy('10.0.0.0/8, 127.0.0.1,::1,fd00::/8,loopback');
    assert.deepEqual(list, ['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8', 'loopback']);
    assert.deepEqual(loadConfig({ SYNC_TRUST_PROXY: '192.168.1.10' }).trustProxy, ['192.168.1.10']);
  });

  it('refuses what is not an address, a range, a name proxy-addr knows or a plausible hop count, without echoing much of it', () => {
    for (const bad of ['yes', '10.0.0.0/33', '::1/129', '10.0.0.1/8/8', '300.1.1.1', 'example.com', '1.2.3.4,', '<script>', '101']) {
      assert.throws(
        () => parseTrustProxy(bad),
        (err) => err instanceof ConfigError && /SYNC_TRUST_PROXY/.test(err.message),
        bad,
      );
    }
    assert.throws(
      () => parseTrustProxy('x'.repeat(10_000)),
      (err) => err instanceof ConfigError && err.message.length < 400,
    );
  });

  it('gives Fastify a hop count as "trust the first n hops"', () => {
    const trust = fastifyTrustProxy(2);
    assert.equal(typeof trust, 'function');
    const fn = trust as (address: string, hop: number) => boolean;
    assert.deepEqual(
      [0, 1, 2, 3].map((hop) => fn('10.0.0.1', hop)),
      [true, true, false, false],
    );
    assert.equal(fastifyTrustProxy(true), true);
    assert.deepEqual(fastifyTrustProxy(['127.0.0.1']), ['127.0.0.1']);
  });
});

describe('request timeouts', () => {
  it('never lets the headers timeout exceed the request timeout, and checks every quarter of it within 250 ms and 30 s', () => {
    assert.deepEqual(requestTimeouts(30_000), { requestTimeout: 30_000, headersTimeout: 30_000, connectionsCheckingInterval: 7500 });
    assert.deepEqual(requestTimeouts(1500), { requestTimeout: 1500, headersTimeout: 1500, connectionsCheckingInterval: 375 });
    assert.equal(requestTimeouts(100).connectionsCheckingInterval, 250);
    const hour = requestTimeouts(3_600_000);
    assert.deepEqual(hour, { requestTimeout: 3_600_000, headersTimeout: 60_000, connectionsCheckingInterval: 30_000 });
  });
});
