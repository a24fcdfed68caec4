import { deflateRawSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseDuration } from '../../src/config.js';
import { memoryAllowsQueueing, parseInfoMemory, isOutOfMemoryReply, RedisOutOfMemoryError } from '../../src/queue/memory.js';
import { compactOutcome, decodeChunkEntries, decodeChunkKeys, encodeChunkKeys, parseRow } from '../../src/results/store.js';
import { eventRunId } from '../../src/server/ingest.js';
import { runsByState } from '../../src/server/metrics.js';

describe('SYNC_RUN_RETENTION and durations', () => {
  it('reads 30d, 12h, 90m, 45s, 500ms and compounds such as 3d4h, and nothing else', () => {
    assert.equal(parseDuration('30d'), 30 * 86_400_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('90m'), 90 * 60_000);
    assert.equal(parseDuration('45s'), 45_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('0s'), 0);
    for (const bad of ['', '30', 'd', '1.5h', '-1d', '30 days', '1w', '99999999999999d', '4h3d'])
      assert.equal(parseDuration(bad), undefined, bad);
    // Issue 21: one parser everywhere takes compound durations (1h30m), largest unit first.
    assert.equal(parseDuration('3d4h'), 3 * 86_400_000 + 4 * 3_600_000);
  });
  it('defaults to 30 days and refuses a bad or zero value, naming the variable', () => {
    assert.equal(loadConfig({}).runRetentionMs, 30 * 86_400_000);
    assert.equal(loadConfig({ SYNC_RUN_RETENTION: '12h' }).runRetentionMs, 12 * 3_600_000);
    for (const bad of ['soon', '0d', '-3h'])
      assert.throws(
        () => loadConfig({ SYNC_RUN_RETENTION: bad }),
        (err: unknown) => err instanceof ConfigError && /SYNC_RUN_RETENTION/.test(err.message),
        bad,
      );
  });
  it('SYNC_REDIS_MEMORY_HIGH_WATER is a whole percent from 1 to 100, default 90', () => {
    assert.equal(loadConfig({}).memoryHighWaterPercent, 90);
    assert.equal(loadConfig({ SYNC_REDIS_MEMORY_HIGH_WATER: '100' }).memoryHighWaterPercent, 100);
    for (const bad of ['0', '101', '50.5', 'lots'])
      assert.throws(() => loadConfig({ SYNC_REDIS_MEMORY_HIGH_WATER: bad }), ConfigError, bad);
  });
});

describe('out-of-memory decisions', () => {
  it('producers stop at the high-water mark of maxmemory, never without a limit', () => {
    assert.equal(memoryAllowsQueueing({ usedBytes: 899, maxBytes: 1000 }, 90), true);
    assert.equal(memoryAllowsQueueing({ usedBytes: 900, maxBytes: 1000 }, 90), false);
    assert.equal(memoryAllowsQueueing({ usedBytes: 5000, maxBytes: 0 }, 90), true, 'no maxmemory: no limit');
    assert.equal(memoryAllowsQueueing({ usedBytes: 999, maxBytes: 1000 }, 100), true, '100: only Redis refuses');
  });
  it('reads INFO memory and recognises Redis’s OOM answer, also inside EXECABORT', () => {
    assert.deepEqual(parseInfoMemory('# Memory\r\nused_memory:123456\r\nused_memory_human:120K\r\nmaxmemory:8388608\r\n'), {
      usedBytes: 123456,
      maxBytes: 8388608,
    });
    assert.equal(isOutOfMemoryReply(new Error("OOM command not allowed when used memory > 'maxmemory'.")), true);
    assert.equal(
      isOutOfMemoryReply(new Error("EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.")),
      true,
    );
    assert.equal(isOutOfMemoryReply(new Error('ECONNREFUSED')), false);
    assert.equal(isOutOfMemoryReply(new RedisOutOfMemoryError(undefined)), true);
  });
});

