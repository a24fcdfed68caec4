/**
 * Helpers shared by the fleet-*.test.ts files: queue rows in-process (no CLI start-up per test)
 * and check that every row ended exactly once, both in our results and in the simulator.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RedisClient, RowResult, RunStatus } from '../../src/interfaces.js';
import { importRun } from '../../src/producer/import-run.js';
import { createPatchQueue } from '../../src/queue/queues.js';
import { redisKeys } from '../../src/redis-layout.js';
import { parseRow, ResultStore } from '../../src/results/store.js';
import type { GraphSimulator } from '../../src/simulator/index.js';
import { readCsv } from '../../src/sources/csv.js';
import { HEADER, seededValidRows, simKey, type TestEnv } from '../support/harness.js';

/**
 * Seeds the user statuses (Graph's PATCH never creates), then validates and queues `count` rows built by validRows
 * (CSV line n + 2 is row n), returning the run id.
 */
export async function queueRows(
  t: Pick<TestEnv, 'redis' | 'prefix' | 'sim'>,
  count: number,
  options: { configs?: number } = {},
): Promise<string> {
  const { redis, prefix } = t;
  const runId = `fleet-${randomBytes(4).toString('hex')}`;
  const csv = [HEADER, ...seededValidRows(t.sim, count, options)].join('\n') + '\n';
  const queue = createPatchQueue(redis, prefix);
  try {
    const summary = await importRun(new ResultStore(redis, prefix), queue, {
      runId,
      rows: readCsv(Readable.from([csv])),
      sourceLabel: 'fleet test',
    });
    assert.equal(summary.enqueued, count, `all ${count} rows should be queued: ${JSON.stringify(summary)}`);
  } finally {
    await queue.close();
  }
  return runId;
}

export async function rowsOf(redis: RedisClient, prefix: string, runId: string): Promise<Map<number, RowResult>> {
  const all = await redis.hgetall(redisKeys(prefix).rows(runId));
  return new Map(Object.entries(all).map(([line, text]) => [Number(line), parseRow(text, Number(line))]));
}

/**
 * The run's counters, its row hash (one entry per line, each `succeeded`) and the simulator's store
 * (one object per row, holding the row's values) must all agree.
 */
export async function assertAllSucceededOnce(
  redis: RedisClient,
  prefix: string,
  sim: GraphSimulator,
  runId: string,
  status: RunStatus,
  count: number,
): Promise<void> {
  assert.equal(status.state, 'completed', JSON.stringify(status));
  assert.equal(status.succeeded, count);
  assert.equal(status.failed, 0);
  assert.equal(status.pending, 0);
  assert.equal(status.accepted, count);
  const rows = await rowsOf(redis, prefix, runId);
  assert.equal(rows.size, count, 'one row entry per input line');
  const notSucceeded = [...rows.values()].filter((r) => r.state !== 'succeeded');
  assert.deepEqual(notSucceeded, [], 'every row succeeded');
  for (let n = 0; n < count; n++) assert.ok(rows.has(n + 2), `line ${n + 2} is recorded`);

  const state = sim.state();
  assert.equal(Object.keys(state).length, count, 'the simulator holds one object per row');
  for (let n = 0; n < count; n++) {
    const stored = state[simKey(n)];
    assert.ok(stored, `the simulator holds row ${n}`);
    assert.equal(stored.userPrincipalName, `user${n}@contoso.example`);
    assert.equal(stored.devicesCount, n % 5);
  }
}

/** 429 answers and all PATCH requests the simulator saw. */
export function throttleShare(sim: GraphSimulator): { requests: number; throttled: number; share: number } {
  const c = sim.counters();
  const throttled = c.byStatus['429'] ?? 0;
  return { requests: c.requests, throttled, share: c.requests === 0 ? 0 : throttled / c.requests };
}

/** The most PATCH requests the simulator received within any `windowMs` (sliding), from its request log. */
export function peakRequests(sim: GraphSimulator, windowMs: number): number {
  const times = sim
    .requestLog()
    .filter((e) => e.method === 'PATCH')
    .map((e) => e.at)
    .sort((a, b) => a - b);
  let peak = 0;
  for (let start = 0, end = 0; end < times.length; end++) {
    while (times[end] - times[start] >= windowMs) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return peak;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
