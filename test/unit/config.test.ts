import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseDuration, parseMilliseconds, parseRateLimit } from '../../src/config.js';
import { neutraliseCell } from '../../src/cli/report.js';

describe('parseRateLimit', () => {
  it('reads the documented forms', () => {
    assert.deepEqual(parseRateLimit('100/20s'), { limit: 100, windowMs: 20_000 });
    assert.deepEqual(parseRateLimit('5/s'), { limit: 5, windowMs: 1000 });
    assert.deepEqual(parseRateLimit('300/1m'), { limit: 300, windowMs: 60_000 });
    assert.deepEqual(parseRateLimit('20/500ms'), { limit: 20, windowMs: 500 });
    assert.throws(() => parseRateLimit('fast'), ConfigError);
    assert.throws(() => parseRateLimit('0/s'), ConfigError);
  });
});

describe('loadConfig', () => {
  it('defaults to the global cloud, beta and Intune’s per-app budget', () => {
    const c = loadConfig({});
    assert.equal(c.graphBaseUrl, 'https://graph.microsoft.com');
    assert.equal(c.apiVersion, 'beta');
    assert.deepEqual(c.rateLimit, { limit: 100, windowMs: 20_000 });
    assert.equal(c.credentials.kind, 'none');
  });
  it('picks hosts by cloud and lets GRAPH_BASE_URL override only the Graph host', () => {
    const c = loadConfig({ GRAPH_CLOUD: 'china', GRAPH_BASE_URL: 'http://127.0.0.1:9/' });
    assert.equal(c.graphBaseUrl, 'http://127.0.0.1:9');
    assert.equal(c.authorityHost, 'https://login.chinacloudapi.cn');
  });
  it("takes an empty GRAPH_BASE_URL (a compose file or .env line without a value) as unset: the cloud's Graph host", () => {
    assert.equal(loadConfig({ GRAPH_BASE_URL: '' }).graphBaseUrl, 'https://graph.microsoft.com');
    assert.equal(loadConfig({ GRAPH_BASE_URL: '', GRAPH_CLOUD: 'usgov' }).graphBaseUrl, 'https://graph.microsoft.us');
    assert.throws(() => loadConfig({ GRAPH_BASE_URL: 'not a url' }), /GRAPH_BASE_URL/);
  });

  it('never echoes a secret in a config error', () => {
    try {
      loadConfig({ AZURE_CLIENT_SECRET: 'hunter2', GRAPH_CLOUD: 'mars' });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /GRAPH_CLOUD/);
      assert.doesNotMatch(err.message, /hunter2/);
    }
  });
  it('prefers GRAPH_ACCESS_TOKEN, else client secret credentials', () => {
    assert.equal(
      loadConfig({ GRAPH_ACCESS_TOKEN: 't', AZURE_TENANT_ID: 'a', AZURE_CLIENT_ID: 'b', AZURE_CLIENT_SECRET: 'c' }).credentials.kind,
      'accessToken',
    );
    assert.equal(loadConfig({ AZURE_TENANT_ID: 'a', AZURE_CLIENT_ID: 'b', AZURE_CLIENT_SECRET: 'c' }).credentials.kind, 'clientSecret');
  });
});

describe('neutraliseCell', () => {
  it('defuses spreadsheet formulas', () => {
    for (const v of ['=1+1', '+SUM(A1)', '-2', '@cmd', '\tx']) assert.equal(neutraliseCell(v), `'${v}`);
    assert.equal(neutraliseCell('plain'), 'plain');
  });
});

describe('read budget and snapshot age', () => {
  it("default to 800 reads per 20 s (inside Graph's 1,000 requests of any kind, leaving the writes their 100) and 15 minutes", () => {
    const c = loadConfig({});
    assert.deepEqual(c.readRateLimit, { limit: 800, windowMs: 20_000 });
    assert.equal(c.snapshotMaxAgeMs, 15 * 60_000);
  });
  it('read SYNC_READ_RATE_LIMIT and SYNC_SNAPSHOT_MAX_AGE in their documented forms', () => {
    const c = loadConfig({ SYNC_READ_RATE_LIMIT: '40/s', SYNC_SNAPSHOT_MAX_AGE: '1h' });
    assert.deepEqual(c.readRateLimit, { limit: 40, windowMs: 1000 });
    assert.equal(c.snapshotMaxAgeMs, 3_600_000);
    assert.equal(loadConfig({ SYNC_SNAPSHOT_MAX_AGE: '2500' }).snapshotMaxAgeMs, 2500);
    assert.equal(loadConfig({ SYNC_SNAPSHOT_MAX_AGE: '90s' }).snapshotMaxAgeMs, 90_000);
  });
  it('refuse bad values naming the variable', () => {
    assert.throws(
      () => loadConfig({ SYNC_READ_RATE_LIMIT: 'lots' }),
      (e: Error) => e instanceof ConfigError && /SYNC_READ_RATE_LIMIT/.test(e.message),
    );
    for (const bad of ['0', '-5m', 'soon', '10 parsecs', '0.1ms']) {
      assert.throws(
        () => loadConfig({ SYNC_SNAPSHOT_MAX_AGE: bad }),
        (e: Error) => e instanceof ConfigError && /SYNC_SNAPSHOT_MAX_AGE/.test(e.message),
        bad,
      );
    }
  });
});

describe('parseDuration: the one duration parser', () => {
  it('reads one unit or several, largest first', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('2d12h'), 60 * 3_600_000);
    assert.equal(parseDuration('1m30s500ms'), 90_500);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('0s'), 0);
    assert.equal(parseDuration(' 1h 30m '), 5_400_000);
  });
  it('refuses what is not a duration', () => {
    for (const text of ['', '90', 'soon', '1.5h', '30m1h', '1h1h', 'h', '-5m', '5 minutes', '1h30'])
      assert.equal(parseDuration(text), undefined, text);
  });
  it('a _MS setting takes plain milliseconds or a duration', () => {
    assert.equal(parseMilliseconds('30000'), 30_000);
    assert.equal(parseMilliseconds('30s'), 30_000);
    assert.equal(parseMilliseconds('fast'), undefined);
    const config = loadConfig({
      GRAPH_ACCESS_TOKEN: 't',
      SYNC_MAX_ROW_AGE_MS: '1h30m',
      SYNC_REQUEST_TIMEOUT_MS: '45000',
      SYNC_REDIS_COMMAND_TIMEOUT_MS: '5s',
    });
    assert.equal(config.maxRowAgeMs, 5_400_000);
    assert.equal(config.requestTimeoutMs, 45_000);
    assert.equal(config.redisCommandTimeoutMs, 5000);
    assert.throws(() => loadConfig({ GRAPH_ACCESS_TOKEN: 't', SYNC_MAX_ROW_AGE_MS: 'later' }), /SYNC_MAX_ROW_AGE_MS/);
    assert.throws(() => loadConfig({ GRAPH_ACCESS_TOKEN: 't', SYNC_REQUEST_TIMEOUT_MS: '0' }), /SYNC_REQUEST_TIMEOUT_MS/);
  });
});