describe('per-row layout', () => {
  const base = {
    line: 7,
    key: 'mobileAppConfiguration/cfg/u',
    fingerprint: 'f',
    version: 'v',
    generation: 0,
    attempts: 1,
    startedAt: 1,
    finishedAt: 2,
  };
  it('a succeeded row keeps what the report shows and a digest of Graph’s body', () => {
    const body = { '@odata.type': '#microsoft.graph.managedDeviceMobileAppConfigurationUserStatus', status: 'compliant' };
    const stored = compactOutcome({ ...base, state: 'succeeded', httpStatus: 200, requestId: 'req-1', response: body, record: undefined });
    assert.deepEqual(Object.keys(stored).sort(), ['attempts', 'finishedAt', 'httpStatus', 'key', 'requestId', 'responseSha256', 'state']);
    assert.match(String(stored.responseSha256), /^[0-9a-f]{16}$/);
    assert.notEqual(
      compactOutcome({ ...base, state: 'succeeded', response: { ...body, status: 'error' } }).responseSha256,
      stored.responseSha256,
    );
  });
  it('a succeeded row also keeps the values it set (for verify) and the client-request-id we sent', () => {
    const values = { status: 'compliant' as const, devicesCount: 2 };
    const stored = compactOutcome({ ...base, state: 'succeeded', httpStatus: 204, requestId: 'req-2', clientRequestId: 'c-1', values });
    assert.deepEqual(stored, {
      state: 'succeeded',
      key: base.key,
      httpStatus: 204,
      attempts: 1,
      requestId: 'req-2',
      clientRequestId: 'c-1',
      finishedAt: 2,
      values,
    });
  });
  it('chunk entries carry each row’s values and reconcile reason; blobs of the earlier layout still read', () => {
    const rows = [
      {
        line: 2,
        key: 'mobileAppConfiguration/c/u1',
        values: { status: 'compliant' as const, userDisplayName: 'tab\there' },
        reason: 'unchanged: Graph held these values when its state was read at 2026-11-28T00:00:00.000Z',
      },
      { line: 5, key: 'mobileAppConfiguration/c/u2', values: { devicesCount: 3 }, reason: '' },
    ];
    const entries = decodeChunkEntries(encodeChunkKeys(rows));
    assert.deepEqual(entries.get(2), rows[0]);
    assert.deepEqual(entries.get(5), { line: 5, key: rows[1].key, values: rows[1].values });
    assert.deepEqual(
      [...decodeChunkKeys(deflateRawSync('2\tk1\n3\tk2\n'))],
      [
        [2, 'k1'],
        [5, 'k2'],
      ],
    );
    assert.deepEqual(decodeChunkEntries(deflateRawSync('2\tk1\n')).get(2), { line: 2, key: 'k1' });
  });
  it('a failed row keeps what retry resends', () => {
    const record = {
      configurationType: 'mobileAppConfiguration' as const,
      configurationId: 'cfg',
      userStatusId: 'u',
      properties: { status: 'compliant' as const },
    };
    const stored = compactOutcome({ ...base, state: 'failed', httpStatus: 400, reason: 'bad', record });
    assert.deepEqual(stored, {
      key: base.key,
      state: 'failed',
      fingerprint: 'f',
      version: 'v',
      generation: 0,
      attempts: 1,
      finishedAt: 2,
      httpStatus: 400,
      reason: 'bad',
      record,
    });
  });
  it('a waiting row is "q|<generation>"; other rows, and rows of the earlier layout, are JSON', () => {
    assert.deepEqual(parseRow('q|3', 9), { line: 9, state: 'queued', generation: 3 });
    assert.deepEqual(parseRow('{"state":"succeeded","key":"k","httpStatus":200}', 4), {
      line: 4,
      state: 'succeeded',
      key: 'k',
      httpStatus: 200,
    });
    assert.deepEqual(parseRow('{"state":"queued","line":5,"key":"k","version":"v","generation":0}', 5), {
      line: 5,
      state: 'queued',
      key: 'k',
      version: 'v',
      generation: 0,
    });
  });
  it('chunk keys round-trip with their lines, gaps included, in far fewer bytes than the keys', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      line: 2 + i + (i > 500 ? 3 : 0),
      key: `mobileAppConfiguration/3f2c9a1e-0000-4000-a000-${String(i % 40).padStart(12, '0')}/user-${String(i * 7919).padStart(9, '0')}`,
    }));
    const blob = encodeChunkKeys(rows);
    assert.deepEqual(
      [...decodeChunkKeys(blob)],
      rows.map((r) => [r.line, r.key]),
    );
    assert.ok(blob.length < rows.reduce((n, r) => n + r.key.length, 0) / 4, `${blob.length} bytes`);
  });
});

describe('events and metrics', () => {
  it('events of one UTC hour share a run', () => {
    assert.equal(eventRunId(Date.UTC(2026, 10, 20, 10, 0, 0)), 'evt-20261120T10');
    assert.equal(eventRunId(Date.UTC(2026, 10, 20, 10, 59, 59, 999)), 'evt-20261120T10');
    assert.equal(eventRunId(Date.UTC(2026, 10, 20, 11, 0, 0)), 'evt-20261120T11');
  });
  it('runs by state come from the counters: running excludes blocked runs', () => {
    const rows = { rejected: 0, unchanged: 0, queued: 0, succeeded: 0, failed: 0, superseded: 0, cancelled: 0 };
    assert.deepEqual(
      runsByState({
        rows,
        rowsLeft: rows,
        runsOpen: 5,
        runsBlocked: 2,
        runsCompleted: 9,
        runsCompletedWithErrors: 1,
        runsCancelled: 4,
        throttledCount: 0,
        throttledMs: 0,
      }),
      {
        running: 3,
        blocked: 2,
        completed: 9,
        completed_with_errors: 1,
        cancelled: 4,
      },
    );
  });
});
